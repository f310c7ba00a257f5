"""`rocks load hostfile|attrfile` and `rocks dump`: exact output, every bad row located, nothing
loaded on error, and load → dump → load a fixed point; on SQLite and PostgreSQL."""

from __future__ import annotations

import atexit
import os
import shlex
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli
from tests.cli.inventory_fixtures import PG_ENV, Rocks, _empty_pg, _pg_database, _services

HEADER = "name,appliance,rack,rank,interface,ip,mac,network"
Fresh = Callable[[], Rocks]


def _new_pg_database() -> str:
    import psycopg

    base = os.environ[PG_ENV]
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    name = f"rocks_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    return f"{admin.rpartition('/')[0]}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Fresh:
    """Makes `rocks` callables, each over its own empty inventory (the first one reuses the
    shared PostgreSQL test database, emptied)."""
    made: list[int] = []

    def make() -> Rocks:
        made.append(1)
        env = {"ROCKS_STATE": str(tmp_path / f"state{len(made)}")}
        if request.param == "postgres":
            if len(made) == 1:
                url = _pg_database()
                _empty_pg(url)
            else:
                url = _new_pg_database()
            env["ROCKS_DATABASE_URL"] = url

        def rocks(*argv: str, stdin: str = "") -> CliResult:
            return run_cli(list(argv), env, stdin, services=_services())

        return rocks

    return make


@pytest.fixture
def rocks(fresh: Fresh) -> Rocks:
    r = fresh()
    ok(r, "add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes")
    ok(r, "add", "network", "ipmi", "subnet=10.2.0.0", "netmask=255.255.255.0")
    return r


def ok(rocks: Rocks, *argv: str) -> str:
    result = rocks(*argv)
    assert (result.code, result.stderr) == (0, ""), result
    return result.stdout


def fails(rocks: Rocks, *argv: str) -> str:
    result = rocks(*argv)
    assert result.code == 2 and result.stdout == "", result
    return result.stderr


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD = f"""{HEADER},comment,attr:cpus
compute-0-0,compute,0,0,eth0,10.1.255.254,52:54:00:00:00:01,private,first,2
compute-0-0,,,,ipmi,10.2.0.254,,ipmi,,
compute-0-1,compute,0,1,eth0,10.1.255.253,52-54-00-00-00-02,private,,
nas-0-0,nas,0,0,,,,,no interfaces,
"""


def test_load_hostfile(rocks: Rocks, tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.csv", GOOD)
    assert ok(rocks, "load", "hostfile", path, "dry-run=yes") == (
        "add compute-0-0\nadd compute-0-1\nadd nas-0-0\n"
        "hosts: 3 added, 0 changed, 0 unchanged (dry run: nothing written)\n"
    )
    assert ok(rocks, "list", "host") == ""
    assert ok(rocks, "load", "hostfile", path) == "hosts: 3 added, 0 changed, 0 unchanged\n"
    assert ok(rocks, "load", "hostfile", path) == "hosts: 0 added, 0 changed, 3 unchanged\n"
    assert ok(rocks, "list", "host", "interface", "output-format=csv") == (
        "host,device,mac,ip,network,name,module,vlan,options,bmc\n"
        "compute-0-0,eth0,52:54:00:00:00:01,10.1.255.254,private,,,,,\n"
        "compute-0-0,ipmi,,10.2.0.254,ipmi,,,,,\n"
        "compute-0-1,eth0,52:54:00:00:00:02,10.1.255.253,private,,,,,\n"
    )
    assert ok(rocks, "list", "host", "attr", "attr=cpus") == (
        "HOST         ATTR  VALUE  SOURCE\ncompute-0-0  cpus  2      H\n"
    )


def test_load_hostfile_updates(rocks: Rocks, tmp_path: Path) -> None:
    ok(rocks, "load", "hostfile", write(tmp_path, "hosts.csv", GOOD))
    ok(rocks, "set", "host", "interface", "module", "compute-0-1", "eth0", "e1000")
    ok(rocks, "set", "host", "attr", "compute-0-1", "x11", "yes")
    # compute-0-0 loses ipmi and moves rack; compute-0-1 gains cpus; no comment column: kept
    changed = write(tmp_path, "changed.csv", f"""{HEADER},attr:cpus
compute-0-0,compute,1,0,eth0,10.1.255.254,52:54:00:00:00:01,private,2
compute-0-1,compute,0,1,eth0,10.1.255.253,52:54:00:00:00:02,private,4
nas-0-0,nas,0,0,,,,,
""")
    assert ok(rocks, "load", "hostfile", changed, "dry-run=yes") == (
        "change compute-0-0 (rack, interfaces)\n"
        "change compute-0-1 (attr:cpus)\n"
        "hosts: 0 added, 2 changed, 1 unchanged (dry run: nothing written)\n"
    )
    assert ok(rocks, "load", "hostfile", changed) == "hosts: 0 added, 2 changed, 1 unchanged\n"
    assert ok(rocks, "list", "host", "interface", "output-format=csv") == (
        "host,device,mac,ip,network,name,module,vlan,options,bmc\n"
        "compute-0-0,eth0,52:54:00:00:00:01,10.1.255.254,private,,,,,\n"
        "compute-0-1,eth0,52:54:00:00:00:02,10.1.255.253,private,,e1000,,,\n"
    )
    assert ok(rocks, "list", "host", "output-format=csv").splitlines()[1:] == [
        "compute-0-0,compute,1,0,linux,os,install,os,first",
        "compute-0-1,compute,0,1,linux,os,install,os,",
        "nas-0-0,nas,0,0,linux,os,install,os,no interfaces",
    ]
    assert ok(rocks, "list", "host", "attr", "compute-0-1", "attr=[cx][p1]*") == (
        "HOST         ATTR  VALUE  SOURCE\n"
        "compute-0-1  cpus  4      H\n"
        "compute-0-1  x11   yes    H\n"
    )


BAD = f"""{HEADER}
compute-0-0,compute,0,0,eth0,10.1.255.254,52:54:00:00:00:01,private
compute-0-0,,,,ipmi,,,
compute-0-1,compute,0,1,eth0,10.1.255.253,52:54:00:00:00:02,private
# a comment and a blank line

compute-0-2,nope,0,x,eth0,10.2.0.1,52:54:00:00:00:01,private
compute-0-3,compute,0,3,eth0,10.1.255.253,zz,private
compute-0-0,compute,1,,eth2,,,
compute-0-4,compute,0,4,eth0,10.1.0.4,,storage
compute-0-5,compute,0,5,,10.1.0.5,,private
compute-0-6,compute,0,6,eth0,10.1.0.6
rack1,compute,1,0,,,,
compute,compute,1,1,,,,
"""


def test_every_bad_row_is_reported_and_nothing_loaded(rocks: Rocks, tmp_path: Path) -> None:
    ok(rocks, "add", "host", "c-9-9", "appliance=compute", "rack=9", "rank=9")
    ok(rocks, "add", "host", "interface", "c-9-9", "eth0", "ip=10.1.255.253",
       "mac=52:54:00:00:00:02", "network=private")
    path = write(tmp_path, "bad.csv", BAD)
    f = path
    assert fails(rocks, "load", "hostfile", path) == (
        f"{f}:4: error: MAC 52:54:00:00:00:02 of host compute-0-1 is already used by c-9-9 eth0"
        " [duplicate-mac]\n  hint: each MAC address belongs to one interface\n"
        f"{f}:4: error: IP 10.1.255.253 of host compute-0-1 on network private is already used"
        " by c-9-9 eth0 [duplicate-ip]\n  hint: see `rocks report nextip` for a free address\n"
        f"{f}:7: error: host compute-0-2: no appliance named 'nope' [unknown-appliance]\n"
        "  hint: see `rocks list appliance`, or add it first\n"
        f"{f}:7: error: host compute-0-2: rank 'x' is not a number [bad-value]\n"
        f"{f}:7: error: MAC 52:54:00:00:00:01 of host compute-0-2 is also on line 2"
        " (compute-0-0) [duplicate-mac]\n"
        f"{f}:7: error: host compute-0-2 eth0: 10.2.0.1 is not inside network private"
        " (10.1.0.0/16) [ip-outside-network]\n"
        "  hint: choose an address in 10.1.0.0/16, or another network\n"
        f"{f}:8: error: 'zz' for host compute-0-3 is not an Ethernet MAC address [bad-mac]\n"
        "  hint: write six hex octets, e.g. 52:54:00:12:34:56\n"
        f"{f}:8: error: IP 10.1.255.253 of host compute-0-3 on network private is already used"
        " by c-9-9 eth0 [duplicate-ip]\n  hint: see `rocks report nextip` for a free address\n"
        f"{f}:9: error: host compute-0-0: rack '1' differs from '0' on line 2"
        " [conflicting-rows]\n  hint: a host's rows must agree on its host columns\n"
        f"{f}:10: error: no network named 'storage' [unknown-network]\n"
        "  hint: see `rocks list network`\n"
        f"{f}:11: error: host compute-0-5: an interface needs a device [bad-interface]\n"
        "  hint: fill the interface column, e.g. eth0\n"
        f"{f}:12: error: malformed row: 6 fields where the header has 8 [bad-csv]\n"
        f"{f}:13: error: host name 'rack1' is reserved: rackN names select whole racks"
        " [bad-host-name]\n  hint: choose another name\n"
        f"{f}:14: error: host name 'compute' is an appliance name [bad-host-name]\n"
    )
    assert ok(rocks, "list", "host") == (
        "HOST   APPLIANCE  RACK  RANK  OS     BOOT  INSTALLACTION  RUNACTION  COMMENT\n"
        "c-9-9  compute    9     9     linux  os    install        os         -\n"
    )


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("name,appliance,rack,interface,ip,mac\n",
         ["1: error: missing columns rank, network [missing-column]",
          "  hint: the header needs name,appliance,rack,rank,interface,ip,mac,network"]),
        (f"{HEADER},colour,Name\n",
         ["1: error: unknown column 'colour' [bad-column]",
          "1: error: column 'name' appears more than once [bad-column]"]),
        (f"{HEADER},attr:bad name\n",
         ["1: error: attribute name 'bad name' is not valid [bad-attr-name]",
          "  hint: use letters, digits, '_', '.' and '-', starting with a letter or '_'"]),
        ("# only a comment\n", ["1: error: the file has no header row [bad-csv]"]),
        (f'{HEADER}\nc-0-0,compute,0,0,eth0,"10.1.0.1,,\n',
         ["2: error: malformed CSV: unexpected end of data [bad-csv]"]),
    ],
)
def test_hostfile_header_errors(rocks: Rocks, tmp_path: Path, text: str,
                                errors: list[str]) -> None:
    path = write(tmp_path, "h.csv", text)
    assert fails(rocks, "load", "hostfile", path) == "".join(
        (f"{path}:{e}" if e[0].isdigit() else e) + "\n" for e in errors)


def test_unreadable_file(rocks: Rocks, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.csv")
    assert fails(rocks, "load", "hostfile", missing) == (
        f"error: cannot read {missing}: No such file or directory [unreadable-file]\n"
    )
    assert fails(rocks, "load", "attrfile", missing) == (
        f"error: cannot read {missing}: No such file or directory [unreadable-file]\n"
    )


def test_one_bad_row_among_a_thousand_loads_nothing(rocks: Rocks, tmp_path: Path) -> None:
    lines = [HEADER]
    for i in range(1000):
        ip = "10.3.0.1" if i == 500 else f"10.1.{i // 250}.{i % 250 + 1}"
        lines.append(f"compute-{i // 100}-{i % 100},compute,{i // 100},{i % 100},eth0,{ip},"
                     f"52:54:00:00:{i >> 8:02x}:{i & 255:02x},private")
    path = write(tmp_path, "big.csv", "\n".join(lines) + "\n")
    assert fails(rocks, "load", "hostfile", path) == (
        f"{path}:502: error: host compute-5-0 eth0: 10.3.0.1 is not inside network private"
        " (10.1.0.0/16) [ip-outside-network]\n"
        "  hint: choose an address in 10.1.0.0/16, or another network\n"
    )
    assert ok(rocks, "list", "host") == ""
    good = path.replace("big", "good")
    Path(good).write_text(Path(path).read_text().replace("10.3.0.1", "10.1.200.1"))
    assert ok(rocks, "load", "hostfile", good) == "hosts: 1000 added, 0 changed, 0 unchanged\n"
    assert len(ok(rocks, "list", "host").splitlines()) == 1001


ATTRS = """target,Kickstart_Timezone,secret:rootpw,cpus
global,UTC,abc,
os:linux,,x,
appliance:compute,,,4
compute-0-1,,,8
"""


def test_load_attrfile(rocks: Rocks, tmp_path: Path) -> None:
    ok(rocks, "load", "hostfile", write(tmp_path, "hosts.csv", GOOD))
    path = write(tmp_path, "a.csv", ATTRS)
    assert ok(rocks, "load", "attrfile", path, "dry-run=yes") == (
        "add global Kickstart_Timezone=UTC\n"
        "add global rootpw=********\n"
        "add os:linux rootpw=********\n"
        "add appliance:compute cpus=4\n"
        "add compute-0-1 cpus=8\n"
        "attributes: 5 added, 0 changed, 0 unchanged (dry run: nothing written)\n"
    )
    assert ok(rocks, "list", "attr", "defaults=no") == ""
    assert ok(rocks, "load", "attrfile", path) == "attributes: 5 added, 0 changed, 0 unchanged\n"
    assert ok(rocks, "load", "attrfile", path) == "attributes: 0 added, 0 changed, 5 unchanged\n"
    assert ok(rocks, "list", "attr", "defaults=no") == (
        "ATTR                VALUE\nKickstart_Timezone  UTC\nrootpw              ********\n"
    )
    changed = write(tmp_path, "b.csv", "target,cpus,rootpw\ncompute-0-1,16,\nglobal,,plain\n")
    assert ok(rocks, "load", "attrfile", changed) == (
        "attributes: 0 added, 2 changed, 0 unchanged\n"
    )
    assert ok(rocks, "list", "attr", "defaults=no") == (
        "ATTR                VALUE\nKickstart_Timezone  UTC\nrootpw              plain\n"
    )
    # the os-scope secret still overrides the (now plain) global value for hosts
    assert ok(rocks, "list", "host", "attr", "compute-0-1", "attr=cpus") == (
        "HOST         ATTR  VALUE  SOURCE\ncompute-0-1  cpus  16     H\n"
    )
    assert ok(rocks, "list", "host", "attr", "compute-0-1", "attr=rootpw") == (
        "HOST         ATTR    VALUE     SOURCE\ncompute-0-1  rootpw  ********  O\n"
    )


def test_attrfile_errors(rocks: Rocks, tmp_path: Path) -> None:
    ok(rocks, "load", "hostfile", write(tmp_path, "hosts.csv", GOOD))
    path = write(tmp_path, "a.csv", """target,x11,secret:x11
global,yes,
appliance:nope,yes,
os:,yes,
ghost,yes,
global,no,
compute-0-0,yes,secret
""")
    assert fails(rocks, "load", "attrfile", path) == (
        f"{path}:3: error: target 'appliance:nope' names no appliance ('nope')"
        " [unknown-appliance]\n"
        "  hint: targets: global, os:NAME, appliance:NAME, rack:NUMBER or a host name\n"
        f"{path}:4: error: target 'os:' needs an os name [unknown-os]\n"
        "  hint: targets: global, os:NAME, appliance:NAME, rack:NUMBER or a host name\n"
        f"{path}:5: error: target 'ghost' names no host ('ghost') [unknown-host]\n"
        "  hint: targets: global, os:NAME, appliance:NAME, rack:NUMBER or a host name\n"
        f"{path}:6: error: target global is also on line 2 [duplicate-target]\n"
        f"{path}:7: error: target compute-0-0 sets x11 both plain and secret"
        " [conflicting-cells]\n"
    )
    bad = write(tmp_path, "b.csv", "host,x11\n")
    assert fails(rocks, "load", "attrfile", bad) == (
        f"{bad}:1: error: the first column must be target [missing-column]\n"
        "  hint: target,<attr>,…,secret:<attr>,… (target: global, os:NAME, appliance:NAME,"
        " rack:NUMBER or a host name)\n"
    )
    assert ok(rocks, "list", "attr", "defaults=no") == ""


def _restore(dumped: dict[str, str], into: Rocks, tmp_path: Path) -> None:
    for line in dumped["commands"].splitlines():
        argv = shlex.split(line)
        assert argv[0] == "rocks"
        ok(into, *argv[1:])
    ok(into, "load", "hostfile", write(tmp_path, "restore-hosts.csv", dumped["hostfile"]))
    ok(into, "load", "attrfile", write(tmp_path, "restore-attrs.csv", dumped["attrfile"]))


def _dump(rocks: Rocks) -> dict[str, str]:
    parts = {s: ok(rocks, "dump", f"section={s}") for s in ("commands", "hostfile", "attrfile")}
    assert ok(rocks, "dump") == (
        f"# --- commands: run these first\n{parts['commands']}"
        f"# --- hostfile: rocks load hostfile FILE\n{parts['hostfile']}"
        f"# --- attrfile: rocks load attrfile FILE\n{parts['attrfile']}"
    )
    return parts


def test_dump_load_is_a_fixed_point(fresh: Fresh, tmp_path: Path) -> None:
    a = fresh()
    for argv in [
        "add network private subnet=10.1.0.0 netmask=255.255.0.0 pxe=yes servedns=yes",
        "add network ipmi subnet=10.2.0.0 netmask=255.255.255.0 zone=bmc mtu=9000 "
        "gateway=10.2.0.1",
        "add appliance gpu node=compute public=no",
        "remove appliance login",
        "remove bootaction install",
        "add bootaction install kernel=vmlinuz-9 initrd=initrd-9.img args='ip=dhcp a=\"b c\"'",
        "add bootaction rescue kernel=vmlinuz initrd=initrd.img args=inst.rescue",
        "add host compute-0-0 appliance=compute rack=0 rank=0 comment='has, a comma'",
        "add host gpu-1-0 appliance=gpu rack=1 rank=0 installaction=rescue",
        "add host nas-0-0 appliance=nas rack=0 rank=0 os=sunos",
        "add host interface compute-0-0 eth0 ip=10.1.255.254 mac=52:54:00:00:00:01 "
        "network=private module=virtio_net",
        "add host interface compute-0-0 ipmi ip=10.2.0.254 network=ipmi name=compute-0-0-bmc "
        "vlan=5 options=dhcp default=yes",
        "add host interface gpu-1-0 eth0 mac=52:54:00:00:00:02",
        "set host boot gpu-1-0 action=install",
        "set attr Kickstart_Timezone UTC",
        "set attr rootpw_hash $6$x$y secret=yes",
        "set os attr sunos HttpRoot /srv",
        "set appliance attr gpu cuda 12",
        "set host attr compute-0-0 cpus 2",
        "set host attr gpu-1-0 ipmi_password hunter2 secret=yes",
        "set host attr gpu-1-0 cpus 64",
    ]:
        # (stderr may carry notes from other layers, e.g. `set host boot` syncing PXE files)
        assert a(*shlex.split(argv)).code == 0, argv
    first = _dump(a)
    assert first["commands"] == (
        "rocks add network ipmi subnet=10.2.0.0 netmask=255.255.255.0 mtu=9000 zone=bmc "
        "gateway=10.2.0.1\n"
        "rocks add network private subnet=10.1.0.0 netmask=255.255.0.0 servedns=yes pxe=yes\n"
        "rocks add appliance gpu node=compute kickstartable=yes public=no\n"
        "rocks remove appliance login\n"
        "rocks remove bootaction install\n"
        "rocks add bootaction install kernel=vmlinuz-9 initrd=initrd-9.img "
        "'args=ip=dhcp a=\"b c\"'\n"
        "rocks add bootaction rescue kernel=vmlinuz initrd=initrd.img args=inst.rescue\n"
    )
    assert first["hostfile"] == (
        "name,appliance,rack,rank,interface,ip,mac,network,default,ifname,module,vlan,options,"
        "os,installaction,boot,comment\n"
        "compute-0-0,compute,0,0,eth0,10.1.255.254,52:54:00:00:00:01,private,,,virtio_net,,,"
        'linux,install,os,"has, a comma"\n'
        "compute-0-0,compute,0,0,ipmi,10.2.0.254,,ipmi,yes,compute-0-0-bmc,,5,dhcp,"
        'linux,install,os,"has, a comma"\n'
        "gpu-1-0,gpu,1,0,eth0,,52:54:00:00:00:02,,,,,,,linux,rescue,install,\n"
        "nas-0-0,nas,0,0,,,,,,,,,,sunos,install,os,\n"
    )
    assert first["attrfile"] == (
        "target,cpus,cuda,HttpRoot,secret:ipmi_password,Kickstart_Timezone,secret:rootpw_hash\n"
        "global,,,,,UTC,$6$x$y\n"
        "os:sunos,,,/srv,,,\n"
        "appliance:gpu,,12,,,,\n"
        "compute-0-0,2,,,,,\n"
        "gpu-1-0,64,,,hunter2,,\n"
    )
    b = fresh()
    _restore(first, b, tmp_path)
    assert _dump(b) == first
    # loading the dump again into the inventory it came from changes nothing
    hosts = write(tmp_path, "again.csv", first["hostfile"])
    assert ok(a, "load", "hostfile", hosts) == "hosts: 0 added, 0 changed, 3 unchanged\n"
    attrs = write(tmp_path, "again-attrs.csv", first["attrfile"])
    assert ok(a, "load", "attrfile", attrs) == "attributes: 0 added, 0 changed, 7 unchanged\n"
