"""Help text, derived from the registry and the parameter tables: menus, usage, command help.

Nothing here is written by hand per command: the summary comes from the registry, the rest from
the command's declaration (parameters, docstring, examples).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from rocks.cli.params import all_params, type_name
from rocks.cli.registry import Entry
from rocks.cli.resolve import Name, commands_under, spell
from rocks.commands import Command, Param, ParamKind

_FOOTER = ('Run "rocks <command> --help" (or "rocks <command> help") for the parameters of a '
           'command;\n"man 8 rocks" for all of them.\n')
_GLOBALS = (
    ("--debug", "show a traceback for errors"),
    ("--version", "print the version and exit"),
    ("-h, --help", "this list; after a command, that command's help"),
)


def _columns(rows: list[tuple[str, str]], cap: int = 26) -> str:
    """Two aligned columns indented by two; a long first cell pushes its text to the next line."""
    width = min(cap, max((len(left) for left, _ in rows), default=0))
    out = []
    for left, right in rows:
        if not right:
            out.append(f"  {left}\n")
        elif len(left) > width:
            out.append(f"  {left}\n  {'':{width}}  {right}\n")
        else:
            out.append(f"  {left:{width}}  {right}\n")
    return "".join(out)


def spec(param: Param) -> str:
    """How a parameter is written on the command line: `<host>...`, `rack=<integer>`."""
    if param.kind is ParamKind.POSITIONAL:
        return f"<{param.name}>" + ("..." if param.many else "")
    closed = bool(param.allowed or param.metavar) or param.type is bool
    value = type_name(param) if closed else f"<{type_name(param)}>"
    return f"[{param.name}=]{value}" if param.positional_ok else f"{param.name}={value}"


def _show_default(value: object) -> str | None:
    if value is None or value == ():
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    if value == "":
        return '""'
    return str(value)


def usage(name: Name, command: Command) -> str:
    parts = ["usage: rocks", spell(name)]
    ordered = sorted(
        all_params(command),
        key=lambda p: 0 if p.kind is ParamKind.POSITIONAL else 1 if p.positional_ok else 2,
    )
    for param in ordered:
        parts.append(spec(param) if param.required else f"[{spec(param)}]")
    return " ".join(parts)


def command_help(name: Name, summary: str, command: Command) -> str:
    text = f"rocks {spell(name)} - {summary}\n\n{usage(name, command)}\n"
    if command.description:
        text += f"\n{command.description}\n"
    params = all_params(command)
    if params:
        rows = []
        for param in params:
            shown = _show_default(param.default)
            note = "required" if param.required else f"default: {shown}" if shown else ""
            words = " ".join(w for w in (param.help, f"({note})" if note else "") if w)
            rows.append((spec(param), words))
        text += "\nparameters:\n" + _columns(rows)
    if command.examples:
        text += "\nexamples:\n" + "".join(f"  {example}\n" for example in command.examples)
    return text


def menu(prefix: Name, table: Mapping[Name, Entry]) -> str:
    if prefix:
        text = f"usage: rocks {spell(prefix)} <command> [args] [key=value ...]\n"
    else:
        text = "usage: rocks [--debug] [--version] <command> [args] [key=value ...]\n"
    rows = [(spell(name), table[name].summary) for name in commands_under(prefix, table)]
    text += "\ncommands:\n" + _columns(rows, cap=40)
    if not prefix:
        text += "\nglobal options (before the command):\n" + _columns(list(_GLOBALS))
    return text + "\n" + _FOOTER
