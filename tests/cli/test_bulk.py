"""Bulk operations through the real CLI: `set host boot` on hundreds of hosts writes exactly the
files one-host-at-a-time would, in one transaction (a failure half-way changes nothing), says
what it did in one line, shows progress only on a terminal; `remove host` re-syncs; the site's
hosts.local and dhcpd.conf.local are merged and dhcpd -t accepts the result.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli

N = 200
VENV_BIN = Path(sys.executable).parent


def need(binary: str, package: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{binary} is not installed: apt-get install {package}")
    return path


class State:
    def __init__(self, base: Path, database_url: str = "") -> None:
        self.state = base / "state"
        self.root = base / "root"
        self.env = {"ROCKS_STATE": str(self.state), "ROCKS_SYNC_ROOT": str(self.root)}
        self.url = database_url or str(self.state / "rocks.db")
        if database_url:
            self.env["ROCKS_DATABASE_URL"] = database_url

    def __call__(self, *argv: str) -> CliResult:
        return run_cli(list(argv), env=self.env)

    def ok(self, *argv: str) -> CliResult:
        r = self(*argv)
        assert r.code == 0, (argv, r.stderr)
        return r

    def tokens(self) -> dict[str, str]:
        from rocks.inventory import open_inventory
        from rocks.inventory.install import tokens

        with open_inventory(self.url) as inv, inv.transaction(readonly=True) as s:
            return tokens(s)

    def tree(self, normalise: bool = True) -> dict[str, bytes]:
        """Every file under the sync root (normalised: tokens replaced by their host's name,
        and without sync's own state, which records the files' inodes and times)."""
        subs = {t.encode(): f"TOKEN-{h}".encode() for h, t in self.tokens().items()}
        out = {}
        for path in sorted(self.root.rglob("*")):
            if normalise and "var/lib/rocks" in str(path):
                continue
            if path.is_file():
                data = path.read_bytes()
                if normalise:
                    for token, name in subs.items():
                        data = data.replace(token, name)
                out[str(path.relative_to(self.root))] = data
        return out


def make_state(base: Path, n: int = N, database_url: str = "") -> State:
    st = State(base, database_url)
    st.ok("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes",
          "servedns=yes", "zone=local")
    lines = ["name,appliance,rack,rank,interface,ip,mac,network"]
    for i in range(n):
        rack, rank = divmod(i, 100)
        lines.append(f"compute-{rack}-{rank},compute,{rack},{rank},eth0,"
                     f"10.1.{10 + i // 250}.{i % 250 + 1},"
                     f"52:54:00:00:{i >> 8 & 255:02x}:{i & 255:02x},private")
    (base / "hosts.csv").write_text("\n".join(lines) + "\n")
    st.ok("load", "hostfile", str(base / "hosts.csv"))
    return st


def hexip(i: int) -> str:
    """The PXELINUX name of host number i's address (10.1.10.1 onwards)."""
    return f"0A01{10 + i // 250:02X}{i % 250 + 1:02X}"


def names(n: int = N) -> list[str]:
    return [f"compute-{i // 100}-{i % 100}" for i in range(n)]


def test_bulk_boot_writes_what_host_by_host_writes(tmp_path: Path) -> None:
    bulk, single = make_state(tmp_path / "bulk"), make_state(tmp_path / "single")
    r = bulk.ok("set", "host", "boot", "compute", "action=install", "force=yes")
    assert r.stdout == f"{N} hosts set to install\n"
    for name in names():
        assert single.ok("set", "host", "boot", name, "action=install",
                         "force=yes").stdout == "1 host set to install\n"
    tokens = bulk.tokens()
    assert sorted(tokens) == sorted(names()) and len(set(tokens.values())) == N
    tree = bulk.tree()
    # one file per loader per host: PXELINUX's by address, GRUB's by MAC (+ the defaults)
    assert len([p for p in tree if p.startswith("tftpboot/")]) == 2 * N + 2
    assert tree == single.tree()
    assert b"TOKEN-compute-1-7" in tree["tftpboot/grub/grub.cfg-52:54:00:00:00:6b"]
    assert b"TOKEN-compute-1-7" in tree[f"tftpboot/pxelinux.cfg/{hexip(107)}"]
    pxe = bulk.root / "tftpboot/pxelinux.cfg"
    assert (pxe / hexip(107)).stat().st_mode & 0o777 == 0o644

    # and back: every host's own files go, in one command as one by one
    assert bulk.ok("set", "host", "boot", "rack0", "rack1", "action=os").stdout == \
        f"{N} hosts set to os\n"
    for name in names():
        single.ok("set", "host", "boot", name, "action=os")
    assert bulk.tokens() == {} and single.tokens() == {}
    tree = bulk.tree()
    assert not [p for p in tree if p.startswith("tftpboot/") and "default" not in p
                and not p.endswith("grub.cfg")]
    assert tree == single.tree()
    listing = bulk.ok("list", "host", "boot", "output-format=csv").stdout
    assert listing.count(",os\n") == N


@pytest.mark.parametrize("backend", ["sqlite",
                                     pytest.param("postgres", marks=pytest.mark.postgres)])
def test_bulk_boot_is_one_transaction(tmp_path: Path, backend: str) -> None:
    url = ""
    if backend == "postgres":
        from tests.cli.inventory_fixtures import _empty_pg, _pg_database

        url = _pg_database()
        _empty_pg(url)
    st = make_state(tmp_path, 300, url)
    st.ok("sync", "config", "loaders=no")
    # a directory where the 151st host's boot file goes: writing fails half-way through
    blocker = st.root / f"tftpboot/pxelinux.cfg/{hexip(150)}"  # compute-1-50
    blocker.mkdir(parents=True)
    before_tree = st.tree(normalise=False)
    before_db = st.ok("list", "host", "boot", "output-format=csv").stdout
    r = st("set", "host", "boot", "compute", "action=install", "force=yes")
    assert (r.code, r.stdout) == (2, "")
    assert "[sync.write-failed]" in r.stderr and hexip(150) in r.stderr
    assert st.ok("list", "host", "boot", "output-format=csv").stdout == before_db
    assert st.tokens() == {}
    assert st.tree(normalise=False) == before_tree  # not one boot file left behind
    assert sorted(p.name for p in blocker.parent.iterdir()) == [hexip(150), "default"]
    # the same command succeeds once the way is clear
    blocker.rmdir()
    assert st.ok("set", "host", "boot", "compute", "action=install",
                 "force=yes").stdout == "300 hosts set to install\n"
    tokens = st.tokens()
    assert len(tokens) == 300 and len(set(tokens.values())) == 300
    assert len(list((st.root / "tftpboot/pxelinux.cfg").iterdir())) == 300 + 1
    assert st.ok("remove", "host", "rack2").stdout == \
        "100 hosts removed (sync: 4 files written, 200 removed)\n"
    assert st.ok("set", "host", "boot", "compute", "action=os").stdout == \
        "200 hosts set to os\n"
    assert st.tokens() == {}
    assert sorted(p.name for p in (st.root / "tftpboot/pxelinux.cfg").iterdir()) == ["default"]


def test_progress_only_on_a_terminal(tmp_path: Path) -> None:
    st = make_state(tmp_path)
    env = {**os.environ, **st.env, "ROCKS_CONFIG": "", "TERM": "xterm", "COLUMNS": "100"}
    env.pop("ROCKS_DATABASE_URL", None)
    argv = [str(VENV_BIN / "rocks"), "set", "host", "boot", "compute", "action=install",
            "force=yes"]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        assert ready, "no output from rocks"
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert out == f"{N} hosts set to install\n".encode()  # stdout: the summary alone
    assert b"boot files: write" in seen and b"\x1b[" in seen  # a bar, drawn on the terminal
    # not a terminal: not one escape sequence
    done = subprocess.run([*argv[:-2], "action=os"], env=env, capture_output=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == f"{N} hosts set to os\n".encode()


def test_remove_host_resyncs_what_it_changed(tmp_path: Path) -> None:
    st = make_state(tmp_path, 20)
    st.ok("set", "host", "boot", "compute-0-1[0-9]", "action=install", "force=yes")
    st.ok("sync", "config", "loaders=no")
    hosts, dhcpd = st.root / "etc/hosts", st.root / "etc/dhcp/dhcpd.conf"
    zone = st.root / "var/named/rocks/local.zone"
    assert "compute-0-15" in hosts.read_text() and "compute-0-15" in dhcpd.read_text()
    assert "compute-0-15" in zone.read_text()
    assert (st.root / f"tftpboot/pxelinux.cfg/{hexip(15)}").exists()  # compute-0-15's file
    r = st.ok("remove", "host", "compute-0-1?")
    assert r.stdout == "10 hosts removed (sync: 4 files written, 20 removed)\n"
    for path in (hosts, dhcpd, zone):
        text = path.read_text()
        assert "compute-0-15" not in text and "compute-0-9" in text, path
    assert not (st.root / f"tftpboot/pxelinux.cfg/{hexip(15)}").exists()
    assert sorted(p.name for p in (st.root / "tftpboot/pxelinux.cfg").iterdir()) == ["default"]
    dhcpd_bin = need("dhcpd", "isc-dhcp-server")
    check = subprocess.run([dhcpd_bin, "-t", "-4", "-cf", str(dhcpd)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    # sync=no: the inventory only, and the command says what is stale
    r = st.ok("remove", "host", "compute-0-9", "sync=no")
    assert r.stdout == ("1 host removed (not synced: DHCP, DNS, /etc/hosts and boot files "
                        "still name them until `rocks sync config`)\n")
    assert "compute-0-9" in hosts.read_text()
    st.ok("sync", "config", "loaders=no")
    assert "compute-0-9" not in hosts.read_text()


def test_site_local_files_are_merged_as_in_rocks(tmp_path: Path) -> None:
    st = make_state(tmp_path, 3)
    etc = st.root / "etc"
    (etc / "dhcp").mkdir(parents=True)
    local_hosts = "192.0.2.7\tprinter.example.org printer\n# the lab's NAS\n10.1.200.9 nas9"
    (etc / "hosts.local").write_text(local_hosts)
    local_dhcp = ("host printer {\n  hardware ethernet 52:54:00:aa:bb:cc;\n"
                  "  fixed-address 10.1.200.7;\n}\n")
    (etc / "dhcp/dhcpd.conf.local").write_text(local_dhcp)
    st.ok("sync", "config", "loaders=no")
    hosts = (etc / "hosts").read_text()
    assert hosts.endswith(
        "\n# begin etc/hosts.local (appended verbatim by rocks sync; edit that file, not this "
        f"section)\n{local_hosts}\n# end etc/hosts.local\n")
    assert "compute-0-2.local compute-0-2" in hosts
    conf = (etc / "dhcp/dhcpd.conf").read_text()
    assert ("# begin etc/dhcp/dhcpd.conf.local (appended verbatim by rocks sync; edit that "
            f"file, not this section)\n{local_dhcp}# end etc/dhcp/dhcpd.conf.local\n") in conf
    dhcpd_bin = need("dhcpd", "isc-dhcp-server")

    def dhcpd_t() -> subprocess.CompletedProcess[str]:
        return subprocess.run([dhcpd_bin, "-t", "-4", "-cf", str(etc / "dhcp/dhcpd.conf")],
                              capture_output=True, text=True, timeout=60)

    assert dhcpd_t().returncode == 0, dhcpd_t().stderr
    # the report shows the merged file too, and a change to the local file is picked up
    assert "host printer {" in st.ok("report", "host", "dhcpd").stdout
    (etc / "dhcp/dhcpd.conf.local").write_text("host broken { fixed-address ; }\n")
    st.ok("sync", "config", "loaders=no")
    assert dhcpd_t().returncode != 0  # dhcpd -t really checks what was merged
    (etc / "dhcp/dhcpd.conf.local").unlink()
    (etc / "hosts.local").unlink()
    st.ok("sync", "config", "loaders=no")
    assert "rocks sync" not in (etc / "hosts").read_text().split("\n", 1)[1]
    assert "begin etc/" not in (etc / "dhcp/dhcpd.conf").read_text()
    assert dhcpd_t().returncode == 0
    # Kea cannot take verbatim lines: said, not merged
    (etc / "dhcp/dhcpd.conf.local").write_text(local_dhcp)
    st.ok("add", "attr", "sync_dhcp", "kea")
    r = st.ok("sync", "config", "loaders=no")
    assert ("warning: etc/dhcp/dhcpd.conf.local is not merged: the DHCP server is Kea "
            "(sync_dhcp=kea)\n") in r.stderr
