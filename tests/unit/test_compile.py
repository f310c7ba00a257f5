"""Compiling node files: packages, scripts, <file>, <eval>, conditions, splicing and the cache."""

from __future__ import annotations

import pytest

from rocks.compiler.compile import EvalMode
from rocks.compiler.service import Compiler, load_graph
from rocks.compiler.shellfile import file_shell
from rocks.errors import RocksError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # file names in messages are relative to the cwd


GRAPH = '<graph><appliance name="app" node="root"/><edge from="root" to="leaf"/></graph>\n'
MAIN = ('<main><lang>en_US.UTF-8</lang><keyboard>us</keyboard><timezone>UTC</timezone>'
        '<rootpw>--lock</rootpw></main>')


def compiler_for(make_roll, root_xml: str, leaf_xml: str = "<kickstart/>", *,  # type: ignore[no-untyped-def]
                 trusted: bool = False, eval_mode: EvalMode = EvalMode.RUN, validate: bool = True,
                 ) -> Compiler:
    roll = make_roll("t", {"nodes/root.xml": root_xml, "nodes/leaf.xml": leaf_xml,
                           "graphs/default/g.xml": GRAPH})
    graph = load_graph(rolls=[roll], bundled=False, trusted=["t"] if trusted else [])
    return Compiler(graph, eval_mode=eval_mode, validate=validate)


def test_file_shell_modes() -> None:
    assert file_shell("/etc/motd", "\nhello $USER\n  ") == (
        "mkdir -p /etc\ncat > /etc/motd << 'ROCKS-EOF'\nhello $USER\nROCKS-EOF\n")
    assert file_shell("/etc/x", "a\n", mode="append", expanded=True, perms="0600",
                      owner="root:root") == (
        "mkdir -p /etc\ncat >> /etc/x << ROCKS-EOF\na\nROCKS-EOF\nchown root:root /etc/x\n"
        "chmod 0600 /etc/x\n")
    assert file_shell("/x", "", expr="date") == "date > /x\n"
    assert file_shell("/x", "") == "touch /x\n"
    # a body containing the delimiter gets another one
    assert "ROCKS-EOF-1" in file_shell("/x", "ROCKS-EOF\n")


def test_packages_groups_and_exclusions(make_roll) -> None:  # type: ignore[no-untyped-def]
    c = compiler_for(make_roll, f"""
        <kickstart>{MAIN}
        <package>zsh</package>
        <package type="meta">core</package>
        <package disable="yes">iwl7260-firmware</package>
        <package disable="yes">zsh</package>
        <package cond="x11">xterm</package>
        </kickstart>""")
    text = c.render("root", {})
    section = text.split("%packages\n")[1].split("%end")[0]
    assert section.splitlines() == ["@core", "zsh", "-iwl7260-firmware"]
    with_x11 = c.render("root", {"x11": "yes"}).split("%packages\n")[1].split("%end")[0]
    assert "xterm" in with_x11.splitlines()


def test_configure_phases_and_interpreters(make_roll) -> None:  # type: ignore[no-untyped-def]
    c = compiler_for(make_roll, f"""
        <kickstart>{MAIN}
        <configure phase="reconfigure">echo only-reconfigure</configure>
        <configure phase="post,reconfigure">echo both</configure>
        <post interpreter="/usr/bin/python3">print("py")</post>
        <post arg="--nochroot">echo outside</post>
        <pre>echo before</pre>
        </kickstart>""")
    text = c.render("root", {})
    assert "only-reconfigure" not in text and "echo both" in text
    assert "%post --log=/var/log/rocks-post-02-root.log --interpreter=/usr/bin/python3\n" in text
    assert "%post --log=/mnt/sysimage/var/log/rocks-post-03-root.log --nochroot\n" in text
    assert "%pre --log=/tmp/rocks-pre-01-root.log\n# rocks: t:nodes/root.xml:6" in text


def test_trusted_eval_runs_with_attributes_and_xml_mode(make_roll) -> None:  # type: ignore[no-untyped-def]
    c = compiler_for(make_roll, f"""
        <kickstart>{MAIN}
        <post>echo <eval>echo "host=$hostname" | tr a-z A-Z</eval></post>
        <eval mode="xml">echo '&lt;package&gt;from-eval&lt;/package&gt;'</eval>
        </kickstart>""", trusted=True)
    text = c.render("root", {"hostname": "n1"})
    assert "echo HOST=N1" in text
    assert "from-eval" in text.split("%packages\n")[1]
    # eval output depends on every attribute: another host compiles again
    c.render("root", {"hostname": "n2"})
    assert c.stats["misses"] == 2


def test_skipped_eval_leaves_a_placeholder(make_roll) -> None:  # type: ignore[no-untyped-def]
    c = compiler_for(make_roll, f"""
        <kickstart>{MAIN}
        <post>echo <eval>hostname</eval></post>
        </kickstart>""", eval_mode=EvalMode.SKIP)
    assert "echo @EVAL-SKIPPED:t:nodes/root.xml:2@" in c.render("root", {})


def test_cache_key_uses_coerced_condition_inputs(make_roll) -> None:  # type: ignore[no-untyped-def]
    c = compiler_for(make_roll, f"""
        <kickstart>{MAIN}<package cond="x11">xterm</package>
        <post>echo &hostname;</post></kickstart>""")
    a = c.render("root", {"x11": "yes", "hostname": "a"})
    b = c.render("root", {"x11": "true", "hostname": "b"})
    c.render("root", {"x11": "no", "hostname": "c"})
    assert c.stats == {"hits": 1, "misses": 2}
    assert "echo a" in a and "echo b" in b


def test_spliced_values_cannot_change_the_checked_structure(make_roll) -> None:  # type: ignore[no-untyped-def]
    c = compiler_for(make_roll, """
        <kickstart><main><lang>&lang;</lang><keyboard>us</keyboard><timezone>UTC</timezone>
        <rootpw>--lock</rootpw></main><post>echo &motd;</post></kickstart>""")
    c.render("root", {"lang": "en_US.UTF-8", "motd": "hi"})
    with pytest.raises(RocksError) as exc:
        c.render("root", {"lang": "en_US\nreboot", "motd": "hi"}, host="n9")
    assert exc.value.first.code == "unsafe-value"
    assert exc.value.first.message == ("attribute lang of n9 would put a line break (a line "
                                       "feed (\\n)) inside a kickstart command line")
    with pytest.raises(RocksError) as exc:
        c.render("root", {"lang": "en_US.UTF-8", "motd": "x\n%end\nrm -rf /"}, host="n9")
    assert exc.value.first.message == ("attribute motd of n9 would put a line break (a line "
                                       "feed (\\n)) inside an unquoted shell word")
    # a value with a space in a command line is checked in full: here pykickstart rejects it
    with pytest.raises(RocksError) as exc:
        c.render("root", {"lang": "en_US --bogus", "motd": "hi"}, host="n9")
    assert exc.value.first.code == "kickstart-invalid"
    assert str(exc.value.first.location) == "t:nodes/root.xml:1"
