"""Errors as data: located diagnostics, collected, reported all at once.

Library code raises `RocksError` (or returns `Diagnostic`s); only `rocks.cli` maps them to exit
codes and only `rocks.server` to HTTP responses.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class SourceLocation:
    """Where something came from: a file (as shown to users) and a 1-based line."""

    file: str
    line: int = 0
    roll: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: a stable code, a message, where, and how to fix it."""

    code: str
    message: str
    location: SourceLocation | None = None
    hint: str = ""
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity}: {self.message} [{self.code}]"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class RocksError(Exception):
    """A user-facing failure carrying one or more diagnostics."""

    def __init__(self, *diagnostics: Diagnostic) -> None:
        if not diagnostics:
            raise ValueError("RocksError needs at least one diagnostic")
        self.diagnostics: tuple[Diagnostic, ...] = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))

    @classmethod
    def of(
        cls,
        code: str,
        message: str,
        location: SourceLocation | None = None,
        hint: str = "",
    ) -> RocksError:
        return cls(Diagnostic(code, message, location, hint))

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]


@dataclass
class Diagnostics:
    """A collector: loading keeps going after a problem so that every problem is reported."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(
        self, code: str, message: str, location: SourceLocation | None = None, hint: str = ""
    ) -> None:
        self.items.append(Diagnostic(code, message, location, hint, Severity.ERROR))

    def warning(
        self, code: str, message: str, location: SourceLocation | None = None, hint: str = ""
    ) -> None:
        self.items.append(Diagnostic(code, message, location, hint, Severity.WARNING))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def raise_if_errors(self) -> None:
        errs = self.errors
        if errs:
            raise RocksError(*errs)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
