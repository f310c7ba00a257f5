"""Finding the command in the words of a command line, Rocks style.

The command is the longest prefix of the words that names a registered command; the remaining
words are its arguments. Words that only lead towards commands make a menu; a word that leads
nowhere is an error with a typo suggestion over the words that could have come next.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rocks.cli.params import UsageError, suggest
from rocks.cli.registry import Entry
from rocks.commands import Command

Name = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Found:
    name: Name
    entry: Entry
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Menu:
    """The words so far are a prefix of some commands but name none (or `help` followed)."""

    prefix: Name


def next_words(prefix: Name, table: Mapping[Name, Entry]) -> list[str]:
    n = len(prefix)
    return sorted({name[n] for name in table if len(name) > n and name[:n] == prefix})


def commands_under(prefix: Name, table: Mapping[Name, Entry]) -> list[Name]:
    n = len(prefix)
    return sorted(name for name in table if name[:n] == prefix)


def spell(name: Sequence[str]) -> str:
    return " ".join(name)


def resolve(words: Sequence[str], table: Mapping[Name, Entry]) -> Found | Menu:
    prefixes = {name[:i] for name in table for i in range(len(name) + 1)}
    found: Found | None = None
    depth = 0  # how many words lead towards some command
    for i in range(len(words) + 1):
        head = tuple(words[:i])
        if head not in prefixes:
            break
        depth = i
        if head in table:
            found = Found(head, table[head], tuple(words[i:]))
    if found is not None:
        return found
    if depth == len(words) or words[depth] == "help":
        return Menu(tuple(words[:depth]))
    raise _unknown(words, depth, table)


def _unknown(words: Sequence[str], depth: int, table: Mapping[Name, Entry]) -> UsageError:
    corrected = list(words[:depth])
    span = depth
    for word in words[depth:]:
        choices = next_words(tuple(corrected), table)
        if word in choices:
            corrected.append(word)
        else:
            close = suggest(word, choices)
            if close is None:
                break
            corrected.append(close)
        span += 1
    if span > depth:
        typed = spell(words[:span])
        return UsageError(f'unknown command "{typed}"; did you mean "{spell(corrected)}"?')
    typed = spell(words[: depth + 1])
    if depth:
        where = spell(words[:depth])
        return UsageError(
            f'unknown command "{typed}"', f'"rocks {where}" lists the commands under "{where}"'
        )
    return UsageError(f'unknown command "{typed}"', '"rocks help" lists all commands')


def load(entry: Entry) -> Command:
    """Import the module an entry names and return its Command (import errors propagate)."""
    target = getattr(importlib.import_module(entry.module), entry.attr)
    if not isinstance(target, Command):
        raise TypeError(f"{entry.module}.{entry.attr} is not a Command")
    return target
