"""`rocks add|set|remove|list [os|appliance|host] attr`: exact output and errors, both backends."""

from __future__ import annotations

import json

import pytest

from tests.cli.inventory_fixtures import Rocks, rocks_env

__all__ = ["rocks_env"]


def ok(rocks: Rocks, *argv: str) -> str:
    result = rocks(*argv)
    assert (result.code, result.stderr) == (0, ""), result
    return result.stdout


def fails(rocks: Rocks, *argv: str) -> str:
    result = rocks(*argv)
    assert result.code == 2 and result.stdout == "", result
    return result.stderr


@pytest.fixture
def cluster(rocks_env: Rocks) -> Rocks:
    ok(rocks_env, "add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
       "pxe=yes")
    for rank in (0, 1):
        ok(rocks_env, "add", "host", f"compute-0-{rank}", "appliance=compute", "rack=0",
           f"rank={rank}")
    ok(rocks_env, "add", "host", "interface", "compute-0-0", "eth0", "ip=10.1.255.254",
       "mac=52:54:00:00:00:01", "network=private")
    return rocks_env


def test_global_attrs_positional_and_keyword(rocks_env: Rocks) -> None:
    rocks = rocks_env
    assert ok(rocks, "set", "attr", "Kickstart_Timezone", "UTC") == ""
    assert ok(rocks, "add", "attr", "attr=x11", "value=no") == ""
    assert ok(rocks, "set", "attr", "Kickstart_Timezone", "Europe/Paris") == ""
    assert ok(rocks, "list", "attr", "defaults=no") == (
        "ATTR                VALUE\n"
        "Kickstart_Timezone  Europe/Paris\n"
        "x11                 no\n"
    )
    assert ok(rocks, "list", "attr", "defaults=no", "attr=K*", "output-format=csv") == (
        "attr,value\nKickstart_Timezone,Europe/Paris\n"
    )
    assert fails(rocks, "add", "attr", "x11", "yes") == (
        "error: attribute x11 already exists at global [duplicate-attr]\n"
        "  hint: use `rocks set attr` to change it\n"
    )
    assert ok(rocks, "remove", "attr", "x11") == ""
    assert fails(rocks, "remove", "attr", "x11") == (
        "error: no attribute x11 at global [unknown-attr]\n"
        "  hint: see `rocks list attr`\n"
    )
    assert ok(rocks, "list", "attr", "defaults=no", "attr=x11") == ""


def test_bad_values(rocks_env: Rocks) -> None:
    assert fails(rocks_env, "set", "attr", "x11", "") == (
        "error: attribute x11 needs a value [empty-value]\n"
        "  hint: to drop it use `rocks remove … attr x11`\n"
    )
    assert fails(rocks_env, "set", "attr", "bad name", "1") == (
        "error: attribute name 'bad name' is not valid [bad-attr-name]\n"
        "  hint: use letters, digits, '_', '.' and '-', starting with a letter or '_'\n"
    )
    assert fails(rocks_env, "set", "attr", "x11") == (
        'error: missing required parameter "value"\n'
        "  hint: usage: rocks set attr [attr=]<string> [value=]<string> [secret=yes|no]\n"
    )


def test_secret_values_are_masked_everywhere(rocks_env: Rocks) -> None:
    rocks = rocks_env
    ok(rocks, "set", "attr", "rootpw", "$6$salt$hash", "secret=yes")
    table = "ATTR    VALUE\nrootpw  ********\n"
    assert ok(rocks, "list", "attr", "defaults=no") == table
    assert json.loads(ok(rocks, "list", "attr", "defaults=no", "output-format=json")) == [
        {"attr": "rootpw", "value": "********"}
    ]
    assert ok(rocks, "list", "attr", "defaults=no", "output-format=csv") == (
        "attr,value\nrootpw,********\n")
    # set without secret= keeps the flag; secret=no clears it
    ok(rocks, "set", "attr", "rootpw", "$6$salt$other")
    assert ok(rocks, "list", "attr", "defaults=no") == table
    ok(rocks, "set", "attr", "rootpw", "visible", "secret=no")
    assert ok(rocks, "list", "attr", "defaults=no") == "ATTR    VALUE\nrootpw  visible\n"


def test_os_and_appliance_attrs(cluster: Rocks) -> None:
    rocks = cluster
    ok(rocks, "set", "os", "attr", "linux", "HttpRoot", "/var/www/html")
    ok(rocks, "add", "appliance", "attr", "compute", "nas", "x11", "yes")
    ok(rocks, "set", "appliance", "attr", "compute", "cpus", "64", "secret=yes")
    assert ok(rocks, "list", "os", "attr") == (
        "OS     ATTR      VALUE\nlinux  HttpRoot  /var/www/html\n"
    )
    assert ok(rocks, "list", "appliance", "attr") == (
        "APPLIANCE  ATTR  VALUE\n"
        "compute    cpus  ********\n"
        "compute    x11   yes\n"
        "nas        x11   yes\n"
    )
    assert ok(rocks, "list", "appliance", "attr", "nas") == (
        "APPLIANCE  ATTR  VALUE\nnas        x11   yes\n"
    )
    assert fails(rocks, "add", "appliance", "attr", "compute", "login", "x11", "no") == (
        "error: attribute x11 already exists at appliance compute [duplicate-attr]\n"
        "  hint: use `rocks set appliance attr` to change it\n"
    )
    assert fails(rocks, "set", "appliance", "attr", "comput", "x11", "no") == (
        'error: unknown appliance "comput" [unknown-appliance]\n'
        '  hint: did you mean "compute"?\n'
    )
    ok(rocks, "remove", "appliance", "attr", "compute", "login", "x11")
    ok(rocks, "remove", "os", "attr", "linux", "attr=HttpRoot")
    assert ok(rocks, "list", "os", "attr") == ""
    assert ok(rocks, "list", "appliance", "attr", "attr=x11") == (
        "APPLIANCE  ATTR  VALUE\nnas        x11   yes\n"
    )


def test_host_attrs_and_sources(cluster: Rocks) -> None:
    rocks = cluster
    ok(rocks, "set", "attr", "x11", "no")
    ok(rocks, "set", "os", "attr", "linux", "x11", "true")
    ok(rocks, "set", "appliance", "attr", "compute", "x11", "yes")
    ok(rocks, "set", "host", "attr", "compute-0-1", "x11", "off")
    ok(rocks, "set", "host", "attr", "compute", "cpus", "2")  # every compute host
    ok(rocks, "set", "attr", "rack", "9")  # overrides the intrinsic value
    assert ok(rocks, "list", "host", "attr", "attr=x11") == (
        "HOST         ATTR  VALUE  SOURCE\n"
        "compute-0-0  x11   yes    A\n"
        "compute-0-1  x11   off    H\n"
    )
    assert ok(rocks, "list", "host", "attr", "compute-0-0", "attr=host*") == (
        "HOST         ATTR      VALUE         SOURCE\n"
        "compute-0-0  hostaddr  10.1.255.254  I\n"
        "compute-0-0  hostname  compute-0-0   I\n"
    )
    for attr, value, source in [("cpus", "2", "H"), ("ksmac", "52:54:00:00:00:01", "I"),
                                ("rack", "9", "G"), ("rank", "0", "I"), ("release", "el9", "R"),
                                ("os", "linux", "I"), ("appliance", "compute", "I")]:
        out = ok(rocks, "list", "host", "attr", "compute-0-0", f"attr={attr}",
                 "output-format=csv")
        assert out == f"host,attr,value,source\ncompute-0-0,{attr},{value},{source}\n"
    assert ok(rocks, "list", "host", "attr", "compute-0-1", "attr=arch",
              "output-format=csv") == "host,attr,value,source\ncompute-0-1,arch,x86_64,R\n"
    assert fails(rocks, "add", "host", "attr", "compute", "cpus", "4") == (
        "error: attribute cpus already exists at host compute-0-0 [duplicate-attr]\n"
        "  hint: use `rocks set host attr` to change it\n"
        "error: attribute cpus already exists at host compute-0-1 [duplicate-attr]\n"
        "  hint: use `rocks set host attr` to change it\n"
    )
    assert fails(rocks, "set", "host", "attr", "compute-1-0", "cpus", "4") == (
        'error: unknown host "compute-1-0" [unknown-host]\n'
        '  hint: did you mean "compute-0-0"?\n'
    )
    ok(rocks, "remove", "host", "attr", "compute-0-1", "x11")
    assert fails(rocks, "remove", "host", "attr", "compute-0-1", "x11") == (
        "error: no attribute x11 at host compute-0-1 [unknown-attr]\n"
        "  hint: see `rocks list host attr`\n"
    )
    # removes where present, from each host of the appliance
    ok(rocks, "remove", "host", "attr", "compute", "cpus")
    assert ok(rocks, "list", "host", "attr", "attr=cpus") == ""


def test_host_secret_masked_in_list_host_attr(cluster: Rocks) -> None:
    rocks = cluster
    ok(rocks, "set", "host", "attr", "compute-0-0", "ipmi_password", "hunter2", "secret=yes")
    ok(rocks, "set", "attr", "ipmi_password", "default")
    out = ok(rocks, "list", "host", "attr", "attr=ipmi_password", "output-format=json")
    assert json.loads(out) == [
        {"host": "compute-0-0", "attr": "ipmi_password", "value": "********", "source": "H"},
        {"host": "compute-0-1", "attr": "ipmi_password", "value": "default", "source": "G"},
    ]
    assert "hunter2" not in ok(rocks, "list", "host", "attr", "output-format=csv")
