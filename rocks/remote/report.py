"""Showing many nodes' results: collated lines, dshbak-style groups, and the status summary.

All output is in host order (natural: compute-0-2 before compute-0-10) whatever order the nodes
answered in, so a run's report is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rocks.remote.hostlist import compress, natural_key
from rocks.remote.ssh import OUTCOME_ORDER, HostResult, Outcome


def _ordered(results: Iterable[HostResult]) -> list[HostResult]:
    return sorted(results, key=lambda r: natural_key(r.host))


def output_of(result: HostResult) -> str:
    """What the node printed: stdout, then its stderr (newline-terminated when not empty)."""
    text = result.stdout + result.stderr
    return text if not text or text.endswith("\n") else text + "\n"


def collated(results: Iterable[HostResult]) -> str:
    """Every output line prefixed with its host: `compute-0-0: text`."""
    lines: list[str] = []
    for r in _ordered(results):
        if r.connected:
            lines += [f"{r.host}: {line}" for line in output_of(r).splitlines()]
    return "".join(line + "\n" for line in lines)


def banner(hosts: Iterable[str]) -> str:
    return f"----- {compress(hosts)} -----\n"


def grouped(results: Iterable[HostResult], group: bool = True) -> str:
    """Outputs under a `----- hosts -----` banner; identical outputs once when `group`."""
    ordered = [r for r in _ordered(results) if r.connected]
    if not group:
        return "".join(banner([r.host]) + output_of(r) for r in ordered)
    return grouped_texts((r.host, output_of(r)) for r in ordered)


def grouped_texts(items: Iterable[tuple[str, str]]) -> str:
    """(host, text) pairs: each distinct text once, under the banner of its hosts."""
    by_output: dict[str, list[str]] = {}
    for host, text in sorted(items, key=lambda item: natural_key(item[0])):
        by_output.setdefault(text, []).append(host)
    blocks = sorted(by_output.items(), key=lambda item: natural_key(item[1][0]))
    return "".join(banner(hosts) + text for text, hosts in blocks)


def summary(results: Sequence[HostResult]) -> str:
    """`ok 48, failed 1 (compute-0-7: exit 2), unreachable 1 (compute-0-9)` — one line."""
    parts: list[str] = []
    for outcome in OUTCOME_ORDER:
        hits = [r for r in results if r.outcome is outcome]
        if not hits:
            continue
        if outcome is Outcome.OK:
            parts.append(f"ok {len(hits)}")
            continue
        if outcome is Outcome.FAILED:
            by_detail: dict[str, list[str]] = {}
            for r in hits:
                by_detail.setdefault(f"exit {r.exit_status}", []).append(r.host)
            detail = "; ".join(
                f"{compress(h)}: {d}"
                for d, h in sorted(by_detail.items(), key=lambda i: natural_key(i[1][0]))
            )
        else:
            detail = compress(r.host for r in hits)
        parts.append(f"{outcome.value} {len(hits)} ({detail})")
    return ", ".join(parts) if parts else "no hosts"


def problems(results: Sequence[HostResult]) -> list[str]:
    """One line per node that did not succeed and did not run the command: why."""
    return [f"{r.host}: {r.outcome.value}: {r.detail}" if r.detail else f"{r.host}: {r.outcome}"
            for r in _ordered(results) if not r.connected]
