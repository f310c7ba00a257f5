"""Low items: inputs that used to end in "internal error" (or an HTTP 500) are clear errors.

A deeply nested or huge-number `cond`, an unbalanced quote in a value or in a roll's command
line, a non-UTF-8 argument — each is exit 2 with a message naming the file and line, or the
host and attribute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.conftest import Cli
from tests.security.test_roll_files import evil_roll


@pytest.mark.parametrize(("cond", "why"), [
    ("(" * 3000 + "x" + ")" * 3000, "nested more than 64 levels deep"),
    ("not " * 3000 + "x", "nested more than 64 levels deep"),
    ("x == " + "9" * 5000, "is longer than 40 characters"),
    ("x == 1e999999", "is too large"),
])
def test_pathological_conditions(cli: Cli, tmp_path: Path, cond: str, why: str) -> None:
    roll = evil_roll(tmp_path, f'<kickstart><post cond="{cond}">echo</post></kickstart>\n')
    for argv in (("check", "graph", f"rolls={roll}"),
                 ("list", "node", "profile", "compute", f"rolls={roll}")):
        r = cli.process(*argv)
        assert r.returncode == 2, r.stderr[-500:]
        assert "evil/nodes/evil.xml:1: error: bad condition" in r.stderr
        assert why in r.stderr and "[cond-syntax]" in r.stderr
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr) < 2000  # the condition is shortened, not echoed whole


def test_unbalanced_quote_in_a_value(cluster: Cli) -> None:
    cluster.raw_attr("host", "compute-0-0", "Kickstart_Timezone", 'Europe/Paris"')
    err = cluster.refused("list", "host", "profile", "compute-0-0")
    assert ("attribute Kickstart_Timezone of compute-0-0 would put an unbalanced quote in a "
            "kickstart command line") in err
    # and through the typed write path it never gets in
    assert "is not a word" in cluster.refused("set", "host", "attr", "compute-0-1",
                                              "Kickstart_Timezone", "Europe/Paris'")


def test_unbalanced_quote_in_a_roll_command(cli: Cli, tmp_path: Path) -> None:
    roll = evil_roll(tmp_path, '<kickstart><main><firewall>--service="ssh</firewall></main>'
                               "</kickstart>\n")
    r = cli.process("list", "node", "profile", "compute", f"rolls={roll}")
    assert r.returncode == 2
    assert "No closing quotation in a command line" in r.stderr
    assert "internal error" not in r.stderr


def test_non_utf8_argument(cli: Cli) -> None:
    r = cli.process("set", "attr", "x11", args=[b"y\xffs"])
    assert r.returncode == 2
    assert r.stderr == ("error: argument 4 (y\\xffs) is not valid UTF-8 (at character 2)\n"
                        "  hint: arguments are text: use UTF-8 (check the terminal's and the "
                        "script's encoding)\n")


def test_eval_output_is_parsed_as_safely_as_a_file(cli: Cli, tmp_path: Path) -> None:
    """A trusted roll's <eval mode="xml"> output goes through the same parser: a DOCTYPE in it
    is never read (it cannot even stand inside the fragment)."""
    roll = evil_roll(tmp_path, """
        <kickstart>
        <eval mode="xml">printf '%s' '&lt;!DOCTYPE x [&lt;!ENTITY s SYSTEM "file:///etc/passwd"&gt;]&gt;&lt;post&gt;&amp;s;&lt;/post&gt;'</eval>
        </kickstart>
        """)
    r = cli.process("list", "node", "profile", "compute", f"rolls={roll}", "trusted=evil")
    assert r.returncode == 2
    assert "evil/nodes/evil.xml:2: error: eval output is not XML" in r.stderr
    assert "root:" not in r.stdout + r.stderr
    assert "internal error" not in r.stderr
