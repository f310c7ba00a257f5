"""The vocabulary of a command: its parameter table, its declaration, its result and its context.

A command module declares each command once (`@command(positional(...), keyword(...))` on its run
function); `rocks.cli` derives parsing, validation, help and completion from that declaration.
Stdlib only: this package is imported by every `rocks` invocation, before any command runs.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TextIO

from rocks.errors import Diagnostic


class _Required:
    """Sentinel type: the parameter has no default and must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

Parser = Callable[[str], Any]
"""Turns the raw text of a value into its value; raises ValueError with a message if it cannot.

`str`, `int`, `float` and `bool` (yes/no/true/false/on/off/1/0) are understood specially, and so
are `StrEnum` classes (their values become the parameter's choices)."""


class ParamKind(enum.StrEnum):
    POSITIONAL = "positional"
    KEYWORD = "keyword"


@dataclass(frozen=True, slots=True)
class Param:
    """One row of a command's parameter table."""

    name: str
    kind: ParamKind = ParamKind.KEYWORD
    type: Parser = str
    default: Any = REQUIRED
    help: str = ""
    # POSITIONAL only: takes all remaining positional words; the value is a tuple.
    many: bool = False
    choices: tuple[str, ...] = ()
    # KEYWORD only: may instead be given as a trailing positional word, in declaration order
    # (Rocks' fillPositionalArgs: `set host attr c-0-0 cpus 2` is `attr=cpus value=2`).
    positional_ok: bool = False
    # What the value is called in help (`rack=<integer>`); derived from `type` when empty.
    metavar: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def allowed(self) -> tuple[str, ...]:
        """The closed set of accepted values: `choices`, or the values of a StrEnum type."""
        if self.choices:
            return self.choices
        if isinstance(self.type, type) and issubclass(self.type, enum.Enum):
            return tuple(str(member.value) for member in self.type)
        return ()


def positional(
    name: str,
    type: Parser = str,
    *,
    default: Any = REQUIRED,
    help: str = "",
    many: bool = False,
    choices: tuple[str, ...] = (),
    metavar: str = "",
) -> Param:
    return Param(name, ParamKind.POSITIONAL, type, default, help, many, choices, False, metavar)


def keyword(
    name: str,
    type: Parser = str,
    *,
    default: Any = REQUIRED,
    help: str = "",
    choices: tuple[str, ...] = (),
    positional_ok: bool = False,
    metavar: str = "",
) -> Param:
    return Param(
        name, ParamKind.KEYWORD, type, default, help, False, choices, positional_ok, metavar
    )


Args = dict[str, Any]
"""Bound parameter values by name; optional parameters not given hold their default."""


@dataclass(frozen=True, slots=True)
class Rows:
    """Tabular output: a header of column names (lower case) and rows of values."""

    header: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]

    def __init__(self, header: Sequence[str], rows: Iterable[Sequence[object]] = ()) -> None:
        body = tuple(tuple(row) for row in rows)
        for row in body:
            if len(row) != len(header):
                raise ValueError(f"row {row!r} has {len(row)} values for {len(header)} columns")
        object.__setattr__(self, "header", tuple(header))
        object.__setattr__(self, "rows", body)

    @classmethod
    def from_dicts(
        cls, items: Iterable[Mapping[str, object]], header: Sequence[str] | None = None
    ) -> Rows:
        """Rows from mappings; columns are `header` or the first item's keys, missing is None."""
        items = list(items)
        columns = tuple(header) if header is not None else tuple(items[0]) if items else ()
        return cls(columns, (tuple(item.get(c) for c in columns) for item in items))


@dataclass(frozen=True, slots=True)
class Text:
    """Output written exactly as is (a kickstart, a script, a config file)."""

    text: str


Result = Rows | Text | None

ServiceFactory = Callable[["Context"], Any]


@dataclass(slots=True, eq=False)
class Context:
    """What a running command may use besides its arguments.

    Services (the inventory, …) are opened on first use by name from `factories`, so a command
    that needs none pays nothing, and tests inject their own. Factories may register cleanup on
    `resources`; the CLI closes it after the command, passing on any exception (rollback).
    """

    stdout: TextIO
    stderr: TextIO
    stdin: TextIO
    env: Mapping[str, str]
    debug: bool = False
    factories: Mapping[str, ServiceFactory] = field(default_factory=dict)
    # The command table in use, for commands that describe the CLI itself (completion).
    commands: Mapping[tuple[str, ...], Any] = field(default_factory=dict)
    resources: ExitStack = field(default_factory=ExitStack)
    _services: dict[str, Any] = field(default_factory=dict)

    def service(self, name: str) -> Any:
        if name not in self._services:
            try:
                factory = self.factories[name]
            except KeyError:
                raise LookupError(f"no service named {name!r} is configured") from None
            self._services[name] = factory(self)
        return self._services[name]

    def opened(self, name: str) -> Any:
        """The service `name` if this command has opened it already, else None."""
        return self._services.get(name)

    def warn(self, message: str, hint: str = "") -> None:
        self.stderr.write(f"warning: {message}\n")
        if hint:
            self.stderr.write(f"  hint: {hint}\n")

    def report(self, diagnostics: Iterable[Diagnostic]) -> None:
        """Print diagnostics (typically warnings a library collected) to stderr."""
        for diagnostic in diagnostics:
            self.stderr.write(f"{diagnostic}\n")


RunFn = Callable[[Context, Args], Result]


@dataclass(frozen=True, slots=True)
class Command:
    """A command's declaration. Its name and one-line summary live in `rocks.cli.registry`."""

    run: RunFn
    params: tuple[Param, ...] = ()
    description: str = ""
    examples: tuple[str, ...] = ()
    # Returns Rows: accepts `output-format=table|json|csv`.
    tabular: bool = False
    # When set, key=value pairs that name no parameter are collected into a dict under this
    # argument name (e.g. attribute overrides: `list appliance profile compute x11=yes`).
    extra_keywords: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameters declared twice: {', '.join(duplicates)}")
        positionals = [p for p in self.params if p.kind is ParamKind.POSITIONAL]
        for i, p in enumerate(positionals):
            if p.many and i != len(positionals) - 1:
                raise ValueError(f"{p.name}: only the last positional parameter may be many")
            if p.required and any(not q.required for q in positionals[:i]):
                raise ValueError(f"{p.name}: a required positional follows an optional one")
        for p in self.params:
            if p.kind is ParamKind.KEYWORD and p.many:
                raise ValueError(f"{p.name}: many applies to positional parameters only")
            if p.kind is ParamKind.POSITIONAL and p.positional_ok:
                raise ValueError(f"{p.name}: positional_ok applies to keyword parameters only")


def command(
    *params: Param, examples: Sequence[str] = (), tabular: bool = False,
    extra_keywords: str = "",
) -> Callable[[RunFn], Command]:
    """Declare the decorated run function as a command; its docstring is the description."""

    def declare(run: RunFn) -> Command:
        return Command(
            run=run,
            params=params,
            description=inspect.cleandoc(run.__doc__ or ""),
            examples=tuple(examples),
            tabular=tabular,
            extra_keywords=extra_keywords,
        )

    return declare
