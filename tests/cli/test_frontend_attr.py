"""Which frontend serves a host: the attribute `frontend` (rack, appliance or host scope),
through the real CLI on SQLite and PostgreSQL.

A head node and a service frontend on one private network; rack 1 is served by the service
frontend. Its hosts' kickstarts (url --url, the event URL), their boot files, their iPXE
scripts and DHCP (ISC's next-server and iPXE URL; Kea's reservations) all name it; rack 0
keeps the head node. One place decides (rocks.inventory.netfacts): every output agrees.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from rocks.cli.context import CliResult
from tests.cli.inventory_fixtures import Rocks, rocks_env
from tests.sync.conftest import need

__all__ = ["rocks_env"]
HEAD, SERVICE = "10.1.1.1", "10.1.1.2"


def ok(r: CliResult) -> str:
    assert r.code == 0, r
    return r.stdout


def site(rocks: Rocks) -> None:
    ok(rocks("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes"))
    # named so that it sorts before the head: a frontend a `frontend` attribute names is a
    # service frontend, never taken for the head node
    for name, ip, mac in (("frontend-0-0", HEAD, "52:54:00:00:01:01"),
                          ("fe-1", SERVICE, "52:54:00:00:01:02")):
        ok(rocks("add", "host", name, "appliance=frontend"))
        ok(rocks("add", "host", "interface", name, "eth0", f"ip={ip}", f"mac={mac}"))
    for name, ip, mac in (("compute-0-0", "10.1.255.254", "52:54:00:00:02:00"),
                          ("compute-1-0", "10.1.254.254", "52:54:00:00:03:00")):
        ok(rocks("add", "host", name))
        ok(rocks("add", "host", "interface", name, "eth0", f"ip={ip}", f"mac={mac}"))
    ok(rocks("set", "rack", "attr", "1", "frontend", "fe-1"))


def attrs(rocks: Rocks, host: str) -> dict[str, tuple[str, str]]:
    out = ok(rocks("list", "host", "attr", host, "output-format=json"))
    return {r["attr"]: (r["value"], r["source"]) for r in json.loads(out)}


def test_the_frontend_attribute_moves_every_output_of_its_hosts(rocks_env: Rocks,
                                                                tmp_path: Path) -> None:
    rocks = rocks_env
    site(rocks)
    served, own = attrs(rocks, "compute-1-0"), attrs(rocks, "compute-0-0")
    assert served["Kickstart_PrivateKickstartHost"][0] == SERVICE
    assert served["Kickstart_FrontendURL"][0] == f"http://{SERVICE}:8080"
    assert served["Kickstart_DistroURL"][0] == f"http://{SERVICE}:8080/install/distro"
    assert own["Kickstart_FrontendURL"][0] == f"http://{HEAD}:8080"
    # what the service frontend does not run stays the head node's
    assert served["Kickstart_PrivateDNSServers"][0] == HEAD
    assert served["nfs_server"][0] == HEAD

    ks = ok(rocks("list", "host", "profile", "compute-1-0"))
    assert f"url --url=http://{SERVICE}:8080/install/distro" in ks
    assert f"http://{SERVICE}:8080/install/events" in ks
    assert f"http://{HEAD}:8080" not in ks
    assert f"url --url=http://{HEAD}:8080/install/distro" in ok(
        rocks("list", "host", "profile", "compute-0-0"))

    ok(rocks("set", "host", "boot", "compute-0-0", "compute-1-0", "action=install",
             "force=yes"))
    tftp = tmp_path / "state" / "root" / "tftpboot"
    assert f"inst.ks=http://{SERVICE}:8080/install/kickstart?token=" in (
        tftp / "pxelinux.cfg" / "0A01FEFE").read_text()
    assert f"inst.repo=http://{SERVICE}:8080/install/distro" in (
        tftp / "grub" / "grub.cfg-52:54:00:00:03:00").read_text()
    assert f"inst.ks=http://{HEAD}:8080/install/kickstart?token=" in (
        tftp / "pxelinux.cfg" / "0A01FFFE").read_text()
    pxe = ok(rocks("report", "host", "pxe", "compute-1-0"))
    assert f"kernel http://{SERVICE}:8080/boot/files/" in pxe

    dhcpd = ok(rocks("report", "host", "dhcpd"))
    groups = dhcpd.split("  group {")[1:]
    assert len(groups) == 2, dhcpd  # the head's hosts, then fe-1's
    assert f"next-server {HEAD};" in groups[0] and "compute-0-0-eth0" in groups[0]
    assert f"next-server {SERVICE};" in groups[1] and "compute-1-0-eth0" in groups[1]
    assert f'"http://{SERVICE}:8080/boot/ipxe?mac=' in groups[1]
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(dhcpd.split("\n", 1)[1])
    check = subprocess.run([need("dhcpd"), "-t", "-cf", str(conf)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr

    ok(rocks("set", "attr", "sync_dhcp", "kea"))
    kea = ok(rocks("report", "host", "dhcpd")).split("\n", 1)[1]
    rows = {r["hostname"]: r for s in json.loads(kea)["Dhcp4"]["subnet4"]
            for r in s["reservations"]}
    assert rows["compute-1-0"]["next-server"] == SERVICE
    assert "next-server" not in rows["compute-0-0"]  # the head node's, from the classes
    assert "next-server" not in rows["fe-1"]  # frontends do not network-boot
    conf = tmp_path / "kea.conf"
    conf.write_text(kea)
    check = subprocess.run([need("kea-dhcp4"), "-t", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    # a host-scope value wins over its rack's: back to the head node
    ok(rocks("set", "host", "attr", "compute-1-0", "frontend", "frontend-0-0"))
    assert attrs(rocks, "compute-1-0")["Kickstart_FrontendURL"][0] == f"http://{HEAD}:8080"


def test_an_unknown_frontend_is_a_warning_and_the_head_serves(rocks_env: Rocks) -> None:
    rocks = rocks_env
    site(rocks)
    # with no `frontend` attribute naming fe-1 any more, say which frontend host is the head
    ok(rocks("set", "attr", "Kickstart_PrivateKickstartHost", HEAD))
    ok(rocks("set", "rack", "attr", "1", "frontend", "nosuch"))
    assert attrs(rocks, "compute-1-0")["Kickstart_FrontendURL"][0] == f"http://{HEAD}:8080"
    r = rocks("sync", "config", "loaders=no")
    assert r.code == 0, r
    assert re.search(r"frontend = 'nosuch' \(rack 1\) names no frontend host", r.stderr), r.stderr
