"""Two frontends on one PostgreSQL serving N simulated nodes at once (default 10,000): half the
nodes ask frontend A (127.0.0.2) first, half frontend B (127.0.0.3); each node, from its own
loopback address, fetches its kickstart and posts its four install events, and turns to the
other frontend after a connection error (a node given two kickstart URLs).

Reports kickstarts/s in total and per frontend (kickstarts served over the span from the first
request to the last kickstart received), the kickstart latency p50/p99 as the nodes saw it
(retries included), and lost events: events a frontend acknowledged that are not in the
database (must be 0). `--kill-after K` kills frontend A with SIGKILL once it has served K
kickstarts (and acknowledged K events): its nodes carry on at B.

Needs a PostgreSQL server: ROCKS_TEST_POSTGRES_URL (scripts/pg-throwaway.sh) or --admin-url;
a database is created for the run and dropped after.

Usage: .venv/bin/python bench/multi.py [--nodes 10000] [--kill-after 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, machine
from tests.server.conftest import Server, make_cluster
from tests.server.nodes import NodeResult, Progress, install


def _span(results: list[NodeResult]) -> float:
    """From the first of them asking for its kickstart to the last of them having it."""
    if not results:
        return 0.0
    return max(r.ks_at for r in results) - min(r.ks_at - r.ks_seconds for r in results)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    wall: float  # the whole run
    span: float  # first request to last kickstart received
    start: float  # both frontends started
    killed: bool
    kickstarts: int
    failed: int
    lost_events: int
    unfinished: bool
    per_frontend: dict[str, tuple[int, float]]  # kickstarts served, over how long
    p50_ms: float
    p99_ms: float
    reconnects: int


def once(tmp: Path, url: str, n: int, kill_after: int) -> Outcome:
    from sqlalchemy import select

    from rocks.inventory.schema import HostRow, InstallEventRow

    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    cluster = make_cluster(tmp / "a", n, url=url)
    a = Server(cluster, tmp / "a", host="127.0.0.2", name="fe-a", max_inflight=4096)
    b = Server(cluster, tmp / "b", state=tmp / "b", host="127.0.0.3", name="fe-b",
               max_inflight=4096)
    try:
        t0 = time.perf_counter()
        a.start(timeout=600)
        b.start(timeout=600)
        start = time.perf_counter() - t0
        at_a, at_b = ("127.0.0.2", a.port), ("127.0.0.3", b.port)
        progress = Progress(target=kill_after or n + 1, only=f"127.0.0.2:{a.port}",
                            acks=kill_after)
        results: list[NodeResult] = []

        async def main() -> list[NodeResult]:
            return await asyncio.gather(*(
                install(name, cluster.addresses[name], cluster.tokens[name], 0, deadline=900,
                        progress=progress, servers=(at_a, at_b) if i % 2 == 0 else (at_b, at_a))
                for i, name in enumerate(cluster.names())))

        runner = threading.Thread(target=lambda: results.extend(asyncio.run(main())))
        t_run = time.perf_counter()
        runner.start()
        killed = False
        if kill_after:
            killed = progress.reached.wait(timeout=900)
            a.stop(kill=True)
        runner.join()
        wall = time.perf_counter() - t_run
        with cluster.inventory.transaction(readonly=True) as s:
            rows = s.execute(select(HostRow.name, InstallEventRow.stage,
                                    InstallEventRow.message)
                             .join(HostRow, InstallEventRow.host_id == HostRow.id)).all()
            unfinished = s.scalar(select(HostRow.id).where(HostRow.boot == "install").limit(1))
    finally:
        a.stop(kill=True)
        b.stop()
        cluster.inventory.close()
    stored = {(name, st) for name, st, msg in rows if msg == f"{name} {st}"}
    acked = {(r.name, st) for r in results for st in r.acked}
    failed = [r for r in results if r.errors or not r.kickstart]
    names = {f"127.0.0.2:{a.port}": "fe-a", f"127.0.0.3:{b.port}": "fe-b"}
    served: dict[str, list[NodeResult]] = {}
    for r in results:
        if r.kickstart and r.served_by:  # its first answer is its kickstart
            served.setdefault(names.get(r.served_by[0], r.served_by[0]), []).append(r)
    got = [r for r in results if r.kickstart]
    latencies = [r.ks_seconds for r in got]
    return Outcome(wall, _span(got), start, killed, len(got), len(failed),
                   len(acked - stored), unfinished is not None,
                   {k: (len(v), _span(v)) for k, v in sorted(served.items())},
                   statistics.median(latencies) * 1000 if latencies else 0.0,
                   _percentile(latencies, 0.99) * 1000, sum(r.reconnects for r in results))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--kill-after", type=int, default=0)
    ap.add_argument("--admin-url", default=os.environ.get("ROCKS_TEST_POSTGRES_URL", ""))
    a = ap.parse_args()
    if not a.admin_url:
        raise SystemExit("needs PostgreSQL: ROCKS_TEST_POSTGRES_URL or --admin-url "
                         "(scripts/pg-throwaway.sh start)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per node
    import psycopg

    name = f"rocks_bench_multi_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(a.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{a.admin_url.rpartition('/')[0]}/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="rocks-bench-multi-") as tmp:
            r = once(Path(tmp), url, a.nodes, a.kill_after)
    finally:
        with psycopg.connect(a.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    span = r.span
    emit("multi-frontend-kickstarts", a.nodes, span, items=r.kickstarts,
         kickstarts_per_s=round(r.kickstarts / span, 1) if span else None,
         per_frontend={k: {"kickstarts": v, "seconds": round(t, 3),
                           "per_s": round(v / t, 1) if t else None}
                       for k, (v, t) in r.per_frontend.items()},
         p50_ms=round(r.p50_ms, 1), p99_ms=round(r.p99_ms, 1), lost_events=r.lost_events,
         failed_nodes=r.failed, unfinished_hosts=r.unfinished, killed_a=r.killed,
         kill_after=a.kill_after, reconnects=r.reconnects, whole_run_s=round(r.wall, 2),
         frontends_start_s=round(r.start, 2), machine=machine())
    if r.lost_events or r.failed or r.unfinished:
        raise SystemExit(f"lost events {r.lost_events}, failed nodes {r.failed}, "
                         f"unfinished hosts {r.unfinished}")


if __name__ == "__main__":
    main()
