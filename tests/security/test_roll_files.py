"""Rolls are data until trusted: a roll's XML cannot make the compiler read anything outside
the roll (external entities, DTDs, include paths, symbolic links, devices), nor blow up.

Each attack is a roll directory handed to the real CLI; commands that a regression would hang
run as their own process with a timeout.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from lxml import etree

from tests.security.conftest import SHADOW_MARK, Cli

GRAPH = '<graph><edge from="compute" to="evil"/></graph>\n'


def evil_roll(root: Path, node: str, files: dict[str, str] | None = None) -> Path:
    roll = root / "evil"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "roll.xml").write_text('<roll name="evil"><info version="1" release="1" '
                                   'arch="x86_64" os="linux"/></roll>\n')
    (roll / "graphs" / "default" / "evil.xml").write_text(GRAPH)
    (roll / "nodes" / "evil.xml").write_text(textwrap.dedent(node).lstrip())
    for rel, text in (files or {}).items():
        (roll / rel).parent.mkdir(parents=True, exist_ok=True)
        (roll / rel).write_text(text)
    return roll


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A stand-in for /etc/shadow whose content the tests can look for."""
    path = tmp_path / "outside" / "shadow"
    path.parent.mkdir()
    path.write_text(f"root:{SHADOW_MARK}:19000:0:99999:7:::\n")
    path.chmod(0o600)
    return path


def profile(cli: Cli, roll: Path, *extra: str, timeout: float = 60) -> tuple[int, str, str]:
    r = cli.process("list", "node", "profile", "compute", f"rolls={roll}", *extra,
                    timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def shadow_lines() -> list[str]:
    try:
        return [ln for ln in Path("/etc/shadow").read_text().splitlines() if ln.strip()]
    except OSError:
        return []


@pytest.mark.parametrize("target", ["file:///etc/shadow", "SECRET"])
def test_xxe_external_entity_is_refused(cli: Cli, tmp_path: Path, secret_file: Path,
                                        target: str) -> None:
    url = f"file://{secret_file}" if target == "SECRET" else target
    roll = evil_roll(tmp_path, f"""
        <?xml version="1.0"?>
        <!DOCTYPE kickstart [<!ENTITY s SYSTEM "{url}">]>
        <kickstart>
        <post>
        echo "&s;"
        </post>
        </kickstart>
        """)
    code, out, err = profile(cli, roll)
    assert code == 2 and out == ""
    assert "evil/nodes/evil.xml:2: error: external entity s (SYSTEM) is not allowed" in err
    assert SHADOW_MARK not in out + err
    for line in shadow_lines():
        assert line not in out + err


@pytest.mark.parametrize(("doc", "loads"), [
    ('<!DOCTYPE kickstart [<!ENTITY z SYSTEM "file:///dev/zero">]>\n<kickstart><post>&z;'
     "</post></kickstart>", False),
    ('<!DOCTYPE kickstart SYSTEM "file:///dev/zero">\n<kickstart><post>echo</post></kickstart>',
     True),
    ('<!DOCTYPE kickstart [<!ENTITY % p SYSTEM "file:///dev/zero"> %p;]>\n<kickstart>'
     "<post>echo</post></kickstart>", False),
    ('<!DOCTYPE kickstart PUBLIC "-//x//y" "http://127.0.0.1:9/x.dtd">\n<kickstart>'
     "<post>echo</post></kickstart>", True),
], ids=["entity", "external-dtd", "parameter-entity", "network-dtd"])
def test_dev_zero_and_dtds_never_read(cli: Cli, tmp_path: Path, doc: str, loads: bool) -> None:
    roll = evil_roll(tmp_path, doc + "\n")
    code, out, err = profile(cli, roll, timeout=60)
    if loads:
        # a DOCTYPE naming an outside DTD is ignored, never loaded: the node compiles
        assert (code, err) == (0, ""), err
        assert "\necho\n" in out
    else:
        assert (code, out) == (2, "")
        assert "is not allowed" in err


def test_billion_laughs_is_capped(cli: Cli, tmp_path: Path) -> None:
    decls = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {b} "{f"&{a};" * 10}">' for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    roll = evil_roll(tmp_path, f"<!DOCTYPE kickstart [{decls}]>\n"
                               "<kickstart><post>echo &i;</post></kickstart>\n")
    code, out, err = profile(cli, roll, timeout=60)
    assert code == 2 and out == ""
    assert "expands to more than 65536 characters [xml-entities]" in err


def test_parser_layer_alone_refuses_external_and_huge(secret_file: Path) -> None:
    """Under the pre-check, lxml itself is set to expand internal entities only and to keep
    libxml2's amplification limit: each layer holds on its own."""
    from rocks.compiler.xmlload import _PARSER

    xxe = (f'<!DOCTYPE k [<!ENTITY s SYSTEM "file://{secret_file}">]><k>&s;</k>').encode()
    with pytest.raises(etree.XMLSyntaxError, match="not defined"):
        etree.fromstring(xxe, _PARSER)
    lol = ('<!DOCTYPE k [<!ENTITY a "' + "a" * 10 + '">' + "".join(
        f'<!ENTITY {b} "{f"&{a};" * 10}">' for a, b in zip("abcdefgh", "bcdefghi", strict=True))
        + "]><k>&i;</k>").encode()
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        etree.fromstring(lol, _PARSER)


def test_internal_entities_and_rocks_attributes_still_work(cli: Cli, tmp_path: Path) -> None:
    roll = evil_roll(tmp_path, """
        <!DOCTYPE kickstart [<!ENTITY greeting "hello from an entity">]>
        <kickstart>
        <post>
        echo "&greeting;" "&hostname;"
        </post>
        </kickstart>
        """)
    code, out, err = profile(cli, roll)
    assert (code, err) == (0, "")
    assert 'echo "hello from an entity" "compute-0-0"' in out


@pytest.mark.parametrize("name", ["../../outside/shadow", "/SECRET", "sub/../../../outside/shadow",
                                  "&hostname;"])
def test_include_stays_inside_the_roll(cli: Cli, tmp_path: Path, secret_file: Path,
                                       name: str) -> None:
    name = name.replace("/SECRET", str(secret_file))
    roll = evil_roll(tmp_path, f"""
        <kickstart>
        <post>
        <include file="{name}"/>
        </post>
        </kickstart>
        """, {"include/ok.txt": "fine\n"})
    code, out, err = profile(cli, roll)
    assert code == 2 and out == ""
    assert "[include-outside-roll]" in err
    assert SHADOW_MARK not in err


@pytest.mark.parametrize("link", ["outside-file", "outside-dir", "dev-zero", "fifo"])
def test_symlinks_and_devices_cannot_escape(cli: Cli, tmp_path: Path, secret_file: Path,
                                            link: str) -> None:
    roll = evil_roll(tmp_path, """
        <kickstart>
        <post>
        <include file="x/leak"/>
        </post>
        </kickstart>
        """)
    inc = roll / "include"
    inc.mkdir()
    if link == "outside-file":
        (inc / "x").mkdir()
        (inc / "x" / "leak").symlink_to(secret_file)
    elif link == "outside-dir":
        (inc / "x").symlink_to(secret_file.parent)
        (secret_file.parent / "leak").write_text(f"{SHADOW_MARK}\n")
    elif link == "dev-zero":
        (inc / "x").mkdir()
        (inc / "x" / "leak").symlink_to("/dev/zero")
    else:
        (inc / "x").mkdir()
        os.mkfifo(inc / "x" / "leak")
    code, out, err = profile(cli, roll, timeout=60)
    assert code == 2 and out == ""
    assert ("[path-outside-roll]" in err) or ("[not-a-file]" in err), err
    assert SHADOW_MARK not in err


@pytest.mark.parametrize("target", ["secret", "/dev/zero", "fifo"])
def test_node_and_graph_files_are_read_only_inside_the_roll(
        cli: Cli, tmp_path: Path, secret_file: Path, target: str) -> None:
    roll = evil_roll(tmp_path, "<kickstart><post>echo</post></kickstart>\n")
    leak = roll / "nodes" / "leak.xml"
    if target == "fifo":
        os.mkfifo(leak)
    else:
        leak.symlink_to(secret_file if target == "secret" else Path(target))
    (roll / "graphs" / "default" / "more.xml").symlink_to(secret_file)
    r = cli.process("check", "graph", f"rolls={roll}", timeout=60)
    assert r.returncode == 2
    assert SHADOW_MARK not in r.stdout + r.stderr
    assert "leak.xml" in r.stderr and "more.xml" in r.stderr


def test_roll_xml_symlink_out_of_the_roll(cli: Cli, tmp_path: Path, secret_file: Path) -> None:
    roll = evil_roll(tmp_path, "<kickstart><post>echo</post></kickstart>\n")
    (roll / "roll.xml").unlink()
    (roll / "roll.xml").symlink_to(secret_file)
    r = cli.process("check", "graph", f"rolls={roll}", timeout=60)
    assert r.returncode == 2
    assert "[path-outside-roll]" in r.stderr
    assert SHADOW_MARK not in r.stdout + r.stderr


@pytest.mark.parametrize("name", ['a"b', "a b", "a\nb", ".hidden"])
def test_node_file_names_are_names(cli: Cli, tmp_path: Path, name: str) -> None:
    roll = evil_roll(tmp_path, "<kickstart><post>echo</post></kickstart>\n")
    (roll / "nodes" / f"{name}.xml").write_text("<kickstart><post>echo</post></kickstart>\n")
    r = cli.process("check", "graph", f"rolls={roll}", timeout=60)
    assert r.returncode == 2
    assert "[bad-node-name]" in r.stderr
