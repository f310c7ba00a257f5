"""The benchmarks of several frontends on one PostgreSQL run at a small size and print their
JSON lines (bench/multi.py, bench/dhcpdb.py need a PostgreSQL server, so they are not in
bench/all.py's rounds). Nothing here asserts on a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import optional_skip

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _run(tmp_path: Path, script: str, *args: str) -> list[dict[str, object]]:
    if not os.environ.get("ROCKS_TEST_POSTGRES_URL"):
        optional_skip("no-postgres", "ROCKS_TEST_POSTGRES_URL is not set")
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "ROCKS_BENCH_OUT": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_multi_frontend_benchmark(tmp_path: Path) -> None:
    (rec,) = _run(tmp_path, "multi.py", "--nodes", "40", "--kill-after", "5")
    assert rec["op"] == "multi-frontend-kickstarts" and rec["n"] == 40
    assert rec["lost_events"] == 0 and rec["failed_nodes"] == 0
    assert rec["killed_a"] is True
    per = rec["per_frontend"]
    assert isinstance(per, dict) and set(per) <= {"fe-a", "fe-b"}
    assert isinstance(rec["p99_ms"], int | float)


def test_dhcp_database_benchmark(tmp_path: Path) -> None:
    recs = _run(tmp_path, "dhcpdb.py", "--hosts", "20", "--reps", "1")
    assert {r["op"] for r in recs} == {
        "kea-database-first-sync", "new_host_live_file", "new_host_live_kea_database",
        "mac_change_live_file", "mac_change_live_kea_database", "mac_change_inventory_only"}
    assert all(isinstance(r["seconds"], int | float) for r in recs)
