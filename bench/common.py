"""JSON-line output shared by the benchmarks, in the shape ../shared/bench/cobbler prints."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import rocks

OUT = Path(os.environ.get("ROCKS_BENCH_OUT", Path(__file__).parent / "results"))


def emit(op: str, n: int, seconds: float, items: int | None = None, **extra: object) -> dict:
    items = n if items is None else items
    rec: dict[str, object] = {
        "system": "rocks", "version": rocks.__version__, "op": op, "n": n,
        "seconds": round(seconds, 6),
        "per_item_ms": round(seconds / items * 1000.0, 4) if items else None, "items": items,
    }
    rec.update(extra)
    line = json.dumps(rec)
    print(line, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{Path(sys.argv[0]).stem}.jsonl", "a") as fh:
        fh.write(line + "\n")
    return rec


def median_of(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
