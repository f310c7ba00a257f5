"""A property of the kickstart generator: for any value in any slot, the rendered kickstart is
refused, or has exactly the structure of the same kickstart with a harmless value — the same
sections for pykickstart, the same parse for bash (`declare -f` prints it), the same syntax
tree for Python. Hypothesis draws the values from line breaks, quotes and shell syntax."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rocks.compiler.service import Compiler, load_graph
from rocks.errors import RocksError
from rocks.model.attrtypes import LINE_BREAKS
from tests.security.conftest import check_kickstart, run, scripts, sections, tool

SAFE = "SAFEMARK"
NODE = """
<kickstart>
<main><lang>en_US</lang><keyboard>us</keyboard><timezone>--utc &cmd;</timezone>
<rootpw>--lock</rootpw></main>
<post>
echo &word; plain
echo '&sq;' single
echo "&dq; double"
x=$(echo "&sub;" | tr a b)
# comment &comment;
cat &lt;&lt; 'EOF'
&heredoc;
EOF
cat &lt;&lt; EOF
line &hdx; $(echo &hdxcmd;)
EOF
<file name="/etc/x-&filename;" perms="0644">
&filebody;
&half1;&half2;
</file>
</post>
<post interpreter="/usr/bin/python3">
print("&py;")
</post>
</kickstart>
"""
ALPHABET = st.sampled_from(sorted(LINE_BREAKS) + list("'\"`$;|&<>(){}#%\\ \t*?~=-/.:,@+_")
                           + ["a", "b", "EOF", "ROCKS-EOF", "%post", "%end", "\x00", "\x1b"])
VALUES = st.lists(ALPHABET, min_size=1, max_size=12).map("".join)
SLOTS = ["cmd", "word", "sq", "dq", "sub", "comment", "heredoc", "hdx", "hdxcmd", "filename",
         "filebody", "py"]


@pytest.fixture(scope="module")
def compiler(tmp_path_factory: pytest.TempPathFactory) -> Compiler:
    roll = tmp_path_factory.mktemp("prop") / "p"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "nodes" / "root.xml").write_text(NODE)
    (roll / "graphs" / "default" / "g.xml").write_text("<graph></graph>\n")
    return Compiler(load_graph(rolls=[roll], bundled=False))


def shape(head: str, body: str, cwd: Path) -> str:
    if "python" in head:
        tree = ast.parse(body)
        return " ".join(type(n).__name__ for n in ast.walk(tree))
    r = run([tool("bash"), "-c", f"cd {cwd} && f() {{\n{body}\n}}\ndeclare -f f"])
    assert r.returncode == 0, r.stderr
    return r.stdout


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES, slot=st.sampled_from(SLOTS))
@example(value="ROCKS-EOF", slot="filebody")  # plain, yet the here-document's terminator
@example(value="-o/tmp/x", slot="word")  # an option where a command reads its arguments
def test_any_value_is_refused_or_stays_data(compiler: Compiler, tmp_path: Path,
                                            value: str, slot: str) -> None:
    safe = {s: f"{SAFE}{i}X" for i, s in enumerate(SLOTS)} | {"half1": "a", "half2": "b"}
    base = compiler.render("root", safe, host="h")
    try:
        ks = compiler.render("root", {**safe, slot: value}, host="h")
    except RocksError as exc:
        assert exc.first.code in ("unsafe-value", "kickstart-invalid"), exc
        assert f"attribute {slot} " in str(exc) or f"value of {slot} " in str(exc)
        event(f"refused in {slot}")
        return
    event(f"accepted in {slot}")
    marker = safe[slot]
    assert sections(ks) == sections(base)
    check_kickstart(ks)
    for (head, body), (_h, bbody) in zip(scripts(ks), scripts(base), strict=True):
        expected = shape(head, bbody, tmp_path)
        got = shape(head, body, tmp_path)
        if "python" in head:
            assert got == expected
        else:
            assert got == expected.replace(marker, value), (value, head)
    assert not any(tmp_path.iterdir())  # nothing ran


def test_line_breaks_are_always_refused(compiler: Compiler) -> None:
    for ch in sorted(LINE_BREAKS):
        with pytest.raises(RocksError) as exc:
            compiler.render("root", {s: f"a{ch}b" for s in SLOTS}, host="h")
        assert exc.value.first.code == "unsafe-value"


def test_values_cannot_spell_a_terminator_together(compiler: Compiler) -> None:
    safe = {s: f"{SAFE}{i}X" for i, s in enumerate(SLOTS)}
    with pytest.raises(RocksError) as exc:
        compiler.render("root", {**safe, "half1": "ROCKS-", "half2": "EOF"}, host="h")
    assert exc.value.first.message == (
        "attribute half1 and half2 of h would put a line that ends the here-document "
        "(ROCKS-EOF) inside it")
