"""rocks sync config, the reports, and set host boot's boot files, through the CLI
(discovery: tests/security/test_server_discover.py).

The DHCP configuration written is checked with the real `dhcpd -t` when it is installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli
from tests.conftest import require_tool


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.env = {"ROCKS_STATE": str(tmp / "state"), "ROCKS_SYNC_ROOT": str(self.root)}

    def __call__(self, *argv: str) -> CliResult:
        return run_cli(list(argv), env=self.env)

    def ok(self, *argv: str) -> CliResult:
        r = self(*argv)
        assert r.code == 0, r.stderr
        return r


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    c = Cluster(tmp_path)
    c.ok("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes",
         "servedns=yes", "zone=local")
    for i, mac in enumerate(["52:54:00:00:02:00", "52:54:00:00:02:01"]):
        c.ok("add", "host", f"compute-0-{i}")
        c.ok("add", "host", "interface", f"compute-0-{i}", "eth0", f"mac={mac}",
             f"ip=10.1.255.{254 - i}", "network=private")
    return c


def test_sync_writes_checked_config_once(cluster: Cluster) -> None:
    r = cluster.ok("sync", "config", "loaders=no")
    assert r.stderr.endswith(f"unchanged under {cluster.root}\n")
    conf = cluster.root / "etc/dhcp/dhcpd.conf"
    text = conf.read_text()
    assert "hardware ethernet 52:54:00:00:02:00;" in text and "fixed-address 10.1.255.254;" in text
    dhcpd = require_tool("dhcpd", "isc-dhcp-server")
    res = subprocess.run([dhcpd, "-t", "-4", "-cf", str(conf)], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert (cluster.root / "etc/hosts").read_text().count(".local compute-0-") == 2
    before = conf.stat().st_mtime_ns
    r = cluster.ok("sync", "config", "loaders=no")
    assert " 0 written, 0 removed, " in r.stderr
    assert conf.stat().st_mtime_ns == before


def test_dry_run_shows_the_diff_and_writes_nothing(cluster: Cluster) -> None:
    cluster.ok("sync", "config", "loaders=no")
    cluster.ok("add", "host", "compute-0-2")
    # sync=no: the interface is not made live at once (it would be, by default)
    cluster.ok("add", "host", "interface", "compute-0-2", "eth0", "mac=52:54:00:00:02:02",
               "ip=10.1.255.252", "network=private", "sync=no")
    r = cluster.ok("sync", "config", "dry-run=yes", "loaders=no")
    assert "+    hardware ethernet 52:54:00:00:02:02;" in r.stdout or \
        "hardware ethernet 52:54:00:00:02:02;" in r.stdout
    assert "52:54:00:00:02:02" not in (cluster.root / "etc/dhcp/dhcpd.conf").read_text()


def test_boot_install_writes_the_hosts_files_at_once(cluster: Cluster) -> None:
    r = cluster.ok("set", "host", "boot", "compute-0-1", "action=install")
    cfg = cluster.root / "tftpboot/pxelinux.cfg/0A01FFFD"
    text = cfg.read_text()
    assert "inst.ks.sendmac" in text and "/install/kickstart?token=" in text
    token = text.split("token=")[1].split()[0].strip("'\"")
    assert len(token) >= 24
    report = cluster.ok("report", "host", "pxe", "compute-0-1").stdout
    assert f"token={token}" in report and "# tftpboot/pxelinux.cfg/0A01FFFD" in report
    # back to os: the host's own files go; the default boots the local disk
    cluster.ok("set", "host", "boot", "compute-0-1", "action=os")
    assert not cfg.exists()
    assert "LOCALBOOT 0" in (cluster.root / "tftpboot/pxelinux.cfg/default").read_text()
    assert "skipped" in r.stderr  # no distribution built: the package check says so


def test_a_host_without_mac_is_reported_not_written(cluster: Cluster) -> None:
    cluster.ok("add", "host", "compute-0-5")
    cluster.ok("add", "host", "interface", "compute-0-5", "eth0", "ip=10.1.255.200",
               "network=private")
    r = cluster.ok("sync", "config", "loaders=no")
    assert "compute-0-5" in r.stderr and "MAC" in r.stderr
    assert "10.1.255.200" not in (cluster.root / "etc/dhcp/dhcpd.conf").read_text()


def test_report_host_dhcpd_prints_what_sync_writes(cluster: Cluster) -> None:
    cluster.ok("sync", "config", "loaders=no")
    out = cluster.ok("report", "host", "dhcpd").stdout
    assert out == "# etc/dhcp/dhcpd.conf\n" + (cluster.root / "etc/dhcp/dhcpd.conf").read_text()


def test_sync_puts_the_installer_images_in_the_tftp_tree(cluster: Cluster, tmp_path: Path) -> None:
    pxeboot = tmp_path / "state" / "distro" / "images" / "pxeboot"
    pxeboot.mkdir(parents=True)
    (pxeboot / "vmlinuz").write_bytes(b"K")
    (pxeboot / "initrd.img").write_bytes(b"I")
    cluster.ok("sync", "config", "loaders=no")
    assert (cluster.root / "tftpboot/vmlinuz").read_bytes() == b"K"
    assert (cluster.root / "tftpboot/initrd.img").read_bytes() == b"I"
