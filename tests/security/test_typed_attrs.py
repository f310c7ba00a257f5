"""Attributes are typed: the rolls declare each attribute's type and secrecy in roll.xml; every
write path refuses a value that does not fit (exit 2, nothing changed, the scope and attribute
named) and stores a declared secret as secret whatever flag it was given."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from lxml import etree

from rocks.model.attrtypes import TYPES, check_value
from tests.security.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
ED25519 = "ssh-ed25519 " + base64.b64encode(
    b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(range(32))).decode() + " root@frontend"
HASH = ("$6$saltsalt$Vq1XbE0y0nQx3oWc5Zk1b0Yt3S6t8QmFh0QHf8m1b2s.Q2y8j7k6l5m4n3o2p1q0r9s8t7u6v5"
        "w4x3y2z1")

BAD = [  # (attribute, value that does not fit, its declared type)
    ("x11", "maybe", "bool"),
    ("root_size", "32G", "int"),
    ("Kickstart_PrivateKickstartHost", "10.1.1.300", "ipv4"),
    ("Kickstart_PrivateNetmask", "255.0.255.0", "netmask"),
    ("Kickstart_FrontendURL", "http://10.1.1.1:8080;reboot", "url"),
    ("Kickstart_PrivateDNSServers", "10.1.1.1, 8.8.8.8", "ipv4-list"),
    ("Kickstart_PrivateDNSDomain", "local\n}", "domain"),
    ("Kickstart_Timezone", "UTC\x0b%post", "word"),
    ("data_mount", "/state/../etc", "path"),
    ("nfs_exports", "/export;reboot", "list-of-paths"),
    ("access_users", "alice' ; rm -rf / #", "list-of-names"),
    ("root_ssh_pubkey", "ssh-ed25519 AAAA\nROCKS-EOF\nreboot", "ssh-pubkey"),
    ("rootpw_hash", "hunter2", "crypt-hash"),
    ("selinux", "off", "name"),
    ("Info_ClusterName", "Cluster\u2028%post", "string"),
    ("undeclared_attr", "two\rlines", "string"),
]
GOOD = {  # a value of each type that fits, through the attribute the base roll declares so
    "x11": "yes", "root_size": "65536", "Kickstart_PrivateKickstartHost": "10.1.1.2",
    "Kickstart_PrivateNetmask": "255.255.255.0", "Kickstart_FrontendURL": "http://fe:8080",
    "Kickstart_PrivateDNSServers": "10.1.1.1,10.1.1.2", "Kickstart_PrivateDNSDomain": "hpc.lab",
    "Kickstart_Timezone": "Europe/Paris", "data_mount": "/state/partition1",
    "nfs_exports": "/export /scratch", "access_users": "alice,bob", "root_ssh_pubkey": ED25519,
    "rootpw_hash": HASH, "selinux": "permissive", "Info_ClusterName": "Bob's cluster (test)",
}


def declared_types() -> dict[str, str]:
    root = etree.parse(str(REPO / "rocks/data/rolls/base/roll.xml")).getroot()
    return {el.get("name"): el.get("type") for el in root.iterfind("attribute")}


def test_every_base_roll_attribute_declares_a_known_type() -> None:
    types = declared_types()
    assert types and all(t in TYPES for t in types.values()), types
    for attr, _value, type_name in BAD:
        assert types.get(attr, "string") == type_name


def test_help_lists_the_type_table() -> None:
    from rocks.cli.context import run_cli

    for noun in (("attr",), ("host", "attr"), ("appliance", "attr"), ("os", "attr")):
        out = run_cli(["set", *noun, "help"]).stdout
        for t in TYPES.values():
            assert f"{t.name}" in out and t.summary in out
        assert "An attribute no roll declares is a string" in out
        assert "declares secret is stored secret" in out


@pytest.mark.parametrize(("attr", "value", "type_name"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_values_are_refused_by_set_at_every_scope(cluster: Cli, attr: str, value: str,
                                                      type_name: str) -> None:
    before = cluster.dump()
    for scope, target, where in ((("attr",), (), "global"),
                                 (("os", "attr"), ("linux",), "os linux"),
                                 (("appliance", "attr"), ("compute",), "appliance compute"),
                                 (("host", "attr"), ("compute-0-0", "compute-0-1"),
                                  "host compute-0-1")):
        err = cluster.refused("set", *scope, *target, attr, value)
        assert f"error: {where}: attribute {attr}: " in err
        assert f"is not {'an' if type_name[0] in 'aeiou' else 'a'} {type_name}" in err or \
            "is not one of" in err
        assert "[bad-attr-value]" in err
    assert cluster.refused("add", "host", "attr", "compute-0-0", attr, value)
    assert cluster.dump() == before


def test_good_values_are_stored(cluster: Cli) -> None:
    for attr, value in GOOD.items():
        cluster.ok("set", "host", "attr", "compute-0-0", attr, value)
    shown = json.loads(cluster.ok("list", "host", "attr", "compute-0-0", "output-format=json"))
    values = {r["attr"]: r["value"] for r in shown}
    for attr, value in GOOD.items():
        assert values[attr] == ("********" if attr == "rootpw_hash" else value)


def test_attrfile_refuses_every_bad_cell_and_loads_nothing(cluster: Cli, tmp_path: Path) -> None:
    import csv
    import io

    before = cluster.dump()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow(["target", *(b[0] for b in BAD), "Kickstart_Lang"])
    w.writerow(["global", *(b[1] for b in BAD), "en_GB.UTF-8"])
    w.writerow(["compute-0-1", *("" for _ in BAD), "fr_FR.UTF-8"])
    path = tmp_path / "attrs.csv"
    path.write_text(buf.getvalue())
    err = cluster.refused("load", "attrfile", str(path))
    for attr, _value, _type in BAD:
        assert f"{path}:2: error: global: attribute {attr}: " in err
    assert "hunter2" not in err  # rootpw_hash is declared secret: its value is not echoed
    assert cluster.dump() == before


def test_hostfile_attr_columns_are_checked(cluster: Cli, tmp_path: Path) -> None:
    before = cluster.dump()
    path = tmp_path / "hosts.csv"
    path.write_text(
        "name,appliance,rack,rank,interface,ip,mac,network,attr:x11,attr:Kickstart_Timezone\n"
        "compute-0-5,compute,0,5,eth0,10.1.255.240,52:54:00:00:02:05,private,no,UTC\n"
        "compute-0-6,compute,0,6,eth0,10.1.255.239,52:54:00:00:02:06,private,perhaps,UTC\n"
        'compute-0-7,compute,0,7,eth0,10.1.255.238,52:54:00:00:02:07,private,no,"UTC\n'
        '%post"\n')
    err = cluster.refused("load", "hostfile", str(path))
    assert f"{path}:3: error: host compute-0-6: attribute x11: 'perhaps' is not a bool" in err
    assert f"{path}:4: error: host compute-0-7: attribute Kickstart_Timezone: " in err
    assert cluster.dump() == before


def test_rootpw_hash_is_stored_secret_without_secret_flag(cluster: Cli, tmp_path: Path) -> None:
    cluster.ok("set", "attr", "rootpw_hash", HASH)
    assert cluster.ok("list", "attr", "attr=rootpw_hash", "defaults=no") == (
        "ATTR         VALUE\nrootpw_hash  ********\n")
    listed = cluster.ok("list", "attr", "attr=rootpw_hash")
    assert "rootpw_hash  ********  G" in listed and HASH not in listed
    assert HASH not in cluster.ok("list", "host", "attr", "compute-0-0")
    assert f"secret:rootpw_hash\n{'global'},{HASH}" in cluster.ok("dump", "section=attrfile")
    # secret=no cannot make a declared secret plain
    r = cluster("set", "host", "attr", "compute-0-1", "rootpw_hash", HASH, "secret=no")
    assert r.code == 0
    assert "warning: rootpw_hash is declared secret by its roll: it is stored secret" in r.stderr
    assert HASH not in cluster.ok("list", "host", "attr")
    # a plain column of an attribute file and an attr: column of a host file store it secret
    (tmp_path / "a.csv").write_text(f"target,rootpw_hash\nappliance:compute,{HASH}\n")
    assert "rootpw_hash=********" in cluster.ok("load", "attrfile", str(tmp_path / "a.csv"),
                                                "dry-run=yes")
    cluster.ok("load", "attrfile", str(tmp_path / "a.csv"))
    (tmp_path / "h.csv").write_text(
        "name,appliance,rack,rank,interface,ip,mac,network,attr:rootpw_hash\n"
        f"compute-0-9,compute,0,9,,,,,{HASH}\n")
    cluster.ok("load", "hostfile", str(tmp_path / "h.csv"))
    from rocks.inventory import open_inventory
    from rocks.inventory import queries as q

    inv = open_inventory(str(cluster.state / "rocks.db"))
    try:
        with inv.transaction(readonly=True) as s:
            rows = [a for a in q.list_attrs(s) if a.name == "rootpw_hash"]
    finally:
        inv.close()
    assert len(rows) == 4 and all(a.secret for a in rows), rows


def test_a_plain_stored_declared_secret_is_still_masked(cluster: Cli) -> None:
    """A row stored before the declaration was honoured is masked wherever it is listed."""
    cluster.raw_attr("global", "", "rootpw_hash", HASH, secret=False)
    for argv in (("list", "attr"), ("list", "host", "attr", "compute-0-0"),
                 ("list", "attr", "output-format=json")):
        out = cluster.ok(*argv)
        assert HASH not in out and "********" in out


def test_roll_xml_type_declarations_are_checked(cli: Cli, tmp_path: Path) -> None:
    roll = tmp_path / "typed"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "roll.xml").write_text(
        '<roll name="typed"><info version="1"/>\n'
        '<attribute name="a" value="x" type="nope"/>\n'
        '<attribute name="b" value="many" type="int"/>\n'
        '<attribute name="c" value="fast" type="name" choices="slow medium"/>\n'
        '<attribute name="d" value="" type="crypt-hash" secret="yes"/>\n'
        "</roll>\n")
    r = cli.process("check", "graph", f"rolls={roll}")
    assert r.returncode == 2
    assert "typed/roll.xml:2: error: attribute a: unknown type 'nope' [bad-attr-type]" in r.stderr
    assert ("typed/roll.xml:3: error: attribute b: default 'many' does not fit its type int"
            in r.stderr)
    assert "typed/roll.xml:4: error: attribute c: default 'fast' does not fit" in r.stderr
    assert "roll.xml:5" not in r.stderr


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_each_type_has_an_example_or_a_refusal(type_name: str) -> None:
    t = TYPES[type_name]
    if t.example:
        assert check_value(type_name, t.example) is None
    assert check_value(type_name, "") is None  # empty means "not set" for every type
    assert check_value(type_name, "a\x0bb") is not None  # no type takes a vertical tab
