"""Host commands through the real CLI, on SQLite and PostgreSQL: exact output and error text.

Every failing command must leave the inventory as it was; each error test lists afterwards.
"""

from __future__ import annotations

import json

import pytest

from rocks.cli.context import CliResult
from tests.cli.inventory_fixtures import Rocks, rocks_env

__all__ = ["rocks_env"]

HEADER = "HOST         APPLIANCE  RACK  RANK  OS     BOOT  INSTALLACTION  RUNACTION  COMMENT\n"


def ok(r: CliResult, stdout: str = "") -> None:
    assert (r.code, r.stderr, r.stdout) == (0, "", stdout)


def fails(r: CliResult, message: str, code: str, hint: str) -> None:
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == f"error: {message} [{code}]\n  hint: {hint}\n"


@pytest.fixture
def rocks(rocks_env: Rocks) -> Rocks:
    """Two compute hosts on a private network, compute-0-0 with eth0."""
    ok(rocks_env("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0"))
    ok(rocks_env("add", "network", "ipmi", "subnet=10.2.0.0", "netmask=255.255.255.0"))
    ok(rocks_env("add", "host", "compute-0-0"))
    ok(rocks_env("add", "host", "compute-0-1"))
    ok(rocks_env("add", "host", "interface", "compute-0-0", "eth0", "ip=10.1.255.254",
                 "mac=52:54:00:00:00:01", "network=private"))
    return rocks_env


HOSTS = (HEADER
         + "compute-0-0  compute    0     0     linux  os    install        os         -\n"
         + "compute-0-1  compute    0     1     linux  os    install        os         -\n")
IFACES = ("HOST         DEVICE  MAC                IP            NETWORK  NAME  MODULE  VLAN"
          "  OPTIONS  BMC\n"
          "compute-0-0  eth0    52:54:00:00:00:01  10.1.255.254  private  -     -       -"
          "     -        -\n")


def unchanged(rocks: Rocks) -> None:
    ok(rocks("list", "host"), HOSTS)
    ok(rocks("list", "host", "interface"), IFACES)


# ---------------------------------------------------------------- add / list / remove host


def test_empty_inventory_lists_nothing(rocks_env: Rocks) -> None:
    ok(rocks_env("list", "host"))
    ok(rocks_env("list", "host", "output-format=json"), "[]\n")


def test_add_host_derives_appliance_rack_rank_from_the_name(rocks: Rocks) -> None:
    ok(rocks("add", "host", "login-2-7"))
    ok(rocks("add", "host", "node9", "appliance=nas", "rack=3", "rank=1", "comment=big disks"))
    ok(rocks("list", "host", "login", "nas"),
       "HOST       APPLIANCE  RACK  RANK  OS     BOOT  INSTALLACTION  RUNACTION  COMMENT\n"
       "login-2-7  login      2     7     linux  os    install        os         -\n"
       "node9      nas        3     1     linux  os    install        os         big disks\n")


def test_add_host_without_a_name_takes_the_next_rank(rocks: Rocks) -> None:
    ok(rocks("add", "host", "appliance=compute", "rack=0"), "compute-0-2\n")
    ok(rocks("add", "host", "appliance=compute", "rack=1"), "compute-1-0\n")
    ok(rocks("add", "host", "appliance=compute"), "compute-0-3\n")
    ok(rocks("list", "host", "compute-[01]-[23]", "compute-1-0", "output-format=csv"),
       "host,appliance,rack,rank,os,boot,installaction,runaction,comment\n"
       "compute-0-2,compute,0,2,linux,os,install,os,\n"
       "compute-0-3,compute,0,3,linux,os,install,os,\n"
       "compute-1-0,compute,1,0,linux,os,install,os,\n")


def test_list_host_table_and_json(rocks: Rocks) -> None:
    ok(rocks("list", "host"), HOSTS)
    r = rocks("list", "host", "compute-0-1", "output-format=json")
    assert (r.code, r.stderr) == (0, "")
    assert json.loads(r.stdout) == [{
        "host": "compute-0-1", "appliance": "compute", "rack": 0, "rank": 1, "os": "linux",
        "boot": "os", "installaction": "install", "runaction": "os", "comment": None}]


def test_list_host_by_rack(rocks: Rocks) -> None:
    ok(rocks("add", "host", "compute-1-0"))
    ok(rocks("list", "host", "rack1"),
       HEADER + "compute-1-0  compute    1     0     linux  os    install        os         -\n")


@pytest.mark.parametrize(("argv", "message", "code", "hint"), [
    (("compute-0-0",), "host 'compute-0-0' already exists", "duplicate-host", "remove it first"),
    (("a.b", "appliance=compute"), "host name 'a.b' is not valid", "bad-host-name",
     "use letters, digits, '-' and '_', starting with a letter or digit (no dots)"),
    (("rack1", "appliance=compute"), "host name 'rack1' is reserved: rackN names select whole "
     "racks", "bad-host-name", "choose another name"),
    (("login", "appliance=compute"), "host name 'login' is an appliance name", "bad-host-name",
     "appliance names select all hosts of that appliance; choose another name"),
    (("compte-0-3",), 'cannot tell the appliance of host "compte-0-3" from its name',
     "missing-appliance", "did you mean appliance=compute?"),
    (("node1",), 'cannot tell the appliance of host "node1" from its name', "missing-appliance",
     "give appliance= (appliances: compute, frontend, login, nas)"),
    ((), "add host needs a host name or appliance=", "missing-appliance",
     "e.g. rocks add host appliance=compute rack=0"),
    (("x", "appliance=computer"), 'unknown appliance "computer"', "unknown-appliance",
     'did you mean "compute"?'),
    (("x", "appliance=compute", "installaction=instal"), 'unknown boot action "instal"',
     "unknown-bootaction", 'did you mean "install"?'),
])
def test_add_host_errors(rocks: Rocks, argv: tuple[str, ...], message: str, code: str,
                         hint: str) -> None:
    fails(rocks("add", "host", *argv), message, code, hint)
    unchanged(rocks)


def test_remove_host_cascades_interfaces(rocks: Rocks) -> None:
    # the host's files went live when its interface was added: only /etc/hosts changes now
    ok(rocks("remove", "host", "compute-0-0"),
       "1 host removed (sync: 1 file written, 0 removed)\n")
    ok(rocks("list", "host"),
       HEADER + "compute-0-1  compute    0     1     linux  os    install        os         -\n")
    ok(rocks("list", "host", "interface"))
    # The address is free again.
    ok(rocks("add", "host", "interface", "compute-0-1", "eth0", "ip=10.1.255.254",
             "mac=52:54:00:00:00:01"))


def test_remove_unknown_host_removes_nothing(rocks: Rocks) -> None:
    fails(rocks("remove", "host", "compute-0-0", "compute-0-9"), 'unknown host "compute-0-9"',
          "unknown-host", 'did you mean "compute-0-1"?')
    unchanged(rocks)


def test_list_unknown_host(rocks: Rocks) -> None:
    fails(rocks("list", "host", "compute-0-7"), 'unknown host "compute-0-7"', "unknown-host",
          'did you mean "compute-0-1"?')


# ---------------------------------------------------------------- set host …


def test_set_host_fields(rocks: Rocks) -> None:
    ok(rocks("add", "bootaction", "rescue", "kernel=vmlinuz"))
    ok(rocks("set", "host", "rack", "compute", "rack=4"))
    ok(rocks("set", "host", "rank", "compute-0-1", "9"))
    ok(rocks("set", "host", "appliance", "compute-0-1", "appliance=login"))
    ok(rocks("set", "host", "comment", "compute-0-0", "comment=bad fan"))
    ok(rocks("set", "host", "installaction", "compute-0-0", "rescue"))
    ok(rocks("set", "host", "runaction", "compute-0-1", "action=rescue"))
    ok(rocks("set", "host", "name", "compute-0-0", "name=gpu-4-0"))
    ok(rocks("list", "host"),
       "HOST         APPLIANCE  RACK  RANK  OS     BOOT  INSTALLACTION  RUNACTION  COMMENT\n"
       "compute-0-1  login      4     9     linux  os    install        rescue     -\n"
       "gpu-4-0      compute    4     0     linux  os    rescue         os         bad fan\n")
    ok(rocks("list", "host", "interface", "gpu-4-0", "output-format=csv"),
       "host,device,mac,ip,network,name,module,vlan,options,bmc\n"
       "gpu-4-0,eth0,52:54:00:00:00:01,10.1.255.254,private,,,,,\n")


@pytest.mark.parametrize(("argv", "message", "code", "hint"), [
    (("rack", "compute-0-9", "rack=1"), 'unknown host "compute-0-9"', "unknown-host",
     'did you mean "compute-0-1"?'),
    (("appliance", "compute-0-0", "appliance=logn"), 'unknown appliance "logn"',
     "unknown-appliance", 'did you mean "login"?'),
    (("runaction", "compute", "action=oss"), 'unknown boot action "oss"', "unknown-bootaction",
     'did you mean "os"?'),
    (("name", "compute-0-0", "compute-0-1"), "host 'compute-0-1' already exists",
     "duplicate-host", "remove it first"),
    (("name", "compute-0-0", "rack7"), "host name 'rack7' is reserved: rackN names select whole "
     "racks", "bad-host-name", "choose another name"),
    (("name", "compute", "x"), '"compute" names 2 hosts; this command takes one host name',
     "one-host", "give a single host name (rocks list host)"),
])
def test_set_host_errors(rocks: Rocks, argv: tuple[str, ...], message: str, code: str,
                         hint: str) -> None:
    fails(rocks("set", "host", *argv), message, code, hint)
    unchanged(rocks)


def test_set_host_rank_needs_an_integer(rocks: Rocks) -> None:
    r = rocks("set", "host", "rank", "compute-0-0", "rank=top")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr.startswith('error: rank: "top" is not an integer\n')
    unchanged(rocks)


def test_set_and_list_host_boot(rocks: Rocks, monkeypatch: pytest.MonkeyPatch) -> None:
    import rocks.hostops as hostops

    seen: list[tuple[list[str], str]] = []

    def after(s: object, where: object, hosts: list[str], action: object,
              **kw: object) -> hostops.BootChange:
        seen.append((list(hosts), str(action)))
        return hostops.BootChange(list(hosts), hostops.BootState(str(action)))

    monkeypatch.setattr(hostops, "after_boot_change", after)
    ok(rocks("list", "host", "boot"), "HOST         ACTION\ncompute-0-0  os\ncompute-0-1  os\n")
    ok(rocks("set", "host", "boot", "compute-0-1", "action=install"),
       "1 host set to install\n")
    ok(rocks("list", "host", "boot"),
       "HOST         ACTION\ncompute-0-0  os\ncompute-0-1  install\n")
    ok(rocks("set", "host", "boot", "compute", "os"), "2 hosts set to os\n")
    ok(rocks("list", "host", "boot", "compute-0-1", "output-format=json"),
       '[\n  {\n    "host": "compute-0-1",\n    "action": "os"\n  }\n]\n')
    assert seen == [(["compute-0-1"], "install"), (["compute-0-0", "compute-0-1"], "os")]


def test_set_host_boot_refuses_an_unknown_action(rocks: Rocks) -> None:
    r = rocks("set", "host", "boot", "compute-0-0", "action=instal")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == ('error: action: "instal" is not one of install, os, stateless\n'
                        '  hint: did you mean "install"?\n')
    ok(rocks("list", "host", "boot"), "HOST         ACTION\ncompute-0-0  os\ncompute-0-1  os\n")


# ---------------------------------------------------------------- interfaces


def test_add_and_list_interfaces(rocks: Rocks) -> None:
    ok(rocks("add", "host", "interface", "compute-0-1", "iface=eth0", "ip=10.1.255.253",
             "mac=52-54-00-00-00-02"))  # network= found from the address; MAC normalised
    ok(rocks("add", "host", "interface", "compute-0-1", "ipmi", "ip=10.2.0.9", "network=ipmi",
             "name=c1-ipmi", "module=ipmi_si", "vlan=7", "options=lan"))
    ok(rocks("list", "host", "interface"),
       "HOST         DEVICE  MAC                IP            NETWORK  NAME     MODULE   VLAN"
       "  OPTIONS  BMC\n"
       "compute-0-0  eth0    52:54:00:00:00:01  10.1.255.254  private  -        -        -"
       "     -        -\n"
       "compute-0-1  eth0    52:54:00:00:00:02  10.1.255.253  private  -        -        -"
       "     -        -\n"
       "compute-0-1  ipmi    -                  10.2.0.9      ipmi     c1-ipmi  ipmi_si  7"
       "     lan      -\n")
    ok(rocks("report", "nextip", "private"), "10.1.255.252\n")
    ok(rocks("remove", "host", "interface", "compute-0-1", "ipmi"))
    ok(rocks("list", "host", "interface", "compute-0-1", "output-format=csv"),
       "host,device,mac,ip,network,name,module,vlan,options,bmc\n"
       "compute-0-1,eth0,52:54:00:00:00:02,10.1.255.253,private,,,,,\n")


@pytest.mark.parametrize(("argv", "message", "code", "hint"), [
    (("eth0", "ip=10.1.255.254", "network=private"),
     "IP 10.1.255.254 for host compute-0-1 on network private is already used by compute-0-0 "
     "eth0", "duplicate-ip", "see `rocks report nextip` for a free address"),
    (("eth0", "mac=52:54:00:00:00:01"),
     "MAC 52:54:00:00:00:01 for host compute-0-1 is already used by compute-0-0 eth0",
     "duplicate-mac", "each MAC address belongs to one interface"),
    (("eth0", "ip=10.2.0.1", "network=private"),
     "host compute-0-1 eth0: 10.2.0.1 is not inside network private (10.1.0.0/16)",
     "ip-outside-network", "choose an address in 10.1.0.0/16, or another network"),
    (("eth0", "mac=52:54:00:00:01"),
     "'52:54:00:00:01' for host compute-0-1 is not an Ethernet MAC address", "bad-mac",
     "write six hex octets, e.g. 52:54:00:12:34:56"),
    (("eth0", "ip=10.1.0.300", "network=private"),
     "'10.1.0.300' for host compute-0-1 is not an IP address", "bad-ip", "e.g. 10.1.255.254"),
    (("eth0", "network=privat"), 'unknown network "privat"', "unknown-network",
     'did you mean "private"?'),
    (("eth0", "ip=10.9.0.1"), "host compute-0-1 eth0: ip 10.9.0.1 needs network= (no network "
     "holds it)", "missing-network", "see `rocks list network`"),
])
def test_add_interface_errors(rocks: Rocks, argv: tuple[str, ...], message: str, code: str,
                              hint: str) -> None:
    fails(rocks("add", "host", "interface", "compute-0-1", *argv), message, code, hint)
    unchanged(rocks)


def test_add_interface_twice_and_to_unknown_host(rocks: Rocks) -> None:
    fails(rocks("add", "host", "interface", "compute-0-0", "eth0"),
          "host compute-0-0 already has an interface eth0", "duplicate-interface",
          "remove it first, or use `rocks set host interface …`")
    fails(rocks("add", "host", "interface", "compute-0-9", "eth0"), 'unknown host "compute-0-9"',
          "unknown-host", 'did you mean "compute-0-1"?')
    fails(rocks("remove", "host", "interface", "compute-0-1", "eth0"),
          "host compute-0-1 has no interface eth0", "unknown-interface",
          "see `rocks list host interface compute-0-1`")
    unchanged(rocks)


def test_set_interface_fields(rocks: Rocks) -> None:
    ok(rocks("set", "host", "interface", "ip", "compute-0-0", "eth0", "10.1.255.250"))
    ok(rocks("set", "host", "interface", "mac", "compute-0-0", "iface=eth0",
             "mac=52:54:00:AB:CD:EF"))
    ok(rocks("set", "host", "interface", "module", "compute", "eth0", "virtio_net"))
    ok(rocks("set", "host", "interface", "vlan", "compute-0-0", "eth0", "vlan=12"))
    ok(rocks("set", "host", "interface", "options", "compute-0-0", "eth0", "options=mode=4"))
    ok(rocks("set", "host", "interface", "iface", "compute-0-0", "iface=ens3",
             "mac=52:54:00:ab:cd:ef"))
    ok(rocks("list", "host", "interface"),
       "HOST         DEVICE  MAC                IP            NETWORK  NAME  MODULE      VLAN"
       "  OPTIONS  BMC\n"
       "compute-0-0  ens3    52:54:00:ab:cd:ef  10.1.255.250  private  -     virtio_net  12"
       "    mode=4   -\n")
    ok(rocks("set", "host", "interface", "ip", "compute-0-0", "ens3", "none"))
    ok(rocks("set", "host", "interface", "network", "compute-0-0", "ens3", "ipmi"))
    ok(rocks("set", "host", "interface", "ip", "compute-0-0", "ens3", "10.2.0.3"))
    ok(rocks("set", "host", "interface", "vlan", "compute-0-0", "ens3", "none"))
    ok(rocks("list", "host", "interface", "output-format=csv"),
       "host,device,mac,ip,network,name,module,vlan,options,bmc\n"
       "compute-0-0,ens3,52:54:00:ab:cd:ef,10.2.0.3,ipmi,,virtio_net,,mode=4,\n")


@pytest.mark.parametrize(("argv", "message", "code", "hint"), [
    (("ip", "compute-0-0", "eth0", "10.2.0.1"),
     "host compute-0-0 eth0: 10.2.0.1 is not inside network private (10.1.0.0/16)",
     "ip-outside-network", "choose an address in 10.1.0.0/16, or another network"),
    (("ip", "compute-0-0", "eth1", "10.1.0.1"), "host compute-0-0 has no interface eth1",
     "unknown-interface", "see `rocks list host interface compute-0-0`"),
    (("mac", "compute-0-0", "eth0", "nonsense"),
     "'nonsense' for host compute-0-0 is not an Ethernet MAC address", "bad-mac",
     "write six hex octets, e.g. 52:54:00:12:34:56"),
    (("network", "compute-0-0", "eth0", "ipmi"),
     "host compute-0-0 eth0: 10.1.255.254 is not inside network ipmi (10.2.0.0/24)",
     "ip-outside-network", "choose an address in 10.2.0.0/24, or another network"),
    (("network", "compute-0-0", "eth0", "impi"), 'unknown network "impi"', "unknown-network",
     'did you mean "ipmi"?'),
    (("iface", "compute-0-0", "eth1", "52:54:00:00:00:09"),
     "host compute-0-0 has no interface with MAC 52:54:00:00:00:09", "unknown-interface",
     "see `rocks list host interface compute-0-0`"),
    (("module", "compute", "eth1", "e1000"), "host compute-0-0 has no interface eth1",
     "unknown-interface", "see `rocks list host interface compute-0-0`"),
    (("ip", "compute-0-9", "eth0", "10.1.0.1"), 'unknown host "compute-0-9"', "unknown-host",
     'did you mean "compute-0-1"?'),
])
def test_set_interface_errors(rocks: Rocks, argv: tuple[str, ...], message: str, code: str,
                              hint: str) -> None:
    fails(rocks("set", "host", "interface", *argv), message, code, hint)
    unchanged(rocks)


def test_set_interface_duplicate_ip_and_mac_name_the_owner(rocks: Rocks) -> None:
    ok(rocks("add", "host", "interface", "compute-0-1", "eth0", "ip=10.1.255.253",
             "mac=52:54:00:00:00:02"))
    before = rocks("list", "host", "interface").stdout
    fails(rocks("set", "host", "interface", "ip", "compute-0-1", "eth0", "10.1.255.254"),
          "IP 10.1.255.254 for host compute-0-1 on network private is already used by "
          "compute-0-0 eth0", "duplicate-ip", "see `rocks report nextip` for a free address")
    fails(rocks("set", "host", "interface", "mac", "compute-0-1", "eth0", "52:54:00:00:00:01"),
          "MAC 52:54:00:00:00:01 for host compute-0-1 is already used by compute-0-0 eth0",
          "duplicate-mac", "each MAC address belongs to one interface")
    ok(rocks("list", "host", "interface"), before)


def test_set_interface_vlan_must_be_a_vlan_id(rocks: Rocks) -> None:
    r = rocks("set", "host", "interface", "vlan", "compute-0-0", "eth0", "5000")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == 'error: vlan: "5000" is not a VLAN id (1-4094, or none)\n'
    unchanged(rocks)
