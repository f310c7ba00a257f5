"""From argument words to a command's bound arguments, driven by its parameter table.

Words matching `^[A-Za-z0-9_+-]+=` are `key=value` parameters (split at the first `=`), the rest
are positional. Binding fills trailing positionals into `positional_ok` keywords (Rocks'
fillPositionalArgs), converts every value by its declared type and reports misuse as UsageError.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from rocks.commands import Command, Param, ParamKind

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-")
_TRUE = frozenset({"yes", "y", "true", "on", "1"})
_FALSE = frozenset({"no", "n", "false", "off", "0"})


class UsageError(Exception):
    """The command line itself is wrong; printed as `error: …` (and `  hint: …`), exit 2."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


OUTPUT_FORMAT = Param(
    "output-format",
    type=OutputFormat,
    default=OutputFormat.TABLE,
    help="how to print the rows",
)


def all_params(command: Command) -> tuple[Param, ...]:
    """The declared parameters plus the ones the framework adds (`output-format=`)."""
    return (*command.params, OUTPUT_FORMAT) if command.tabular else command.params


def split_key(word: str) -> tuple[str, str] | None:
    """`("key", "value")` if the word is a parameter, else None."""
    key, sep, value = word.partition("=")
    if sep and key and all(c in _KEY_CHARS for c in key):
        return key, value
    return None


def suggest(word: str, candidates: Sequence[str]) -> str | None:
    import difflib  # only on the error path

    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def type_name(param: Param) -> str:
    if param.metavar:
        return param.metavar
    if param.allowed:
        return "|".join(param.allowed)
    names = {str: "string", int: "integer", float: "number", bool: "yes|no"}
    kind = param.type
    return names.get(kind, getattr(kind, "__name__", "value"))  # type: ignore[call-overload]


def convert(param: Param, raw: str) -> Any:
    allowed = param.allowed
    if allowed and raw not in allowed:
        close = suggest(raw, allowed)
        raise UsageError(
            f'{param.name}: "{raw}" is not one of {", ".join(allowed)}',
            f'did you mean "{close}"?' if close else "",
        )
    kind = param.type
    if kind is str:
        return raw
    if kind is bool:
        folded = raw.lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise UsageError(f'{param.name}: "{raw}" is not a boolean', "use yes or no")
    if kind is int:
        try:
            return int(raw, 10)
        except ValueError:
            raise UsageError(f'{param.name}: "{raw}" is not an integer') from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f'{param.name}: "{raw}" is not a number') from None
    try:
        return kind(raw)
    except ValueError as exc:
        raise UsageError(f"{param.name}: {exc}") from None


def bind(command: Command, words: Sequence[str], usage: str) -> dict[str, Any]:
    """Bind argument words to the command's parameters; `usage` is the hint for misuse."""
    params = all_params(command)
    by_name = {p.name: p for p in params if p.kind is ParamKind.KEYWORD}
    positionals: list[str] = []
    given: dict[str, str] = {}
    unknown: list[str] = []
    for word in words:
        pair = split_key(word)
        if pair is None:
            positionals.append(word)
            continue
        key, value = pair
        if key not in by_name:
            unknown.append(key)
        elif key in given:
            raise UsageError(f'parameter "{key}" given more than once')
        else:
            given[key] = value
    extra: dict[str, str] = {}
    if unknown and command.extra_keywords:
        for word in words:
            pair = split_key(word)
            if pair is not None and pair[0] in unknown:
                extra[pair[0]] = pair[1]
        unknown = []
    if unknown:
        _unknown(unknown, params)

    slots = [p for p in params if p.kind is ParamKind.POSITIONAL]
    fill = [p for p in params if p.positional_ok and p.name not in given]
    spare = len(positionals) - sum(1 for p in slots if p.required)
    take = max(0, min(len(fill), spare))
    if take:
        tail = positionals[len(positionals) - take :]
        del positionals[len(positionals) - take :]
        for param, word in zip(fill, tail, strict=False):
            given[param.name] = word

    args: dict[str, Any] = {}
    if command.extra_keywords:
        args[command.extra_keywords] = extra
    missing: list[Param] = []
    index = 0
    for param in slots:
        if param.many:
            rest = positionals[index:]
            index = len(positionals)
            if rest:
                args[param.name] = tuple(convert(param, w) for w in rest)
            elif param.required:
                missing.append(param)
            else:
                args[param.name] = param.default
        elif index < len(positionals):
            args[param.name] = convert(param, positionals[index])
            index += 1
        elif param.required:
            missing.append(param)
        else:
            args[param.name] = param.default
    if index < len(positionals):
        raise UsageError(f'unexpected argument "{positionals[index]}"', usage)
    for param in params:
        if param.kind is not ParamKind.KEYWORD:
            continue
        if param.name in given:
            args[param.name] = convert(param, given[param.name])
        elif param.required:
            missing.append(param)
        else:
            args[param.name] = param.default
    if missing:
        plural = "s" if len(missing) > 1 else ""
        names = ", ".join(f'"{p.name}"' for p in missing)
        raise UsageError(f"missing required parameter{plural} {names}", usage)
    return args


def _unknown(keys: list[str], params: Sequence[Param]) -> None:
    keywords = [p.name for p in params if p.kind is ParamKind.KEYWORD]
    plural = "s" if len(keys) > 1 else ""
    message = f"unknown parameter{plural} " + ", ".join(f'"{k}"' for k in keys)
    close = suggest(keys[0], keywords)
    if close:
        hint = f'did you mean "{close}="?'
    elif keywords:
        hint = "parameters: " + ", ".join(f"{k}=" for k in keywords)
    else:
        hint = "this command takes no key=value parameters"
    raise UsageError(message, hint)
