"""Network commands and `report nextip` through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from rocks.cli.context import CliResult
from tests.cli.inventory_fixtures import Rocks, rocks_env

__all__ = ["rocks_env"]

NETWORKS = ("NETWORK  SUBNET    NETMASK        MTU   ZONE   SERVEDNS  PXE  GATEWAY\n"
            "ipmi     10.2.0.0  255.255.255.0  9000  ipmi   no        no   10.2.0.1\n"
            "private  10.1.0.0  255.255.0.0    1500  local  yes       yes  -\n")


def ok(r: CliResult, stdout: str = "") -> None:
    assert (r.code, r.stderr, r.stdout) == (0, "", stdout)


def fails(r: CliResult, message: str, code: str, hint: str = "") -> None:
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == f"error: {message} [{code}]\n" + (f"  hint: {hint}\n" if hint else "")


@pytest.fixture
def rocks(rocks_env: Rocks) -> Rocks:
    ok(rocks_env("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
                 "pxe=yes", "servedns=yes", "zone=local"))
    ok(rocks_env("add", "network", "ipmi", "subnet=10.2.0.0", "netmask=255.255.255.0",
                 "gateway=10.2.0.1", "mtu=9000"))
    return rocks_env


def test_list_network(rocks: Rocks) -> None:
    ok(rocks("list", "network"), NETWORKS)
    r = rocks("list", "network", "ipmi", "output-format=json")
    assert (r.code, r.stderr) == (0, "")
    assert json.loads(r.stdout) == [{
        "network": "ipmi", "subnet": "10.2.0.0", "netmask": "255.255.255.0", "mtu": 9000,
        "zone": "ipmi", "servedns": False, "pxe": False, "gateway": "10.2.0.1"}]
    fails(rocks("list", "network", "privat"), 'unknown network "privat"', "unknown-network",
          'did you mean "private"?')


@pytest.mark.parametrize(("argv", "message", "code", "hint"), [
    (("bad", "subnet=10.1.0.1", "netmask=255.255.0.0"),
     "network bad: 10.1.0.1/255.255.0.0 is not a network (10.1.0.1/16 has host bits set)",
     "bad-network",
     "give the network address and its mask, e.g. subnet=10.1.0.0 netmask=255.255.0.0"),
    (("bad", "subnet=10.3.0.0", "netmask=255.255.0.0", "gateway=10.4.0.1"),
     "gateway 10.4.0.1 is not inside network bad (10.3.0.0/16)", "ip-outside-network",
     "choose an address in 10.3.0.0/16"),
    (("private", "subnet=10.3.0.0", "netmask=255.255.0.0"), "network 'private' already exists",
     "duplicate-network", "use `rocks set network …` to change it"),
    (("a.b", "subnet=10.3.0.0", "netmask=255.255.0.0"), "network name 'a.b' is not valid",
     "bad-network-name",
     "use letters, digits, '-' and '_', starting with a letter or digit (no dots)"),
    (("x", "subnet=10.3.0.0", "netmask=255.255.0.0", "mtu=0"),
     "network x: mtu 0 is not positive", "bad-mtu", ""),
])
def test_add_network_errors(rocks: Rocks, argv: tuple[str, ...], message: str, code: str,
                            hint: str) -> None:
    fails(rocks("add", "network", *argv), message, code, hint)
    ok(rocks("list", "network"), NETWORKS)


def test_add_network_needs_subnet_and_netmask(rocks: Rocks) -> None:
    r = rocks("add", "network", "x", "subnet=10.3.0.0")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr.startswith('error: missing required parameter "netmask"\n')


def test_remove_network(rocks: Rocks) -> None:
    ok(rocks("add", "host", "compute-0-0"))
    ok(rocks("add", "host", "interface", "compute-0-0", "eth0", "ip=10.1.255.254"))
    fails(rocks("remove", "network", "ipmi", "private"),
          "network 'private' still has 1 interface(s) on it", "network-in-use",
          "remove or move those interfaces first")
    fails(rocks("remove", "network", "ipmi", "privat"), 'unknown network "privat"',
          "unknown-network", 'did you mean "private"?')
    ok(rocks("list", "network"), NETWORKS)
    ok(rocks("remove", "network", "ipmi"))
    ok(rocks("remove", "host", "interface", "compute-0-0", "eth0"))
    ok(rocks("remove", "network", "private"))
    ok(rocks("list", "network"))


def test_report_nextip_counts_down_from_the_top(rocks: Rocks) -> None:
    ok(rocks("report", "nextip", "private"), "10.1.255.254\n")
    ok(rocks("report", "nextip", "ipmi", "increment=1"), "10.2.0.2\n")  # .1 is the gateway
    ok(rocks("report", "nextip", "private", "baseip=10.1.0.10"), "10.1.0.9\n")
    ok(rocks("add", "host", "compute-0-0"))
    ok(rocks("add", "host", "interface", "compute-0-0", "eth0", "ip=10.1.255.254"))
    ok(rocks("report", "nextip", "private"), "10.1.255.253\n")


def test_report_nextip_errors(rocks: Rocks) -> None:
    fails(rocks("report", "nextip", "privat"), 'unknown network "privat"', "unknown-network",
          'did you mean "private"?')
    fails(rocks("report", "nextip", "private", "increment=0"),
          "increment=0 never moves to another address", "bad-increment",
          "-1 counts down from the top, 1 up from the bottom")
    ok(rocks("add", "network", "tiny", "subnet=10.5.0.0", "netmask=255.255.255.252"))
    ok(rocks("add", "host", "compute-0-0"))
    ok(rocks("add", "host", "interface", "compute-0-0", "eth0", "ip=10.5.0.1"))
    ok(rocks("add", "host", "interface", "compute-0-0", "eth1", "ip=10.5.0.2"))
    fails(rocks("report", "nextip", "tiny"), "network tiny (10.5.0.0/30) has no unused address "
          "left", "network-full", "remove unused interfaces or use a larger network")
