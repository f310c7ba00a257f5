"""Networks are the source of the network facts, through the real CLI on SQLite and PostgreSQL.

A cluster on 192.168.10.0/24 (not the base roll's 10.1.0.0/16 defaults): the kickstart, DHCP,
DNS and /etc/hosts all take the netmask, gateway, name server, URLs and domain from the network
and the frontend host; explicit attributes still win, with a warning; `set network` changes
them all at once and refuses to strand an interface; hosts are named by IP, MAC or FQDN.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest

from rocks.cli.context import CliResult
from tests.cli.inventory_fixtures import Rocks, rocks_env
from tests.sync.conftest import need

__all__ = ["rocks_env"]

NETWORK_LINE = (
    "network --bootproto=static --device=52:54:00:00:02:00 --ip=192.168.10.20 "
    "--netmask=255.255.255.0 --gateway=192.168.10.1 --nameserver=192.168.10.1 "
    "--hostname=compute-0-0.local --onboot=yes --activate")


def ok(r: CliResult) -> str:
    assert (r.code, r.stderr) == (0, ""), r
    return r.stdout


def fails(r: CliResult) -> str:
    assert (r.code, r.stdout) == (2, ""), r
    return r.stderr


def attr_rows(out: str) -> dict[str, tuple[str, str]]:
    """`list host attr … output-format=csv` → attr → (value, source)."""
    return {row["attr"]: (row["value"], row["source"])
            for row in csv.DictReader(io.StringIO(out))}


def files(report: str) -> dict[str, str]:
    """A `report host …` output (`# <path>` headers) → path → content."""
    parts = re.split(r"^# (\S+)\n", report, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def kickstart_line(ks: str, prefix: str) -> str:
    return next(ln for ln in ks.splitlines() if ln.startswith(prefix))


@pytest.fixture
def rocks(rocks_env: Rocks) -> Rocks:
    """The issue's scenario: a private network that is not the base roll's default."""
    for argv in (
        ("add", "network", "private", "subnet=192.168.10.0", "netmask=255.255.255.0", "pxe=yes",
         "servedns=yes"),
        ("add", "host", "fe", "appliance=frontend"),
        ("add", "host", "interface", "fe", "eth0", "ip=192.168.10.1", "mac=52:54:00:00:01:01",
         "network=private"),
        ("add", "host", "compute-0-0", "appliance=compute"),
        ("add", "host", "interface", "compute-0-0", "eth0", "ip=192.168.10.20",
         "mac=52:54:00:00:02:00", "network=private"),
    ):
        ok(rocks_env(*argv))
    return rocks_env


def test_kickstart_dhcp_dns_and_hosts_take_the_network(rocks: Rocks, tmp_path: Path) -> None:
    ks = ok(rocks("list", "host", "profile", "compute-0-0"))
    assert kickstart_line(ks, "network ") == NETWORK_LINE
    assert kickstart_line(ks, "url ") == "url --url=http://192.168.10.1:8080/install/distro"
    assert "--add-source=192.168.10.0/24" in ks  # firewall: the network and its CIDR
    assert "192.168.10.1\tfe.local fe" in ks  # the node's /etc/hosts names its frontend
    assert "10.1." not in ks  # nothing left of the base roll's network defaults
    fqdn = re.search(r"--hostname=(\S+)", NETWORK_LINE)
    assert fqdn is not None and fqdn.group(1) == "compute-0-0.local"

    dhcpd = ok(rocks("report", "host", "dhcpd"))
    conf = files(dhcpd)["etc/dhcp/dhcpd.conf"]
    assert "next-server 192.168.10.1;" in conf and "10.1.1.1" not in conf
    assert "option routers 192.168.10.1;" in conf
    assert 'option domain-name "local";' in conf
    assert "option domain-name-servers 192.168.10.1;" in conf
    assert '"http://192.168.10.1:8080/boot/ipxe' in conf
    (tmp_path / "dhcpd.conf").write_text(conf)
    res = subprocess.run([need("dhcpd"), "-t", "-4", "-cf", str(tmp_path / "dhcpd.conf")],
                         capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, res.stderr

    hosts = files(ok(rocks("report", "host", "hosts")))["etc/hosts"]
    assert "192.168.10.20\tcompute-0-0.local compute-0-0\n" in hosts
    assert "192.168.10.1\tfe.local fe\n" in hosts and "10.1.1.1" not in hosts

    zones = {p: t for p, t in files(ok(rocks("report", "host", "dns"))).items()
             if p.endswith(".zone")}
    assert sorted(zones) == ["var/named/rocks/10.168.192.in-addr.arpa.zone",
                             "var/named/rocks/local.zone"]
    assert "compute-0-0 IN A 192.168.10.20" in zones["var/named/rocks/local.zone"]
    for path, text in zones.items():
        (tmp_path / "zone").write_text(text)
        name = Path(path).name.removesuffix(".zone")
        res = subprocess.run([need("named-checkzone"), name, str(tmp_path / "zone")],
                             capture_output=True, text=True, check=False, timeout=60)
        assert res.returncode == 0, res.stdout


def test_list_host_attr_says_network(rocks: Rocks) -> None:
    attrs = attr_rows(ok(rocks("list", "host", "attr", "compute-0-0", "output-format=csv")))
    assert {k: v for k, v in attrs.items() if v[1] == "N"} == {
        "Kickstart_PrivateAddress": ("192.168.10.1", "N"),
        "Kickstart_PrivateHostname": ("fe", "N"),
        "Kickstart_PrivateInterface": ("eth0", "N"),
        "Kickstart_PrivateNetwork": ("192.168.10.0", "N"),
        "Kickstart_PrivateNetmask": ("255.255.255.0", "N"),
        "Kickstart_PrivateNetmaskCIDR": ("24", "N"),
        "Kickstart_PrivateBroadcast": ("192.168.10.255", "N"),
        "Kickstart_PrivateMTU": ("1500", "N"),
        "Kickstart_PrivateGateway": ("192.168.10.1", "N"),
        "Kickstart_PrivateDNSServers": ("192.168.10.1", "N"),
        "Kickstart_PrivateDNSDomain": ("local", "N"),
        "Kickstart_PrivateKickstartHost": ("192.168.10.1", "N"),
        "Kickstart_PrivateNTPHost": ("192.168.10.1", "N"),
        "Kickstart_PrivateSyslogHost": ("192.168.10.1", "N"),
        "Kickstart_FrontendURL": ("http://192.168.10.1:8080", "N"),
        "Kickstart_DistroURL": ("http://192.168.10.1:8080/install/distro", "N"),
        "nfs_server": ("192.168.10.1", "N"),
    }
    assert attrs["Kickstart_Timezone"] == ("UTC", "R")
    assert attrs["hostaddr"] == ("192.168.10.20", "I")


def test_public_network_facts(rocks: Rocks) -> None:
    ok(rocks("add", "network", "public", "subnet=198.51.100.0", "netmask=255.255.255.0",
             "gateway=198.51.100.254", "zone=example.org"))
    ok(rocks("add", "host", "interface", "fe", "eth1", "ip=198.51.100.7", "network=public"))
    attrs = attr_rows(ok(rocks("list", "host", "attr", "compute-0-0", "attr=Kickstart_Public*",
                               "output-format=csv")))
    assert attrs == {
        "Kickstart_PublicAddress": ("198.51.100.7", "N"),
        "Kickstart_PublicBroadcast": ("198.51.100.255", "N"),
        "Kickstart_PublicDNSDomain": ("example.org", "N"),
        "Kickstart_PublicGateway": ("198.51.100.254", "N"),
        "Kickstart_PublicHostname": ("fe.example.org", "N"),
        "Kickstart_PublicInterface": ("eth1", "N"),
        "Kickstart_PublicKickstartHost": ("198.51.100.7", "N"),
        "Kickstart_PublicMTU": ("1500", "N"),
        "Kickstart_PublicNTPHost": ("pool.ntp.org", "R"),
        "Kickstart_PublicNetmask": ("255.255.255.0", "N"),
        "Kickstart_PublicNetmaskCIDR": ("24", "N"),
        "Kickstart_PublicNetwork": ("198.51.100.0", "N"),
    }


def test_roll_default_without_networks(rocks_env: Rocks) -> None:
    ok(rocks_env("add", "host", "compute-0-0", "appliance=compute"))
    attrs = attr_rows(ok(rocks_env("list", "host", "attr", "compute-0-0",
                                   "attr=Kickstart_PrivateNetmask", "output-format=csv")))
    assert attrs == {"Kickstart_PrivateNetmask": ("255.255.0.0", "R")}


def test_explicit_attribute_wins_with_a_warning(rocks: Rocks) -> None:
    ok(rocks("set", "attr", "Kickstart_PrivateNetmask", "255.255.0.0"))
    ok(rocks("set", "host", "attr", "compute-0-0", "Kickstart_PrivateDNSServers", "9.9.9.9"))
    ks = ok(rocks("list", "host", "profile", "compute-0-0"))
    assert "--netmask=255.255.0.0 --gateway=192.168.10.1 --nameserver=9.9.9.9 " in ks
    attrs = attr_rows(ok(rocks("list", "host", "attr", "compute-0-0", "attr=Kickstart_Private*",
                               "output-format=csv")))
    assert attrs["Kickstart_PrivateNetmask"] == ("255.255.0.0", "G")
    assert attrs["Kickstart_PrivateDNSServers"] == ("9.9.9.9", "H")
    assert attrs["Kickstart_PrivateGateway"] == ("192.168.10.1", "N")

    warnings = (
        "warning: attribute Kickstart_PrivateNetmask = '255.255.0.0' (global) disagrees with "
        "network private, which gives '255.255.255.0'; the explicit value wins "
        "[network-fact-overridden]\n"
        "  hint: drop it (rocks remove attr Kickstart_PrivateNetmask), or if it is right: rocks "
        "set network private netmask=255.255.0.0\n"
        "warning: attribute Kickstart_PrivateDNSServers = '9.9.9.9' (host compute-0-0) disagrees "
        "with frontend fe on network private, which gives '192.168.10.1'; the explicit value "
        "wins [network-fact-overridden]\n"
        "  hint: drop it (rocks remove host attr compute-0-0 Kickstart_PrivateDNSServers), or if "
        "it is right: rocks set network …, or the frontend's interface\n")
    r = rocks("check", "graph")
    assert r.code == 0 and r.stdout.endswith(": 0 errors, 2 warnings\n")
    assert r.stderr == warnings
    r = rocks("sync", "config", "loaders=no")
    assert r.code == 0 and r.stderr.startswith(warnings)

    # an explicit value equal to the network's is no disagreement
    ok(rocks("set", "attr", "Kickstart_PrivateNetmask", "255.255.255.0"))
    ok(rocks("remove", "host", "attr", "compute-0-0", "Kickstart_PrivateDNSServers"))
    r = rocks("check", "graph")
    assert (r.code, r.stderr) == (0, "") and r.stdout.endswith(": 0 errors, 0 warnings\n")


def test_no_frontend_on_the_network_is_a_warning(rocks_env: Rocks) -> None:
    ok(rocks_env("add", "network", "private", "subnet=192.168.10.0", "netmask=255.255.255.0",
                 "pxe=yes"))
    r = rocks_env("check", "graph")
    assert r.code == 0
    assert ("warning: Kickstart_PrivateKickstartHost is '10.1.1.1' (a roll default), outside "
            "network private (192.168.10.0/24): no frontend host has an address on it "
            "[network-fact-missing]") in r.stderr
    # an explicit kickstart host inside the network is the admin's answer: no warning for it
    ok(rocks_env("set", "attr", "Kickstart_PrivateKickstartHost", "192.168.10.1"))
    assert "Kickstart_PrivateKickstartHost" not in rocks_env("check", "graph").stderr


def test_one_domain_for_the_readme_network(rocks_env: Rocks) -> None:
    """The README tour's network has no zone=: Rocks' rule makes the private zone "local"."""
    for argv in (
        ("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes"),
        ("add", "network", "ipmi", "subnet=10.2.0.0", "netmask=255.255.255.0"),
        ("add", "host", "compute-0-0", "appliance=compute", "rack=0", "rank=0"),
        ("add", "host", "interface", "compute-0-0", "eth0", "ip=10.1.255.254",
         "mac=52:54:00:00:02:00", "network=private"),
    ):
        ok(rocks_env(*argv))
    assert ok(rocks_env("list", "network", "output-format=csv")).splitlines()[1:] == [
        "ipmi,10.2.0.0,255.255.255.0,1500,ipmi,no,no,",
        "private,10.1.0.0,255.255.0.0,1500,local,no,yes,",
    ]
    ks = ok(rocks_env("list", "host", "profile", "compute-0-0"))
    assert "--hostname=compute-0-0.local " in ks
    assert "10.1.255.254\tcompute-0-0.local compute-0-0\n" in ok(
        rocks_env("report", "host", "hosts"))
    assert 'option domain-name "local";' in ok(rocks_env("report", "host", "dhcpd"))
    # dump leaves the default zone out, so a restore gives the same network
    dump = ok(rocks_env("dump", "section=commands"))
    assert ("rocks add network private subnet=10.1.0.0 netmask=255.255.0.0 pxe=yes\n"
            in dump)


NETWORKS_HEADER = "network,subnet,netmask,mtu,zone,servedns,pxe,gateway"


def test_set_network(rocks: Rocks) -> None:
    ok(rocks("set", "network", "private", "netmask=255.255.255.128"))
    ok(rocks("set", "network", "private", "zone=cluster.example.org", "mtu=9000",
             "gateway=192.168.10.126", "servedns=no"))
    assert ok(rocks("list", "network", "output-format=csv")).splitlines() == [
        NETWORKS_HEADER,
        "private,192.168.10.0,255.255.255.128,9000,cluster.example.org,no,yes,192.168.10.126"]
    ks = ok(rocks("list", "host", "profile", "compute-0-0"))
    assert ("--netmask=255.255.255.128 --gateway=192.168.10.126 --nameserver=192.168.10.1 "
            "--hostname=compute-0-0.cluster.example.org ") in ks
    dhcpd = ok(rocks("report", "host", "dhcpd"))
    assert "subnet 192.168.10.0 netmask 255.255.255.128 {" in dhcpd
    assert "option routers 192.168.10.126;" in dhcpd and "option interface-mtu 9000;" in dhcpd
    assert 'option domain-name "cluster.example.org";' in dhcpd
    assert "compute-0-0.cluster.example.org compute-0-0" in ok(rocks("report", "host", "hosts"))
    # gateway= removes the network's gateway: the frontend routes again; pxe=no stops DHCP
    ok(rocks("set", "network", "private", "gateway=", "pxe=no"))
    assert "--gateway=192.168.10.1 " in ok(rocks("list", "host", "profile", "compute-0-0"))
    assert "subnet 192.168.10.0" not in ok(rocks("report", "host", "dhcpd"))
    # a bigger network keeps every address inside
    ok(rocks("set", "network", "private", "subnet=192.168.0.0", "netmask=255.255.0.0"))
    assert ok(rocks("list", "network", "private", "output-format=csv")).splitlines()[1] == (
        "private,192.168.0.0,255.255.0.0,9000,cluster.example.org,no,no,")


@pytest.mark.parametrize(("argv", "error"), [
    (("netmask=255.255.255.240",),
     "error: network private: host compute-0-0 interface eth0 address 192.168.10.20 is not "
     "inside 192.168.10.0/28 [ip-outside-network]\n"
     "  hint: move it first: rocks set host interface ip compute-0-0 eth0 <address in "
     "192.168.10.0/28>\n"),
    (("subnet=10.9.0.0", "netmask=255.255.0.0"),
     "error: network private: host compute-0-0 interface eth0 address 192.168.10.20 is not "
     "inside 10.9.0.0/16 [ip-outside-network]\n"
     "  hint: move it first: rocks set host interface ip compute-0-0 eth0 <address in "
     "10.9.0.0/16>\n"
     "error: network private: host fe interface eth0 address 192.168.10.1 is not inside "
     "10.9.0.0/16 [ip-outside-network]\n"
     "  hint: move it first: rocks set host interface ip fe eth0 <address in 10.9.0.0/16>\n"),
    (("subnet=192.168.10.24", "netmask=255.255.255.248"),
     "error: network private: host compute-0-0 interface eth0 address 192.168.10.20 is not "
     "inside 192.168.10.24/29 [ip-outside-network]\n"
     "  hint: move it first: rocks set host interface ip compute-0-0 eth0 <address in "
     "192.168.10.24/29>\n"
     "error: network private: host fe interface eth0 address 192.168.10.1 is not inside "
     "192.168.10.24/29 [ip-outside-network]\n"
     "  hint: move it first: rocks set host interface ip fe eth0 <address in "
     "192.168.10.24/29>\n"),
    (("subnet=192.168.10.18", "netmask=255.255.255.252"),
     "error: network private: 192.168.10.18/255.255.255.252 is not a network (… has host bits "
     "set) [bad-network]\n  hint: give the network address and its mask, e.g. subnet=10.1.0.0 "
     "netmask=255.255.0.0\n"),
    (("netmask=255.255.255.224", "subnet=192.168.10.0", "gateway=192.168.10.100"),
     "error: gateway 192.168.10.100 is not inside network private (192.168.10.0/27) "
     "[ip-outside-network]\n  hint: choose an address in 192.168.10.0/27\n"),
    (("zone=bad zone",),
     "error: network private: zone 'bad zone' is not a DNS domain: a DNS domain is "
     "dot-separated labels of letters, digits and '-', e.g. local [bad-zone]\n"
     "  hint: e.g. zone=cluster.local (letters, digits and '-' between dots)\n"),
    (("mtu=0",), "error: network private: mtu 0 is not positive [bad-mtu]\n"),
    ((), "error: network private: nothing to change [nothing-to-set]\n"
         "  hint: give one or more of subnet= netmask= zone= mtu= gateway= servedns= pxe=\n"),
])
def test_set_network_refusals_change_nothing(rocks: Rocks, argv: tuple[str, ...],
                                             error: str) -> None:
    before = ok(rocks("list", "network"))
    ks = ok(rocks("list", "host", "profile", "compute-0-0"))
    got = fails(rocks("set", "network", "private", *argv))
    if "…" in error:
        head, tail = error.split("…")
        assert got.startswith(head) and got.endswith(tail), got
    else:
        assert got == error
    assert ok(rocks("list", "network")) == before
    assert ok(rocks("list", "host", "profile", "compute-0-0")) == ks


def test_set_network_broadcast_and_unknown(rocks: Rocks) -> None:
    ok(rocks("add", "host", "compute-0-1", "appliance=compute"))
    ok(rocks("add", "host", "interface", "compute-0-1", "eth0", "ip=192.168.10.127",
             "network=private"))
    assert fails(rocks("set", "network", "private", "netmask=255.255.255.128")) == (
        "error: network private: host compute-0-1 interface eth0 address 192.168.10.127 would "
        "be the broadcast address of 192.168.10.0/25 [ip-outside-network]\n"
        "  hint: move it first: rocks set host interface ip compute-0-1 eth0 <address in "
        "192.168.10.0/25>\n")
    assert fails(rocks("set", "network", "privat", "mtu=9000")) == (
        'error: unknown network "privat" [unknown-network]\n  hint: did you mean "private"?\n')


def test_host_arguments_by_ip_mac_and_fqdn(rocks: Rocks) -> None:
    ok(rocks("add", "network", "ipmi", "subnet=10.2.0.0", "netmask=255.255.255.0"))
    ok(rocks("add", "host", "interface", "compute-0-0", "ipmi", "ip=10.2.0.20",
             "name=compute-0-0-bmc", "network=ipmi"))
    expect = "compute-0-0\n"
    for word in ("192.168.10.20", "10.2.0.20", "52:54:00:00:02:00", "52-54-00-00-02-00",
                 "5254.0000.0200", "compute-0-0.local", "COMPUTE-0-0.LOCAL.",
                 "compute-0-0-bmc.ipmi"):
        out = ok(rocks("list", "host", word, "output-format=csv"))
        assert out.splitlines()[1:] == [f"{expect.strip()},compute,0,0,linux,os,install,os,"], word
    # a mix of words, as any host argument: names, addresses, appliances
    out = ok(rocks("list", "host", "192.168.10.1", "compute-0-0.local", "output-format=csv"))
    assert [ln.split(",")[0] for ln in out.splitlines()[1:]] == ["compute-0-0", "fe"]
    # every command that takes hosts
    ok(rocks("set", "host", "attr", "192.168.10.20", "x11", "yes"))
    attrs = attr_rows(ok(rocks("list", "host", "attr", "52:54:00:00:02:00", "attr=x11",
                               "output-format=csv")))
    assert attrs == {"x11": ("yes", "H")}
    assert "--hostname=compute-0-0.local" in ok(
        rocks("list", "host", "profile", "compute-0-0.local"))
    # a domain that is not the host's, an unknown address, an unknown MAC
    for word in ("compute-0-0.ipmi", "compute-0-0.example.org", "192.168.10.99",
                 "52:54:00:00:09:99"):
        assert fails(rocks("list", "host", word)).startswith(f'error: unknown host "{word}"')


def test_list_attr_shows_roll_defaults_with_doc(rocks_env: Rocks) -> None:
    out = ok(rocks_env("list", "attr", "output-format=csv"))
    rows = {r["attr"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["Kickstart_PrivateNetmask"] == {
        "attr": "Kickstart_PrivateNetmask", "value": "255.255.0.0", "source": "R",
        "doc": "netmask of the private cluster network, dotted quad"}
    assert rows["rootpw_hash"]["value"] == "********"  # declared secret by the base roll
    assert {r["source"] for r in rows.values()} == {"R"}
    table = ok(rocks_env("list", "attr", "attr=Kickstart_Timezone"))
    assert table.splitlines() == [
        "ATTR                VALUE  SOURCE  DOC",
        "Kickstart_Timezone  UTC    R       time zone name, e.g. Europe/Berlin (hardware clock "
        "is UTC)"]
    # a network makes N; an explicit global G (with the declaration's doc)
    ok(rocks_env("add", "network", "private", "subnet=192.168.10.0", "netmask=255.255.255.0"))
    ok(rocks_env("set", "attr", "Kickstart_Timezone", "Europe/Paris"))
    out = ok(rocks_env("list", "attr", "attr=Kickstart_*", "output-format=csv"))
    rows = {r["attr"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["Kickstart_PrivateNetmask"]["value"] == "255.255.255.0"
    assert rows["Kickstart_PrivateNetmask"]["source"] == "N"
    assert (rows["Kickstart_Timezone"]["value"], rows["Kickstart_Timezone"]["source"]) == (
        "Europe/Paris", "G")
    assert rows["Kickstart_Timezone"]["doc"].startswith("time zone name")
    assert ok(rocks_env("list", "attr", "defaults=no")) == (
        "ATTR                VALUE\nKickstart_Timezone  Europe/Paris\n")
