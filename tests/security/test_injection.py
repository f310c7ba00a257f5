"""Each injection character class, through each entry path, into each generator.

Entry paths refuse (exit 2, nothing changed). Values put straight into the database (as if they
got past every check) reach the generators, which must refuse them or keep them data: the
kickstart is checked by pykickstart, every shell %pre/%post by bash's own parser (its `declare
-f` print of the script is the script with the value in place, nothing more), dhcpd.conf by
`dhcpd -t`, Kea's file by `kea-dhcp4 -t`, zone files by `named-checkzone`, and no file lands
outside the sync root.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from rocks.errors import RocksError
from rocks.model.attrtypes import LINE_BREAKS
from tests.security.conftest import (
    Cli,
    check_kickstart,
    make_cluster,
    run,
    scripts,
    sections,
    tool,
)

BREAKS = {f"U+{ord(c):04X}": c for c in sorted(LINE_BREAKS)}
# what each would smuggle in: a new %post, a host block, a zone record, a loader command
PAYLOADS = {name: f"x{c}%post{c}touch pwned{c}%end{c}}}{c}host evil {{ }}" for name, c in
            BREAKS.items()}
META = {  # shell, dhcpd and quoting metacharacters without line breaks
    "squote": "x' ; touch pwned ; echo '",
    "dquote": 'x" ; touch pwned ; echo "',
    "cmdsub": "x$(touch pwned)",
    "backtick": "x`touch pwned`",
    "semicolon": "x;touch pwned",
    "brace": 'x"; } host evil { hardware ethernet 52:54:00:ee:ee:ee; }',
    "heredoc-end": "ssh-ed25519 AAAA ROCKS-EOF",
    "percent": "%post",
    "option": "-o/tmp/pwned",
}
ALL = {**PAYLOADS, **META}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One cluster for the refusal tests of this module (a refusal changes nothing)."""
    yield make_cluster(Cli(tmp_path_factory.mktemp("inj") / "state"))


# -- entry paths ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL))
def test_entry_paths_refuse(site: Cli, tmp_path: Path, name: str) -> None:
    value = ALL[name]
    before = site.dump()
    site.refused("set", "attr", "Kickstart_Timezone", value)
    site.refused("set", "host", "attr", "compute-0-0", "access_users", value)
    site.refused("set", "appliance", "attr", "compute", "Info_ClusterName",
                 value if name in PAYLOADS else "x\x1bp")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([
        ["target", "Kickstart_PrivateDNSDomain", "root_ssh_pubkey"], ["global", value, value]])
    (tmp_path / "a.csv").write_text(buf.getvalue())
    err = site.refused("load", "attrfile", str(tmp_path / "a.csv"))
    assert "attribute Kickstart_PrivateDNSDomain" in err and "attribute root_ssh_pubkey" in err
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([
        ["name", "appliance", "rack", "rank", "interface", "ip", "mac", "network",
         "attr:Kickstart_FrontendURL"],
        ["compute-0-7", "compute", "0", "7", "", "", "", "", value]])
    (tmp_path / "h.csv").write_text(buf.getvalue())
    assert "attribute Kickstart_FrontendURL" in site.refused("load", "hostfile",
                                                            str(tmp_path / "h.csv"))
    assert "[bad-zone]" in site.refused("add", "network", "evil", "subnet=10.9.0.0",
                                        "netmask=255.255.0.0", f"zone={value}")
    if name not in ("heredoc-end", "percent", "option"):  # fine as kernel arguments
        assert "[bad-bootaction]" in site.refused("add", "bootaction", "evil",
                                                  "kernel=vmlinuz", f"args=ip=dhcp {value}")
    if name not in ("percent", "option"):
        assert "[bad-bootaction]" in site.refused("add", "bootaction", "evil2",
                                                  f"kernel=vmlinuz{value}")
    assert site.dump() == before


def test_zone_traversal_is_refused_on_input(site: Cli) -> None:
    for zone in ("../x", "a/b", "/etc/passwd", "x..y", "-x.local"):
        assert "[bad-zone]" in site.refused("add", "network", "z", "subnet=10.9.0.0",
                                            "netmask=255.255.0.0", f"zone={zone}")


# -- the kickstart --------------------------------------------------------------------------

SAFE = "SAFEMARK"
# (attribute, the host whose kickstart reads it, where its slot sits in the base roll)
SLOTS = [
    ("Kickstart_Timezone", "compute-0-0", "command line"),
    ("access_users", "compute-0-0", "single-quoted"),
    ("root_ssh_pubkey", "compute-0-0", "here-document"),
    ("Kickstart_FrontendURL", "compute-0-0", "unquoted word"),
    ("hostname", "compute-0-0", "double-quoted and python"),
    ("Kickstart_PrivateDNSDomain", "compute-0-0", "sed in single quotes, command, heredoc"),
    ("nfs_exports", "nas-0-0", "single-quoted list"),
    ("Info_ClusterName", "login-0-0", "here-document at line start"),
]


def shell_shape(body: str, cwd: Path) -> str:
    """bash's own print of the script as a function: its parse, normalised."""
    r = run([tool("bash"), "-c", f"cd {cwd} && f() {{\n{body}\n}}\ndeclare -f f"])
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def ks_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    cli = make_cluster(Cli(tmp_path_factory.mktemp("ks") / "state"))
    for i, (name, app) in enumerate((("nas-0-0", "nas"), ("login-0-0", "login"))):
        cli.ok("add", "host", name, f"appliance={app}", "rack=0", "rank=0")
        cli.ok("add", "host", "interface", name, "eth0", f"ip=10.1.254.{i + 1}",
               f"mac=52:54:00:00:03:0{i}", "network=private")
    yield cli


@pytest.fixture
def host_attr(ks_site: Cli) -> Iterator[list[tuple[str, str]]]:
    """Host attributes a test sets on ks_site, removed afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for host, attr in made:
        ks_site.raw_sql("DELETE FROM attributes WHERE name=:a AND host_id=(SELECT id FROM hosts "
                        "WHERE name=:h)", a=attr, h=host)


@pytest.mark.parametrize(("attr", "host", "where"), SLOTS, ids=[s[0] for s in SLOTS])
def test_kickstart_refuses_or_keeps_values_data(ks_site: Cli, host_attr: list[tuple[str, str]],
                                                tmp_path: Path, attr: str, host: str,
                                                where: str) -> None:
    host_attr.append((host, attr))
    ks_site.raw_attr("host", host, attr, SAFE)
    base = ks_site.ok("list", "host", "profile", host)
    assert SAFE in base, where
    base_scripts = scripts(base)
    refused = []
    for name, value in ALL.items():
        ks_site.raw_attr("host", host, attr, value)
        r = ks_site("list", "host", "profile", host)
        if r.code != 0:
            assert r.code == 2 and r.stdout == ""
            assert "internal error" not in r.stderr
            # refused where the value would land, or by pykickstart naming host and attribute
            # (a `hostname` attribute renames the host: the message shows it made printable)
            shown = host if attr != "hostname" else ""
            assert (f"attribute {attr} of {shown}" in r.stderr
                    and "[unsafe-value]" in r.stderr) or (
                f"error: host {shown}" in r.stderr and "pykickstart" in r.stderr
                and f"the value of {attr}" in r.stderr), r.stderr
            assert not any(c in r.stderr for c in LINE_BREAKS - {"\n"})
            assert not re.search(r"^%", r.stderr, re.M)
            refused.append(name)
            continue
        ks = r.stdout
        assert sections(ks) == sections(base), name
        check_kickstart(ks)
        got = scripts(ks)
        assert len(got) == len(base_scripts)
        for (head, body), (_bhead, bbody) in zip(got, base_scripts, strict=True):
            if "--interpreter" in head and "bash" not in head:
                continue
            expected = shell_shape(bbody, tmp_path).replace(SAFE, value)
            assert shell_shape(body, tmp_path) == expected, (name, head)
        assert not (tmp_path / "pwned").exists()
    # every line-break class is refused wherever the attribute sits
    assert set(PAYLOADS) <= set(refused), (attr, sorted(set(PAYLOADS) - set(refused)))


# -- sync outputs ---------------------------------------------------------------------------

def sync(cli: Cli, root: Path, *extra: str) -> tuple[int, str]:
    r = cli("sync", "config", "loaders=no", f"root={root}", *extra)
    assert "internal error" not in r.stderr
    return r.code, r.stderr


def ipxe_for(cli: Cli, mac: str) -> str:
    from rocks.inventory import open_inventory
    from rocks.siteconfig import sync_input
    from rocks.sync.pxe import ipxe_script_for_mac

    inv = open_inventory(str(cli.state / "rocks.db"))
    try:
        with inv.transaction(readonly=True) as s:
            return ipxe_script_for_mac(sync_input(s, None), mac)
    finally:
        inv.close()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def check_outputs(root: Path, hosts_with_macs: int) -> None:
    conf = root / "etc/dhcp/dhcpd.conf"
    text = conf.read_text()
    r = run([tool("dhcpd"), "-t", "-4", "-cf", str(conf)])
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r"^\s*host ", text, re.M)) == hosts_with_macs
    assert "evil" not in text and "pwned" not in text
    zones = root / "var/named/rocks"
    for zone in zones.iterdir() if zones.is_dir() else ():
        origin = re.search(r"^\$ORIGIN (\S+)\.$", zone.read_text(), re.M)
        assert origin, zone
        r = run([tool("named-checkzone"), origin.group(1), str(zone)])
        assert r.returncode == 0, r.stdout + r.stderr
        assert "evil" not in zone.read_text()
    hosts = (root / "etc/hosts").read_text()
    assert "evil" not in hosts and "pwned" not in hosts
    for f in files_under(root):
        assert f.resolve().is_relative_to(root.resolve())


def test_zone_straight_into_the_database(cluster: Cli, tmp_path: Path) -> None:
    for name in sorted([*PAYLOADS, "brace", "dquote", "semicolon", "traversal"]):
        value = "../../../../tmp/evil" if name == "traversal" else ALL[name]
        cluster.raw_sql("UPDATE networks SET zone=:z WHERE name='private'", z=value)
        root = tmp_path / name / "root"
        cluster.raw_attr("global", "", "sync_dhcp", "isc")
        code, err = sync(cluster, root)
        assert code == 0, err
        assert "[sync.bad-zone]" in err or "is not a DNS name" in err
        check_outputs(root, 3)
        assert not list(Path("/tmp").glob("evil*.zone"))
        assert not list(tmp_path.glob("**/evil*.zone"))
        # Kea: the same inventory in JSON, checked by kea-dhcp4 itself
        cluster.raw_attr("global", "", "sync_dhcp", "kea")
        code, err = sync(cluster, root)
        assert code == 0, err
        kea = root / "etc/kea/kea-dhcp4.conf"
        doc = json.loads(kea.read_text())
        assert len(doc["Dhcp4"]["subnet4"][0]["reservations"]) == 3
        assert "evil" not in kea.read_text()
        r = run([tool("kea-dhcp4"), "-t", str(kea)])
        assert r.returncode == 0, (name, r.stdout + r.stderr)


FRONTEND_ATTRS = ["Kickstart_PrivateDNSServers", "Kickstart_FrontendURL",
                  "Kickstart_PrivateDNSDomain", "Kickstart_PrivateKickstartHost",
                  "Kickstart_PrivateHostname"]


@pytest.mark.parametrize("attr", FRONTEND_ATTRS)
def test_frontend_facts_straight_into_the_database(cluster: Cli, tmp_path: Path,
                                                   attr: str) -> None:
    if attr == "Kickstart_PrivateHostname":
        # the frontend's name is this attribute when no frontend host owns its address
        cluster.raw_attr("global", "", "Kickstart_PrivateKickstartHost", "10.1.1.2")
    root = tmp_path / "root"
    assert sync(cluster, root)[0] == 0
    before = {p: p.read_bytes() for p in files_under(root)}
    for name in ("U+000A", "U+000B", "U+001E", "U+2028", "brace", "dquote", "semicolon"):
        cluster.raw_attr("global", "", attr, ALL[name])
        code, err = sync(cluster, root)
        assert code == 2 and "[sync.bad-frontend]" in err, (name, err)
        assert f"{attr} " in err or "frontend name" in err
        assert {p: p.read_bytes() for p in files_under(root)} == before
        # the iPXE script the frontend serves at /boot/ipxe refuses on its own side too
        for mac in ("52:54:00:00:02:00", "52:54:00:99:99:99"):
            with pytest.raises(RocksError, match=r"sync\.bad-frontend"):
                ipxe_for(cluster, mac)
    for pick in ("dhcpd", "dns", "hosts", "pxe"):
        r = cluster("report", "host", pick)
        assert r.code == 2 and "[sync.bad-frontend]" in r.stderr


@pytest.mark.parametrize("field", ["kernel", "initrd", "args"])
def test_boot_action_straight_into_the_database(cluster: Cli, tmp_path: Path,
                                                field: str) -> None:
    root = tmp_path / "root"
    for name in ("U+000A", "U+000D", "U+0085", "U+2029", "brace", "semicolon", "squote",
                 "cmdsub", "backtick"):
        cluster.raw_sql(f"UPDATE boot_actions SET {field}=:v WHERE name='install'",
                        v=f"ip=dhcp {ALL[name]}" if field == "args" else f"vmlinuz{ALL[name]}")
        code, err = sync(cluster, root)
        assert code == 0, err
        assert "host compute-0-0: boot action 'install' cannot be written" in err, name
        for f in files_under(root / "tftpboot"):
            text = f.read_text()
            assert "pwned" not in text and "evil" not in text, (name, f)
        assert not list((root / "tftpboot").rglob("*0A01FFFE*"))  # compute-0-0 gets no file
        r = cluster("report", "host", "pxe", "compute-0-0")
        assert r.code == 2 and "cannot be written" in r.stderr and "pwned" not in r.stdout


def test_boot_action_names_and_labels_cannot_break_loader_syntax(cluster: Cli,
                                                                 tmp_path: Path) -> None:
    cluster.raw_sql("INSERT INTO boot_actions (name, kernel, initrd, args) "
                    "VALUES (:n, 'vmlinuz', 'initrd.img', 'ip=dhcp')",
                    n="x' {\n}\nmenuentry 'evil")
    cluster.raw_sql("UPDATE hosts SET install_action=:n WHERE name='compute-0-0'",
                    n="x' {\n}\nmenuentry 'evil")
    root = tmp_path / "root"
    code, err = sync(cluster, root)
    assert code == 0, err
    assert "cannot be written" in err
    for f in files_under(root / "tftpboot"):
        assert "evil" not in f.read_text()


# -- DOT and the dashboard's SVG ------------------------------------------------------------

def test_dot_escapes_names_and_svg_keeps_no_links(tmp_path: Path) -> None:
    from rocks.compiler.dot import page_svg, to_dot
    from rocks.compiler.service import load_graph

    graph = load_graph()
    node = graph.nodes["compute"]
    evil = 'x", URL="javascript:alert(1)", label="\nx'
    graph.nodes[evil] = node
    graph.adjacency.setdefault("compute", [])
    dot = to_dot(graph)
    assert 'URL="javascript' not in dot
    r = run([tool("dot"), "-Tsvg"], dot)
    assert r.returncode == 0, r.stderr
    svg = etree.fromstring(r.stdout.encode())
    assert svg.findall(".//{http://www.w3.org/2000/svg}a") == []
    assert not any("javascript" in v for el in svg.iter() for v in el.attrib.values())
    assert any("javascript" in (el.text or "") for el in svg.iter())  # shown, as text
    hostile = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/'
               'xlink"><a xlink:href="javascript:alert(1)"><text>n</text></a>'
               '<script>alert(2)</script><g onclick="alert(3)"><rect style="x:url('
               'javascript:alert(4))"/></g><foreignObject><p>x</p></foreignObject></svg>')
    clean = page_svg(hostile)
    for bad in ("javascript", "<script", "onclick", "foreignObject", "<a ", "alert"):
        assert bad not in clean
    assert "<text>n</text>" in clean
