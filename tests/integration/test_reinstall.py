"""Bare-metal reinstall, end to end: a VM with a known MAC network-boots from the project's own
DHCP configuration, TFTP tree and frontend inside a private network namespace, installs (with the
stand-in installer of scripts/e2e-assets.sh), reports finished, and boots the local disk after;
`rocks set host boot <node> action=install` then reinstalls it on the next power-on.

Every CI run: BIOS (SeaBIOS) with ISC dhcpd and pxelinux (qemu's BIOS boot ROM is iPXE; the
pxelinux flavour hands it pxelinux.0, which reads the host's pxelinux.cfg file by TFTP), and UEFI
(OVMF's own PXE, no option ROM) + GRUB with Kea (GRUB's fall-back grub.cfg chains to the host's
file by MAC).
ROCKS_E2E_MATRIX=1 adds e1000, the other DHCP server per firmware, iPXE loaders and two nodes.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import optional_unless
from tests.integration.cluster import NODES, NOT_ASKED, ROCKS, Cluster, Node, build_cluster
from tests.integration.conftest import matrix_enabled
from tests.integration.netlab import SERVER, Boot, Lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOOT_TIMEOUT = float(os.environ.get("ROCKS_E2E_BOOT_TIMEOUT", "240"))
FRONTEND = f"http://{SERVER}:8080"
E2E_TOKEN = "e2e-admin-token-0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Variant:
    id: str
    firmware: str  # bios | uefi
    nic: str  # virtio | e1000
    dhcp: str  # isc | kea
    bios_loader: str = "pxelinux"
    uefi_loader: str = "grub"
    nodes: int = 1
    kea_hosts: str = "file"  # database: Kea's PostgreSQL host backend (rocks/dhcpdb.py)


EVERY_RUN = (
    Variant("bios-isc", "bios", "virtio", "isc"),
    Variant("uefi-grub-kea", "uefi", "virtio", "kea", kea_hosts="database"),
)
MATRIX = (
    Variant("bios-kea-e1000", "bios", "e1000", "kea"),
    Variant("uefi-grub-isc", "uefi", "virtio", "isc"),
    Variant("bios-ipxe-isc", "bios", "virtio", "isc", bios_loader="ipxe"),
    Variant("uefi-ipxe-kea", "uefi", "virtio", "kea", uefi_loader="ipxe"),
    Variant("bios-isc-two-nodes", "bios", "virtio", "isc", nodes=2),
)
_wide = optional_unless(matrix_enabled(), "wide-matrix", "wider matrix: set ROCKS_E2E_MATRIX=1")
PARAMS = [pytest.param(v, id=v.id) for v in EVERY_RUN] + [
    pytest.param(v, id=v.id, marks=_wide) for v in MATRIX]


def _start_servers(lab: Lab, c: Cluster, v: Variant, work: Path) -> None:
    lab.start("dnsmasq-tftp", [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
        "--interface=br0", "--bind-interfaces", "--except-interface=lo",
        # root: the test's directories are private to root (dnsmasq would serve as nobody)
        "--user=root", "--enable-tftp", f"--tftp-root={c.tftp}", f"--pid-file={work}/dnsmasq.pid",
        # IPv6 router advertisements only (no DHCP from dnsmasq): iPXE stops waiting for them
        "--enable-ra", "--dhcp-range=::,constructor:br0,ra-only,64",
        "--log-facility=-"])
    if v.dhcp == "isc":
        leases = work / "dhcpd.leases"
        leases.touch()
        lab.start("dhcpd", ["dhcpd", "-4", "-f", "-d", "-cf", str(c.root / "etc/dhcp/dhcpd.conf"),
                            "-lf", str(leases), "-pf", str(work / "dhcpd.pid"), "br0"])
    else:
        conf = json.loads((c.root / "etc/kea/kea-dhcp4.conf").read_text())
        assert conf["Dhcp4"]["interfaces-config"]["interfaces"] == ["br0"], conf
        # database: the VM's fixed address comes from Kea's PostgreSQL host backend
        assert ("hosts-database" in conf["Dhcp4"]) == (v.kea_hosts == "database"), conf
        assert any(s["reservations"] for s in conf["Dhcp4"]["subnet4"]) == (v.kea_hosts == "file")
        # the only change: the lease file lives in the test's directory, not /var/lib/kea
        conf["Dhcp4"]["lease-database"]["name"] = str(work / "kea-leases4.csv")
        run_conf = work / "kea-dhcp4.conf"
        run_conf.write_text(json.dumps(conf, indent=1))
        env = dict(os.environ, KEA_PIDFILE_DIR=str(work), KEA_LOCKFILE_DIR=str(work))
        check = lab.run("kea-dhcp4", "-t", str(run_conf), env=env)
        assert check.returncode == 0, check.stdout + check.stderr
        lab.start("kea", ["kea-dhcp4", "-c", str(run_conf)], env=env)
    fe = lab.start("frontend", [str(ROCKS), "start", "frontend", f"host={SERVER}",
                                "port=8080"], env={**c.env, "ROCKS_API_TOKEN": E2E_TOKEN})
    lab.wait_http(f"{FRONTEND}/login", fe)  # off loopback every other page needs the token


def _kea_database_site() -> tuple[str, str]:
    """An empty PostgreSQL inventory reached by its socket (the frontend and Kea run in the
    namespace, where the server's 127.0.0.1 is not reachable): rocks' URL and Kea's."""
    import psycopg

    from tests.conftest import optional_skip

    if not os.environ.get("ROCKS_TEST_POSTGRES_URL"):
        optional_skip("no-postgres", "the Kea variant keeps its reservations in PostgreSQL")
    from tests.cli.inventory_fixtures import _empty_pg, _pg_database

    url = _pg_database()
    _empty_pg(url)
    with psycopg.connect(url) as conn:
        sock = str(conn.execute("SHOW unix_socket_directories").fetchone()[0]).split(",")[0]
        port = conn.execute("SHOW port").fetchone()[0]
    head, _, name = url.rpartition("/")
    user = head.split("://", 1)[1].split("@", 1)[0]
    where = f"/{name}?host={sock.strip()}&port={port}"
    return f"postgresql://{user}@{where}", f"postgresql://kea@{where}"


def _fail(msg: str, boot: Boot | None, lab: Lab) -> None:
    parts = [msg]
    if boot is not None:
        tail = "\n".join(boot.serial.splitlines()[-150:])
        parts.append(f"--- serial log (last 150 lines, {boot.seconds:.1f} s) ---\n{tail}")
    for proc in lab.procs:
        if not proc.name.startswith("qemu"):
            parts.append(f"--- {proc.name} ---\n{proc.tail(25)}")
    pytest.fail("\n".join(parts), pytrace=False)


def _wait_frontend_sees(lab: Lab, c: Cluster, node: Node, boot: str) -> None:
    """The frontend re-reads the inventory about once a second: wait until it has."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = lab.run("curl", "-fsS", "--max-time", "2", "-H",
                    f"Authorization: Bearer {E2E_TOKEN}", f"{FRONTEND}/status.json")
        if r.returncode == 0 and re.search(
                rf'"name":\s*"{node.name}".*?"boot":\s*"{boot}"', r.stdout, re.S):
            return
        time.sleep(0.3)
    raise AssertionError(f"frontend never showed {node.name} boot={boot}")


def _check_install(lab: Lab, c: Cluster, v: Variant, node: Node, boot: Boot, token: str,
                   wanted: set[str]) -> None:
    s = boot.serial
    if "Booting `local disk'" in s and "ROCKS-STANDIN" not in s:
        _fail(f"{node.name}: GRUB booted the local disk instead of the host's install entry",
              boot, lab)
    if boot.timed_out:
        _fail(f"{node.name}: no power-off within {BOOT_TIMEOUT:.0f} s", boot, lab)
    if "ROCKS-STANDIN: result ok" not in s:
        _fail(f"{node.name}: the stand-in installer did not finish ok", boot, lab)
    if v.firmware == "bios" and v.bios_loader == "pxelinux":
        assert "PXELINUX" in s, "the BIOS boot did not go through pxelinux"
    if v.firmware == "uefi" and v.uefi_loader == "grub":
        assert f"Booting `{node.name} install'" in s, "GRUB did not boot the host's own entry"
    cmdline = re.search(r"ROCKS-STANDIN: cmdline ks=(\S+) sendmac=(\S+)", s)
    assert cmdline, s
    assert cmdline.group(1) == f"{FRONTEND}/install/kickstart?token={token}", cmdline.group(1)
    assert cmdline.group(2) == "yes"
    assert f"ROCKS-STANDIN: dhcp eth0 mac={node.mac} ip={node.ip} host={node.name}" in s
    assert f"bytes for host={node.name}.local" in s, "fetched another host's kickstart"
    assert f"ROCKS-STANDIN: url {FRONTEND}/install/distro" in s
    assert "ROCKS-STANDIN: group core: 2 packages" in s
    fetched = set(re.findall(r"ROCKS-STANDIN: fetched (\S+) \d+", s))
    assert fetched == wanted, (sorted(fetched - wanted), sorted(wanted - fetched))
    assert not fetched & ({"e2e-core-optional"} | set(NOT_ASKED))
    events = re.findall(r"ROCKS-STANDIN: event (\w+) (\S+)", s)
    assert events == [("pre", "ok"), ("post", "ok"), ("post", "ok")], events
    # the frontend's view: finished, boot action os, the boot files boot the local disk
    row = c.install_row(node)
    assert row[:2] == [node.name, "finished"], row
    assert c.boot_state(node) == "os"
    if v.firmware == "bios" or v.uefi_loader != "grub":
        # qemu's NIC boot ROM is iPXE: the generated DHCP configuration sends it to the
        # frontend's per-MAC iPXE script, which must now boot the local disk
        # asked from the node's own address (the VM is off: borrow it on the bridge), as the
        # node's iPXE asks; from any other address the answer is an unknown machine's
        assert lab.run("ip", "addr", "add", f"{node.ip}/32", "dev", "br0").returncode == 0
        try:
            r = lab.run("curl", "-fsS", "--max-time", "5", "--interface", node.ip,
                        f"{FRONTEND}/boot/ipxe?mac={node.mac.replace(':', '-')}")
        finally:
            lab.run("ip", "addr", "del", f"{node.ip}/32", "dev", "br0")
        assert r.returncode == 0, r.stderr
        assert "# rocks: default" not in r.stdout, r.stdout  # the host's own script
        assert r.stdout.startswith("#!ipxe") and "\nexit" in r.stdout, r.stdout
        assert "inst.ks" not in r.stdout, r.stdout
    files = c.boot_files(node)
    assert not any(f"token={token}" in text for text in files.values()), (
        f"{node.name} finished but its boot files still carry the spent token")
    # a host booting its disk has either its own local-boot file or none (then the loader
    # falls back to the default file, which must boot the local disk too)
    defaults = {"pxelinux": c.tftp / "pxelinux.cfg/default", "grub": c.tftp / "grub/grub.cfg"}
    local = {"pxelinux": "LOCALBOOT 0", "grub": "  exit\n"}
    for kind, on in (("pxelinux", v.bios_loader == "pxelinux"), ("grub", v.uefi_loader == "grub")):
        if not on:
            continue
        text = files.get(kind) or defaults[kind].read_text()
        assert local[kind] in text and "inst.ks" not in text, (
            f"{node.name} finished but its {kind} configuration does not boot the disk:\n{text}")


@pytest.mark.parametrize("variant", PARAMS)
def test_reinstall(variant: Variant, assets: tuple[Path, Path], tmp_path: Path) -> None:
    v = variant
    kernel, initrd = assets
    nodes = NODES[: v.nodes]
    url, kea = _kea_database_site() if v.kea_hosts == "database" else ("", "")
    c, wanted = build_cluster(tmp_path / "state", kernel, initrd, dhcp=v.dhcp,
                              bios_loader=v.bios_loader, uefi_loader=v.uefi_loader, nodes=nodes,
                              database_url=url)
    if url:  # reservations in the database: `rocks sync config` sets Kea's schema up
        for attr, value in (("sync_kea_hosts", "database"), ("sync_kea_database", kea),
                            ("sync_dhcp_interfaces", "br0")):
            c.rocks("set", "attr", attr, value)
        c.rocks("sync", "config")
    for node in nodes:
        c.rocks("set", "host", "boot", node.name, "action=install")
    c.sync("br0" if v.dhcp == "kea" else None)
    work = tmp_path / "run"
    work.mkdir()
    with Lab(f"rocks-e2e-{os.getpid()}", work, taps=len(nodes)) as lab:
        _start_servers(lab, c, v, work)
        seen_tokens: set[str] = set()
        for round_ in (1, 2):
            tokens = {n.name: c.token(n) for n in nodes}
            assert not seen_tokens & set(tokens.values()), "a token was issued twice"
            seen_tokens |= set(tokens.values())
            for node in nodes:
                _wait_frontend_sees(lab, c, node, "install")

            def power_on(i: int, node: Node, r: int = round_) -> Boot:
                return lab.boot(firmware=v.firmware, nic=v.nic, mac=node.mac, tap=i,
                                label=f"{node.name}-{r}", timeout=BOOT_TIMEOUT)

            with ThreadPoolExecutor(len(nodes)) as pool:
                boots = list(pool.map(power_on, range(len(nodes)), nodes))
            for node, boot in zip(nodes, boots, strict=True):
                print(f"{v.id} round {round_} {node.name}: powered off after "
                      f"{boot.seconds:.1f} s")
                _check_install(lab, c, v, node, boot, tokens[node.name], wanted)
            if round_ == 1:
                for node in nodes:
                    c.rocks("set", "host", "boot", node.name, "action=install")
