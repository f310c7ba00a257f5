"""The node comes back as described: bare-metal installs and reinstalls, end to end, with the
kickstart executed and the installed system booted and operated.

A diskful qemu VM (TCG) with a known MAC network-boots from the project's own DHCP
configuration, TFTP tree and `rocks start frontend` in a private network namespace; the test
installer (rocks.installer, images from scripts/e2e_assets.py) executes the served kickstart:
%pre, Rocks' partition rules on the VM's disk, %packages with dnf from the distribution (the test
OS roll), the system files, the boot loader and %post. The frontend flips the host to `os`, the
VM reboots from its disk (pxelinux LOCALBOOT / GRUB chaining the disk's EFI loader, then
extlinux / GRUB on the disk), the installed system reports `up`, `rocks list host status` sees
its sshd, and `rocks run host` logs in with the cluster key the kickstart installed. Then:

  1. a file written to /state/partition1 survives `rocks set host boot … action=install` and
     the reinstall, while the OS files are new;
  2. with `nukedisks=yes` the next reinstall wipes it; that install also carries a roll with a
     deliberately broken %post, which must make the install check fail naming its node file
     and line.

Every CI run: BIOS (SeaBIOS + pxelinux, ISC dhcpd) and UEFI (OVMF's PXE + GRUB, Kea), the two
loops at once (one VM per core). ROCKS_E2E_MATRIX=1 adds e1000, the other DHCP server per
firmware and the BIOS iPXE loader, one loop each (UEFI with iPXE cannot boot its disk: see
MATRIX). On failure the serial console is attached.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import optional_unless
from tests.integration.cluster import NODES, ROCKS, Assets, Cluster, Node, SiteRoll, build_cluster
from tests.integration.conftest import matrix_enabled
from tests.integration.netlab import SERVER, Lab, Vm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PHASE_TIMEOUT = float(os.environ.get("ROCKS_E2E_BOOT_TIMEOUT", "600"))
FRONTEND = f"http://{SERVER}:8080"
E2E_TOKEN = "e2e-admin-token-0123456789abcdef"

# A site roll: every install appends a line to the data partition, so a kept partition shows
# the installs it lived through.
DATA_ROLL = SiteRoll("e2e-data", {"e2e-data": """<?xml version="1.0"?>
<kickstart>
<post>
echo "&hostname; installed $(date -u '+%F %T')" >> &data_mount;/installs.log
</post>
</kickstart>
"""}, (("compute", "e2e-data"),))
BROKEN_ROLL = SiteRoll("e2e-broken", {"e2e-broken": """<?xml version="1.0"?>
<kickstart>
<!-- fails on purpose: the boot test must name this file and line -->
<post>
echo "about to fail on purpose"
ls /no/such/directory
exit 3
</post>
</kickstart>
"""}, (("compute", "e2e-broken"),))


@dataclass(frozen=True, slots=True)
class Variant:
    id: str
    firmware: str  # bios | uefi
    nic: str  # virtio | e1000
    dhcp: str  # isc | kea
    bios_loader: str = "pxelinux"
    uefi_loader: str = "grub"
    kea_hosts: str = "file"  # database: Kea's PostgreSQL host backend (rocks/dhcpdb.py)


EVERY_RUN = (
    Variant("bios-isc", "bios", "virtio", "isc"),
    Variant("uefi-grub-kea", "uefi", "virtio", "kea", kea_hosts="database"),
)
# Not in the loop: UEFI with the iPXE loader (sync_uefi_loader=ipxe). After the install the
# host's iPXE script `exit`s, and OVMF with Debian's iPXE (1.0.0+git-20190125) never reaches the
# disk (it stays in iPXE after "No more network devices"); GRUB chains the disk's loader
# instead (rocks/sync/pxe.py GRUB_LOCAL).
MATRIX = (
    Variant("bios-kea-e1000", "bios", "e1000", "kea"),
    Variant("uefi-grub-isc", "uefi", "virtio", "isc"),
    Variant("bios-ipxe-isc", "bios", "virtio", "isc", bios_loader="ipxe"),
)


class LoopFailure(AssertionError):
    pass


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


def script_failures(c: Cluster, node: Node, since: int) -> list[str]:
    """Messages of the scripts the installer reported failed, in events after index `since`."""
    return [m for stage, m in c.events(node)[since:] if m.startswith("script failed: ")]


def check_scripts(c: Cluster, node: Node, since: int) -> None:
    """The install check every round makes: no %pre/%post failed (each named with its node
    file and line, as the installer reported it)."""
    failed = script_failures(c, node, since)
    if failed:
        raise LoopFailure(f"{node.name}: {len(failed)} kickstart script(s) failed:\n  "
                          + "\n  ".join(failed))


@dataclass
class Loop:
    """One node's whole loop in its own lab."""

    v: Variant
    assets: Assets
    tmp: Path
    node: Node = NODES[0]
    timings: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    c: Cluster | None = None
    vm: Vm | None = None
    lab: Lab | None = None
    round: int = 0

    def say(self, text: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {self.v.id}: {text}")

    def timed(self, name: str, fn: Callable[[], object]) -> object:
        t0 = time.monotonic()
        try:
            return fn()
        finally:
            self.timings[name] = round(time.monotonic() - t0, 1)
            self.say(f"{name}: {self.timings[name]} s")

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        v, node = self.v, self.node
        data = DATA_ROLL.write(self.tmp / "rolls")
        url, kea = _kea_database_site() if v.kea_hosts == "database" else ("", "")
        self.c = c = build_cluster(self.tmp / "state", self.assets, dhcp=v.dhcp,
                                   bios_loader=v.bios_loader, uefi_loader=v.uefi_loader,
                                   nodes=(node,), rolls=(data,), database_url=url)
        if url:  # reservations in the database: `rocks sync config` sets Kea's schema up
            for attr, value in (("sync_kea_hosts", "database"), ("sync_kea_database", kea),
                                ("sync_dhcp_interfaces", "br0")):
                c.rocks("set", "attr", attr, value)
            c.rocks("sync", "config")
        c.rocks("add", "roll", str(BROKEN_ROLL.write(self.tmp / "rolls")))
        c.rocks("set", "host", "boot", node.name, "action=install")
        c.sync("br0" if v.dhcp == "kea" else None)
        work = self.tmp / "run"
        work.mkdir()
        with Lab(f"rocks-e2e-{v.id[:8]}-{os.getpid()}", work) as lab:
            self.lab = lab
            _start_servers(lab, c, v, work)
            self.wait_frontend("install")
            self.vm = lab.vm(firmware=v.firmware, nic=v.nic, mac=node.mac,
                             label=f"{node.name}-{v.id}")
            # 1. first install: a new layout, then the installed system, operated
            self.timed("install 1", lambda: self.install("new"))
            self.timed("boot 1", self.booted)
            first = self.check_operated(installs=1, layout="new layout")
            self.ssh("echo kept > /state/partition1/kept-file; echo old > /root/old-os-file")
            # 2. reinstall: the data partition and its file stay, the OS files are new
            self.reinstall()
            self.timed("install 2", lambda: self.install("keep"))
            self.timed("boot 2", self.booted)
            second = self.check_operated(installs=2, layout="earlier layout found")
            out = self.ssh("cat /state/partition1/kept-file; ls /root")
            assert "kept" in out and "old-os-file" not in out, out
            assert second != first, "/etc/rocks-release did not change: the OS was not new"
            # 3. nukedisks: the next reinstall wipes the disk; a broken %post rides along
            c.rocks("set", "host", "attr", node.name, "nukedisks", "yes")
            c.rocks("enable", "roll", "e2e-broken")
            self.reinstall()
            self.timed("install 3", lambda: self.install("new", broken=True))
            self.timed("boot 3", self.booted)
            self.check_operated(installs=1, layout="nukedisks is set")
            out = self.ssh("ls /state/partition1")
            assert "kept-file" not in out, out
            self.vm.stop()

    # -- phases --------------------------------------------------------------------------------
    def wait(self, pattern: str, what: str, fail: tuple[str, ...] = ()) -> re.Match[str]:
        """Wait for the console to show `pattern`; the time it took is recorded as `what`."""
        assert self.vm is not None
        t0 = time.monotonic()
        m = self.vm.wait_for(pattern, PHASE_TIMEOUT, fail=fail)
        self.timings[f"{self.round}: {what}"] = round(time.monotonic() - t0, 1)
        return m

    def wait_frontend(self, boot: str, timeout: float = 30) -> None:
        """The frontend re-reads the inventory about once a second: wait until it has."""
        assert self.lab is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.lab.run("curl", "-fsS", "--max-time", "2", "-H",
                             f"Authorization: Bearer {E2E_TOKEN}", f"{FRONTEND}/status.json")
            if r.returncode == 0 and re.search(
                    rf'"name":\s*"{self.node.name}".*?"boot":\s*"{boot}"', r.stdout, re.S):
                return
            time.sleep(0.3)
        raise LoopFailure(f"frontend never showed {self.node.name} boot={boot}")

    def install(self, layout: str, broken: bool = False) -> None:
        """From power-on (or reboot) to the installer's reboot: the kickstart executed."""
        assert self.vm is not None and self.c is not None
        self.round += 1
        vm, c, node, v = self.vm, self.c, self.node, self.v
        events_before = len(c.events(node))
        ipxe = (v.bios_loader if v.firmware == "bios" else v.uefi_loader) == "ipxe"
        token = None if ipxe else c.token(node)
        self.wait(r"ROCKS-INSTALLER: stage1 at", "network boot")
        if v.firmware == "bios" and v.bios_loader == "pxelinux":
            assert "PXELINUX" in vm.text(), "the BIOS boot did not go through pxelinux"
        if v.firmware == "uefi" and v.uefi_loader == "grub":
            assert f"Booting `{node.name} install'" in vm.text(), "GRUB did not boot the install"
        failed = ("ROCKS-INSTALLER: result failed",)
        self.wait(r"ROCKS-INSTALLER: step packages", "kickstart, %pre, storage", failed)
        self.wait(r"ROCKS-INSTALLER: step post", "packages, system, boot loader", failed)
        self.wait(r"ROCKS-INSTALLER: result ok", "%post", failed)
        s = vm.text()
        vm.set_mark()
        assert f"ROCKS-INSTALLER: dhcp eth0 mac={node.mac} ip={node.ip} host={node.name}" in s
        assert f"for host={node.name}.local (attempt 1, MAC headers: 1)" in s, s
        ks = re.search(r"ROCKS-INSTALLER: cmdline inst.ks=(\S+) sendmac=yes", s)
        assert ks, "the installer did not get inst.ks= and inst.ks.sendmac"
        if token is not None:  # the boot file's kickstart URL carried this install's token
            assert ks.group(1) == f"{FRONTEND}/install/kickstart?token={token}", ks.group(1)
        if layout == "new":
            assert "storage: new GPT on /dev/vda" in s, "the disk was not laid out anew"
        else:
            assert "/state/partition1 kept (xfs, --noformat)" in s, "data partition not kept"
            assert "new GPT" not in s
        assert "ROCKS-INSTALLER: packages: " in s and "bootloader: " in s
        # the frontend's view: finished, boot action os, boot files for the local disk
        c.wait_stage(node, "finished", 30)
        row = c.install_row(node)
        assert row[:2] == [node.name, "finished"], row
        assert c.boot_state(node) == "os"
        if token is not None:
            assert not any(f"token={token}" in t for t in c.boot_files(node).values())
        if not broken:
            check_scripts(c, node, events_before)
            return
        with pytest.raises(LoopFailure) as caught:
            check_scripts(c, node, events_before)
        message = str(caught.value)
        line = BROKEN_ROLL.nodes["e2e-broken"].splitlines().index("<post>") + 1
        assert re.search(rf"e2e-broken:\S*nodes/e2e-broken\.xml:{line}: exit 3", message), message
        assert "No such file or directory" in message, message
        assert message.count("script failed") == 1, message
        self.say(f"the broken %post was reported as expected: {message.splitlines()[1]}")

    def booted(self) -> None:
        """From the installer's reboot to the installed system reporting `up`."""
        assert self.vm is not None and self.c is not None
        vm, c, node, v = self.vm, self.c, self.node, self.v
        again = ("ROCKS-INSTALLER: stage1", "ROCKS-TESTOS: initramfs: root device")
        self.wait(r"Linux version", "firmware and boot loaders", again)
        m = self.wait(r"ROCKS-TESTOS: up at", "the installed system's start", again)
        s = vm.text()
        vm.set_mark()
        assert m and "ROCKS-TESTOS: unit sshd.service: started" in s, s
        assert "unit rocks-report-up.service: done" in s, s
        if v.firmware == "uefi" and v.uefi_loader == "grub":
            assert "Booting `local disk'" in s, "the network GRUB did not hand over to the disk"
        c.wait_stage(node, "up", 60)
        row = c.install_row(node)
        assert row[:2] == [node.name, "up"] and row[3].startswith("up: kernel "), row

    def ssh(self, command: str) -> str:
        assert self.lab is not None and self.c is not None
        r = self.lab.run(str(ROCKS), "run", "host", self.node.name, f"command={command}",
                         "hostkey=learn", "timeout=60", env=self.c.env, timeout=120)
        if r.returncode != 0:
            raise LoopFailure(f"rocks run host {self.node.name} command={command!r}: "
                              f"{r.returncode}\n{r.stdout}{r.stderr}")
        return r.stdout

    def check_operated(self, installs: int, layout: str) -> str:
        """The installed system as an admin sees it; returns its /etc/rocks-release."""
        assert self.lab is not None and self.c is not None
        r = self.lab.run(str(ROCKS), "list", "host", "status", self.node.name, env=self.c.env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[1].split()[1:2] == ["up"], r.stdout
        out = self.ssh("cat /etc/rocks-release; ls /state/partition1")
        release = next((ln for ln in out.splitlines() if ln.startswith("Rocks el9: ")), "")
        assert release.startswith(f"Rocks el9: {self.node.name} (appliance compute, rack 0, "
                                  "rank 0), installed "), out
        assert "installs.log" in out, out
        log = self.ssh("cat /state/partition1/installs.log /var/log/rocks-install.log")
        assert log.count(f"{self.node.name} installed ") == installs, log
        assert f"rocks: partitions: {layout}" in log or f"rocks: {layout}" in log, log
        return release

    def reinstall(self) -> None:
        """What an admin does: set the host to install, then reboot it."""
        assert self.c is not None and self.vm is not None
        self.c.rocks("set", "host", "boot", self.node.name, "action=install")
        self.wait_frontend("install")
        self.vm.set_mark()
        # the reboot drops the session; its exit status does not matter
        assert self.lab is not None
        self.lab.run(str(ROCKS), "run", "host", self.node.name, "command=reboot",
                     "timeout=20", env=self.c.env, timeout=60)

    def report(self, exc: BaseException) -> str:
        parts = [f"{self.v.id}: {type(exc).__name__}: {exc}", *self.log[-15:]]
        if self.vm is not None:
            lines = self.vm.text(0).splitlines()
            parts.append(f"--- serial console ({self.vm.serial}), last 200 of {len(lines)} "
                         "lines ---")
            parts += lines[-200:]
        if self.lab is not None:
            for proc in self.lab.procs:
                parts.append(f"--- {proc.name} ---\n{proc.tail(25)}")
        return "\n".join(parts)


def run_loops(variants: tuple[Variant, ...], assets: Assets, tmp: Path) -> None:
    loops = [Loop(v, assets, tmp / v.id) for v in variants]
    for loop in loops:
        loop.tmp.mkdir(parents=True)

    def one(loop: Loop) -> str | None:
        try:
            loop.run()
            return None
        except BaseException as exc:  # report every loop's failure, not only the first
            return loop.report(exc)
        finally:
            if loop.lab is not None:
                loop.lab.close()

    t0 = time.monotonic()
    with ThreadPoolExecutor(len(loops)) as pool:
        failures = [f for f in pool.map(one, loops) if f]
    for loop in loops:
        print(f"{loop.v.id}: {json.dumps(loop.timings)}")
    print(f"loops {', '.join(v.id for v in variants)}: {time.monotonic() - t0:.0f} s")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_reinstall_loop_bios_and_uefi(assets: Assets, tmp_path: Path) -> None:
    run_loops(EVERY_RUN, assets, tmp_path)


@optional_unless(matrix_enabled(), "wide-matrix", "wider matrix: set ROCKS_E2E_MATRIX=1")
@pytest.mark.parametrize("variant", [pytest.param(v, id=v.id) for v in MATRIX])
def test_reinstall_loop_matrix(variant: Variant, assets: Assets, tmp_path: Path) -> None:
    run_loops((variant,), assets, tmp_path)
