"""The CLI framework, end to end in process: dispatch, menus, help, parsing, output, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from types import TracebackType

import pytest

from rocks.cli.completion import bash_script
from rocks.cli.context import CliResult
from rocks.cli.params import split_key
from rocks.cli.registry import COMMANDS, CommandTable
from rocks.cli.resolve import load
from rocks.commands import Command, Context, ServiceFactory, command, keyword, positional

DemoCli = Callable[..., CliResult]

# --- finding the command -----------------------------------------------------------------------

TOP_HELP = """\
usage: rocks [--debug] [--version] <command> [args] [key=value ...]

commands:
  demo echo              Print the bound arguments
  demo fail              Fail on purpose
  demo list host         List the demo hosts
  demo list host attr    List host attributes
  demo report kickstart  Print a kickstart
  demo set host attr     Set a host attribute
  report completion      Print a bash completion script for rocks

global options (before the command):
  --debug     show a traceback for errors
  --version   print the version and exit
  -h, --help  this list; after a command, that command's help

Run "rocks <command> --help" (or "rocks <command> help") for the parameters of a command;
"man 8 rocks" for all of them.
"""


@pytest.mark.parametrize("argv", [(), ("help",), ("--help",), ("-h",)])
def test_top_level_help(demo_cli: DemoCli, argv: tuple[str, ...]) -> None:
    result = demo_cli(*argv)
    assert (result.code, result.stdout, result.stderr) == (0, TOP_HELP, "")


def test_menu_for_partial_command(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "list")
    assert result.code == 0
    assert result.stdout == textwrap.dedent("""\
        usage: rocks demo list <command> [args] [key=value ...]

        commands:
          demo list host       List the demo hosts
          demo list host attr  List host attributes

        Run "rocks <command> --help" (or "rocks <command> help") for the parameters of a command;
        "man 8 rocks" for all of them.
        """)


@pytest.mark.parametrize(
    "argv",
    [("demo", "set"), ("demo", "set", "host"), ("demo", "set", "help"), ("help", "demo", "set")],
)
def test_menu_when_prefix_names_no_command(demo_cli: DemoCli, argv: tuple[str, ...]) -> None:
    result = demo_cli(*argv)
    assert result.code == 0
    assert "  demo set host attr  Set a host attribute\n" in result.stdout
    assert "demo list" not in result.stdout


def test_typo_suggestion(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "lst", "host", "compute-0-0")
    assert result.code == 2
    assert result.stdout == ""
    assert (
        result.stderr == 'error: unknown command "demo lst host"; did you mean "demo list host"?\n'
    )


def test_typo_suggestion_at_first_word(demo_cli: DemoCli) -> None:
    result = demo_cli("dem", "lst", "host")
    assert (
        result.stderr == 'error: unknown command "dem lst host"; did you mean "demo list host"?\n'
    )


def test_unknown_word_without_suggestion(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "zzz")
    assert result.code == 2
    assert result.stderr == (
        'error: unknown command "demo zzz"\n  hint: "rocks demo" lists the commands under "demo"\n'
    )
    assert demo_cli("xyzzy").stderr == (
        'error: unknown command "xyzzy"\n  hint: "rocks help" lists all commands\n'
    )


def test_longest_prefix_wins_and_rest_are_arguments(demo_cli: DemoCli) -> None:
    # "nas-1-0" is not a command word, so "demo list host" runs with it as its argument.
    result = demo_cli("demo", "list", "host", "nas-1-0")
    assert result.stdout.splitlines()[1].split()[0] == "nas-1-0"
    # "attr" extends the command: "demo list host attr".
    attrs = demo_cli("demo", "list", "host", "attr", services={"attrs": lambda ctx: {}})
    assert (attrs.code, attrs.stdout, attrs.stderr) == (0, "", "")


def test_quoted_command_word(demo_cli: DemoCli) -> None:
    assert (
        demo_cli("demo list host", "nas-1-0").stdout
        == demo_cli("demo", "list", "host", "nas-1-0").stdout
    )


def test_version_and_unknown_option(demo_cli: DemoCli) -> None:
    assert demo_cli("--version").stdout == "rocks 0.1.0\n"
    result = demo_cli("--verbose", "demo", "echo")
    assert result.code == 2
    assert result.stderr == (
        'error: unknown option "--verbose"\n  hint: global options: --debug, --version\n'
    )


# --- help ----------------------------------------------------------------------------------------

SET_HELP = """\
rocks demo set host attr - Set a host attribute

usage: rocks demo set host attr <host>... [attr=]<string> [value=]<string> [force=yes|no]

Set an attribute on each host named (prints what it would set).

parameters:
  <host>...         hosts to change (required)
  [attr=]<string>   attribute name (required)
  [value=]<string>  its value (required)
  force=yes|no      replace an existing value (default: no)

examples:
  rocks demo set host attr compute-0-0 cpus 2
"""

LIST_HELP = """\
rocks demo list host - List the demo hosts

usage: rocks demo list host [<host>...] [rack=<integer>] [output-format=table|json|csv]

List the demo hosts.

parameters:
  <host>...                   host names (all hosts when none)
  rack=<integer>              only hosts in this rack
  output-format=table|json|csv
                              how to print the rows (default: table)

examples:
  rocks demo list host
  rocks demo list host rack=1 output-format=json
"""


@pytest.mark.parametrize(
    "argv",
    [("demo", "set", "host", "attr", "help"), ("help", "demo", "set", "host", "attr")],
)
def test_command_help(demo_cli: DemoCli, argv: tuple[str, ...]) -> None:
    result = demo_cli(*argv)
    assert (result.code, result.stdout, result.stderr) == (0, SET_HELP, "")


def test_tabular_command_help_lists_output_format(demo_cli: DemoCli) -> None:
    assert demo_cli("demo", "list", "host", "help").stdout == LIST_HELP


def test_help_shows_custom_types_and_defaults(demo_cli: DemoCli) -> None:
    text = demo_cli("demo", "echo", "help").stdout
    assert "usage: rocks demo echo [count=<integer>] [ratio=<number>] [flag=yes|no] " in text
    assert "  disk=<size>      disk size\n" in text
    assert '  text=<string>    (default: "")\n' in text
    assert "  count=<integer>  (default: 1)\n" in text
    enum_help = demo_cli("demo", "report", "kickstart", "help").stdout
    assert "  release=el9|el10  target release (default: el9)\n" in enum_help


# --- parameters ----------------------------------------------------------------------------------


def test_split_key() -> None:
    assert split_key("a=b=c") == ("a", "b=c")
    assert split_key("output-format=json") == ("output-format", "json")
    assert split_key("x+y_1=") == ("x+y_1", "")
    assert split_key("=value") is None
    assert split_key("two words=x") is None
    assert split_key("host.local") is None


def test_key_values_and_types(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "echo", "text=a=b c", "disk=2G", "flag=On", "ratio=2", "count=-3")
    assert result.code == 0
    assert result.stdout == "count=-3\ndisk=2048\nflag=True\nratio=2.0\ntext='a=b c'\n"


def test_defaults(demo_cli: DemoCli) -> None:
    assert demo_cli("demo", "echo").stdout == (
        "count=1\ndisk=None\nflag=False\nratio=0.5\ntext=''\n"
    )


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("count=x", 'error: count: "x" is not an integer\n'),
        ("count=1.5", 'error: count: "1.5" is not an integer\n'),
        ("ratio=half", 'error: ratio: "half" is not a number\n'),
        ("flag=maybe", 'error: flag: "maybe" is not a boolean\n  hint: use yes or no\n'),
        ("disk=5Q", 'error: disk: "5Q" is not a size like 512M or 20G\n'),
        ("count=1", None),
    ],
)
def test_type_errors(demo_cli: DemoCli, word: str, message: str | None) -> None:
    result = demo_cli("demo", "echo", word)
    if message is None:
        assert result.code == 0
    else:
        assert (result.code, result.stdout, result.stderr) == (2, "", message)


def test_choices_error_with_suggestion(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "report", "kickstart", "c-0-0", "release=el8")
    assert result.code == 2
    assert result.stderr == (
        'error: release: "el8" is not one of el9, el10\n  hint: did you mean "el9"?\n'
    )


def test_unknown_parameters(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "echo", "cont=2", "txt=1")
    assert result.code == 2
    assert (
        result.stderr == 'error: unknown parameters "cont", "txt"\n  hint: did you mean "count="?\n'
    )
    far = demo_cli("demo", "echo", "zzz=1")
    assert far.stderr == (
        'error: unknown parameter "zzz"\n  hint: parameters: count=, ratio=, flag=, disk=, text=\n'
    )


def test_repeated_parameter(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "echo", "count=1", "count=2")
    assert result.stderr == 'error: parameter "count" given more than once\n'


def test_output_format_only_on_tabular_commands(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "echo", "output-format=json")
    assert result.code == 2
    assert result.stderr.startswith('error: unknown parameter "output-format"\n')


def test_positional_many(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "set", "host", "attr", "a", "b", "c", "attr=cpus", "value=2")
    assert result.stdout == "a: cpus=2 force=False\nb: cpus=2 force=False\nc: cpus=2 force=False\n"


def test_trailing_positionals_fill_keywords(demo_cli: DemoCli) -> None:
    both = demo_cli("demo", "set", "host", "attr", "a", "b", "cpus", "2", "force=yes")
    assert both.stdout == "a: cpus=2 force=True\nb: cpus=2 force=True\n"
    # attr= given by name: only value is taken from the end.
    one = demo_cli("demo", "set", "host", "attr", "a", "attr=x=y", "2")
    assert one.stdout == "a: x=y=2 force=False\n"
    # The required host keeps its word even when too few are given for the keywords.
    short = demo_cli("demo", "set", "host", "attr", "a", "cpus")
    assert short.code == 2
    assert short.stderr.startswith('error: missing required parameter "value"\n')


def test_missing_required(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "set", "host", "attr")
    assert result.code == 2
    assert result.stderr == (
        'error: missing required parameters "host", "attr", "value"\n'
        "  hint: usage: rocks demo set host attr <host>... [attr=]<string> [value=]<string>"
        " [force=yes|no]\n"
    )


def test_unexpected_argument(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "report", "kickstart", "a", "b")
    assert result.code == 2
    assert result.stderr == (
        'error: unexpected argument "b"\n'
        "  hint: usage: rocks demo report kickstart <host> [release=el9|el10]\n"
    )


def test_declaration_mistakes_are_caught_when_declared() -> None:
    def run(ctx: Context, args: object) -> None:
        return None

    with pytest.raises(ValueError, match="only the last positional parameter may be many"):
        command(positional("a", many=True), positional("b"))(run)
    with pytest.raises(ValueError, match="a required positional follows an optional one"):
        command(positional("a", default=""), positional("b"))(run)
    with pytest.raises(ValueError, match="parameters declared twice: a"):
        command(positional("a"), keyword("a"))(run)


# --- output --------------------------------------------------------------------------------------


def test_table_output(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "list", "host")
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == (
        "HOST         MEMBERSHIP  CPUS  RACK  MANAGED  COMMENT\n"
        "compute-0-0  compute     2     0     yes      -\n"
        "compute-0-1  compute     16    0     yes      -\n"
        "nas-1-0      nas         8     1     no       has, a comma\n"
    )


def test_json_output(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "list", "host", "rack=1", "output-format=json")
    assert result.stdout == textwrap.dedent("""\
        [
          {
            "host": "nas-1-0",
            "membership": "nas",
            "cpus": 8,
            "rack": 1,
            "managed": false,
            "comment": "has, a comma"
          }
        ]
        """)
    assert json.loads(demo_cli("demo", "list", "host", "output-format=json").stdout)[1] == {
        "host": "compute-0-1",
        "membership": "compute",
        "cpus": 16,
        "rack": 0,
        "managed": True,
        "comment": None,
    }


def test_csv_output(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "list", "host", "output-format=csv")
    assert result.stdout == (
        "host,membership,cpus,rack,managed,comment\n"
        "compute-0-0,compute,2,0,yes,\n"
        "compute-0-1,compute,16,0,yes,\n"
        'nas-1-0,nas,8,1,no,"has, a comma"\n'
    )


def test_empty_rows(demo_cli: DemoCli) -> None:
    argv = ("demo", "list", "host", "rack=7")
    assert demo_cli(*argv).stdout == ""
    assert demo_cli(*argv, "output-format=json").stdout == "[]\n"
    assert (
        demo_cli(*argv, "output-format=csv").stdout == "host,membership,cpus,rack,managed,comment\n"
    )


def test_text_written_as_is(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "report", "kickstart", "c-0-0", "release=el10")
    assert result.stdout == "# kickstart for c-0-0 (el10)\n%packages\n%end"


# --- services ------------------------------------------------------------------------------------


def test_services_are_lazy_and_closed_after_the_command(demo_cli: DemoCli) -> None:
    events: list[str] = []

    def attrs(ctx: Context) -> dict[str, dict[str, str]]:
        events.append("open")

        def close(
            kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
        ) -> None:
            events.append("close" if exc is None else f"rollback {exc!r}")

        ctx.resources.push(close)
        return {"c-0-0": {"cpus": "2", "arch": "x86_64"}, "nas-0-0": {"cpus": "4"}}

    services: dict[str, ServiceFactory] = {"attrs": attrs}
    result = demo_cli("demo", "list", "host", "attr", "c-0-0", services=services)
    assert result.stdout == "HOST   ATTR  VALUE\nc-0-0  arch  x86_64\nc-0-0  cpus  2\n"
    assert events == ["open", "close"]
    events.clear()
    demo_cli("demo", "echo", services=services)
    assert events == []


def test_service_cleanup_sees_the_failure(demo_cli: DemoCli) -> None:
    seen: list[object] = []

    def attrs(ctx: Context) -> object:
        ctx.resources.push(lambda kind, exc, tb: seen.append(kind))
        return {"h": 42}  # not a mapping of attributes: the command fails after opening

    result = demo_cli("demo", "list", "host", "attr", services={"attrs": attrs})
    assert result.code == 1
    assert seen == [AttributeError]


# --- errors and exit codes -----------------------------------------------------------------------


def test_rocks_error_prints_every_diagnostic(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "fail", "rocks")
    assert result.code == 2
    assert result.stderr == (
        "warning: about to fail\n"
        "  hint: as requested\n"
        "graph/nodes/demo.xml:12: error: the demo failed [demo-failed]\n"
        "  hint: it was asked to\n"
        "error: and failed again [demo-again]\n"
    )


def test_internal_error(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "fail", "how=internal")
    assert result.code == 1
    assert result.stderr == (
        "warning: about to fail\n  hint: as requested\n"
        "internal error: RuntimeError: boom\n"
        "  hint: rerun with --debug before the command to see the traceback\n"
    )


def test_debug_shows_traceback(demo_cli: DemoCli) -> None:
    result = demo_cli("--debug", "demo", "fail", "internal")
    assert result.code == 1
    assert "Traceback (most recent call last):\n" in result.stderr
    assert 'raise RuntimeError("boom")' in result.stderr
    assert result.stderr.endswith("RuntimeError: boom\ninternal error: RuntimeError: boom\n")
    rocks_error = demo_cli("--debug", "demo", "fail", "rocks")
    assert rocks_error.code == 2
    assert "Traceback (most recent call last):\n" in rocks_error.stderr


def test_keyboard_interrupt(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "fail", "interrupt")
    assert result.code == 130
    assert result.stderr.endswith("interrupted\n")


def test_wrong_result_type_is_internal(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "fail", "rows")
    assert result.code == 1
    assert "internal error: TypeError: a command returned list, not Rows, Text or None\n" in (
        result.stderr
    )


def test_missing_service_is_internal(demo_cli: DemoCli) -> None:
    result = demo_cli("demo", "list", "host", "attr")
    assert result.code == 1
    assert "internal error: LookupError: no service named 'attrs' is configured\n" in result.stderr


def test_broken_module_is_not_hidden(demo_cli: DemoCli) -> None:
    from rocks.cli.context import run_cli
    from rocks.cli.registry import Entry

    table: CommandTable = {("broken",): Entry("rocks.commands._no_such_module", "x", "Broken")}
    result = run_cli(["broken"], commands=table)
    assert result.code == 1
    assert result.stderr.startswith(
        "internal error: ModuleNotFoundError: No module named 'rocks.commands._no_such_module'\n"
    )


# --- registry, completion, start-up cost ---------------------------------------------------------


def test_every_registered_command_resolves(demo_commands: CommandTable) -> None:
    for name, entry in {**COMMANDS, **demo_commands}.items():
        assert isinstance(load(entry), Command), name
        assert entry.summary and not entry.summary.endswith("."), name
        assert all(word.islower() for word in name), name


def test_completion_script_lists_words_and_parameters(
    demo_cli: DemoCli, demo_commands: CommandTable
) -> None:
    result = demo_cli("report", "completion")
    assert result.code == 0
    script = result.stdout
    assert script == bash_script(demo_commands)
    assert "    [rocks]='demo report'\n" in script
    assert "    ['rocks demo list']=host\n" in script
    assert "    ['rocks demo list host']=attr\n" in script
    assert "    ['rocks demo list host']='help rack= output-format='\n" in script
    assert "    ['rocks demo list host|output-format']='table json csv'\n" in script
    assert "complete -F _rocks rocks\n" in script


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("rocks ", "demo report"),
        ("rocks --debug d", "demo"),
        ("rocks demo l", "list"),
        ("rocks demo list host ", "attr help rack= output-format="),
        ("rocks demo list host r", "rack="),
        ("rocks demo list host output-format=j", "json"),
        ("rocks demo list host compute-0-0 ", "attr help rack= output-format="),
        ("rocks demo report kickstart c-0-0 release=", "el9 el10"),
        ("rocks demo set host attr a b ", "help attr= value= force="),
    ],
)
def test_completion_script_completes_in_bash(
    demo_commands: CommandTable, line: str, expected: str
) -> None:
    script = bash_script(demo_commands)
    call = 'COMP_POINT=${#COMP_LINE}; _rocks; echo "${COMPREPLY[*]}"'
    probe = f'{script}\nCOMP_LINE="{line}"; {call}\n'
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout == expected + "\n"


HEAVY = ("sqlalchemy", "lxml", "jinja2", "networkx", "pykickstart", "fastapi", "rich", "pydantic")


def test_importing_the_cli_stays_light() -> None:
    code = f"import sys, rocks.cli.main\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


def test_running_a_command_stays_light() -> None:
    code = (
        "import sys\nfrom rocks.cli.main import main\n"
        "with open('/dev/null', 'w') as sys.stdout:\n"
        "    main(['report', 'completion'])\n"
        "sys.stdout = sys.__stdout__\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
