"""Host lists written compactly, the way pdsh/dshbak print them: `compute-0-[0-3,7],login-0-0`.

Names ending in digits are grouped by what precedes the digits; runs of consecutive numbers
become ranges. Zero-padded numbers keep their width (`n[01-03]`) and never merge with unpadded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TAIL = re.compile(r"^(.*?)(\d+)$")


def natural_key(name: str) -> tuple[str, int, str]:
    """Sort key putting compute-0-2 before compute-0-10."""
    m = _TAIL.match(name)
    return (m.group(1), int(m.group(2)), name) if m else (name, -1, name)


def _ranges(numbers: list[int], width: int) -> str:
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        a, b = str(start).zfill(width), str(prev).zfill(width)
        parts.append(a if start == prev else f"{a}-{b}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


def compress(names: Iterable[str]) -> str:
    """`compute-0-0 compute-0-1 compute-0-2 login-0-0` → `compute-0-[0-2],login-0-0`."""
    groups: dict[tuple[str, int], set[int]] = {}
    plain: set[str] = set()
    for name in set(names):
        m = _TAIL.match(name)
        if not m:
            plain.add(name)
            continue
        digits = m.group(2)
        width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        groups.setdefault((m.group(1), width), set()).add(int(digits))
    items: list[tuple[tuple[str, int, str], str]] = []
    for (prefix, width), nums in groups.items():
        ordered = sorted(nums)
        if len(ordered) == 1:
            text = f"{prefix}{str(ordered[0]).zfill(width)}"
        else:
            text = f"{prefix}[{_ranges(ordered, width)}]"
        items.append(((prefix, ordered[0], text), text))
    items.extend(((name, -1, name), name) for name in plain)
    return ",".join(text for _key, text in sorted(items))
