"""Mass reinstall: N simulated nodes (default 1,000), each from its own loopback address, fetch
their kickstarts and post their four install events at once against a real frontend process
(uvicorn, SQLite inventory), as tests/server/test_load.py does for correctness. Reports the whole
run's wall time; the suite asserts only that every node completes (no wall-clock asserts).

Usage: .venv/bin/python bench/reinstall.py [--nodes 1000] [--reps 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit
from tests.server.conftest import Server, make_cluster
from tests.server.test_load import run_nodes


def once(n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="rocks-bench-reinstall-") as tmp:
        cluster = make_cluster(Path(tmp), n)
        srv = Server(cluster, Path(tmp))
        srv.start()
        try:
            t0 = time.perf_counter()
            results = run_nodes(cluster, srv.port)
            seconds = time.perf_counter() - t0
        finally:
            srv.stop()
            cluster.inventory.close()
    bad = [r.name for r in results if r.errors]
    if bad:
        raise SystemExit(f"{len(bad)} nodes failed, e.g. {bad[:3]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=1)
    a = ap.parse_args()
    runs = [once(a.nodes) for _ in range(a.reps)]
    emit("mass-reinstall", a.nodes, statistics.median(runs), reps=a.reps,
         requests=a.nodes * 5, target_s=60)


if __name__ == "__main__":
    main()
