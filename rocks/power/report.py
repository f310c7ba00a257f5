"""Showing many hosts' power results: dshbak-style groups (as `rocks run host` prints them),
one line per failure, and a one-line summary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rocks.power.model import OUTCOME_ORDER, Outcome, PowerResult
from rocks.remote.hostlist import compress, natural_key
from rocks.remote.report import grouped_texts


def grouped(results: Iterable[PowerResult]) -> str:
    """Successful hosts under `----- hosts -----` banners, one per distinct result."""
    return grouped_texts((r.host, r.text + "\n") for r in results if r.ok)


def problems(results: Iterable[PowerResult]) -> list[str]:
    return [f"{r.host}: {r.outcome}: {r.detail}" for r in
            sorted(results, key=lambda r: natural_key(r.host)) if not r.ok]


def summary(results: Sequence[PowerResult]) -> str:
    """`ok 48, denied 1 (compute-0-7), unreachable 2 (compute-0-[8-9])`."""
    parts: list[str] = []
    for outcome in OUTCOME_ORDER:
        hits = [r.host for r in results if r.outcome is outcome]
        if hits:
            parts.append(f"ok {len(hits)}" if outcome is Outcome.OK
                         else f"{outcome} {len(hits)} ({compress(hits)})")
    return ", ".join(parts) if parts else "no hosts"
