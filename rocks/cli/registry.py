"""The command table: every `rocks` command, the module that declares it, and its summary.

Adding a command is one line here. Nothing is imported from this table until a command runs, so
`rocks` starts fast and a broken command module fails loudly only when used (never guessed at).
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    module: str
    attr: str
    summary: str


CommandTable = dict[tuple[str, ...], Entry]

# (verb, noun, ...) -> where its `Command` is declared.  Keep sorted by name.
COMMANDS: CommandTable = {
    ("report", "completion"): Entry(
        "rocks.cli.completion", "report_completion", "Print a bash completion script for rocks"
    ),
}


class Service(NamedTuple):
    module: str
    factory: str


# Lazily opened services commands reach through `Context.service(name)`; the factory is called
# with the Context on first use (e.g. "inventory": Service("rocks.inventory.session", "open")).
SERVICES: dict[str, Service] = {}
