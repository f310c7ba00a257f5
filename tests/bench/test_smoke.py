"""Every benchmark runs, so none can crash unnoticed: `bench/all.py --smoke` (about 20 hosts,
one round, no Cobbler) once for the module, then each benchmark's JSON lines are checked — and
the summary and the README's speed table are generated from them. Nothing here asserts on a
time: the figures only have to be there and be numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.all import BENCHES, Bench, json_lines, summarize
from bench.readme_table import BEGIN, END, rewrite

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


class Smoke:
    def __init__(self, out: Path, done: subprocess.CompletedProcess[str]) -> None:
        self.out = out
        self.done = done
        self.summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
        self.lines = (out / "records.jsonl").read_text().splitlines()
        self.records = [json.loads(line) for line in self.lines]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Smoke:
    out = tmp_path_factory.mktemp("bench-smoke")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "all.py"), "--smoke",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert (out / "summary.json").is_file(), done.stderr[-3000:]
    return Smoke(out, done)


@pytest.mark.parametrize("bench", BENCHES, ids=lambda b: b.name)
def test_each_benchmark_runs_and_prints_its_json_lines(smoke: Smoke, bench: Bench) -> None:
    failed = [f for f in smoke.summary["failures"] if f["bench"] == bench.name]
    assert failed == [], (failed, (smoke.out / "stderr.log").read_text()[-4000:])
    records = [r for r in smoke.records if r["bench"] == bench.name]
    missing = set(bench.ops) - {r["op"] for r in records}
    assert not missing, f"{bench.script} printed no {sorted(missing)}"
    for r in records:
        assert r["system"] == "rocks"
        assert isinstance(r["n"], int) and r["n"] > 0, r
        assert isinstance(r["seconds"], int | float) and r["seconds"] >= 0, r
        assert r["per_item_ms"] is None or isinstance(r["per_item_ms"], int | float), r
    if bench.sized:
        assert {r["n"] for r in records} == {20}, "the size given is the size measured"


def test_the_run_summarises_every_measurement(smoke: Smoke) -> None:
    assert smoke.done.returncode == 0, smoke.done.stderr[-3000:]
    assert smoke.summary["rounds"] == 1 and smoke.summary["cobbler"]["used"] is False
    measured = {(r["op"], r["n"]) for r in smoke.records}
    summarised = {(m["op"], m["n"]) for m in smoke.summary["medians"]}
    assert measured == summarised
    whats = [h["what"] for h in smoke.summary["headline"]]
    assert any("add host" in w for w in whats) and any("sync config" in w for w in whats)


def test_the_readme_table_is_generated_from_the_summary(smoke: Smoke) -> None:
    readme = f"# title\n\nbefore\n\n{BEGIN}\nold table\n{END}\n\nafter\n"
    # a missed target as the table shows it (whether the smoke run missed one depends on the
    # machine's load)
    missed = {"topic": "other", "what": "a missed one", "ours": "2 s", "cobbler": "",
              "ratio": None, "better": "lower", "target": "< 1 s", "met": False,
              "met_unqueued": False, "note": ""}
    summary = {**smoke.summary, "headline": [*smoke.summary["headline"], missed]}
    new = rewrite(readme, summary)
    assert new.startswith("# title\n\nbefore\n\n") and new.endswith(f"{END}\n\nafter\n")
    assert "old table" not in new
    for row in summary["headline"]:
        assert row["what"].replace("|", "\\|") in new
    assert rewrite(new, summary) == new  # idempotent
    assert "| a missed one | 2 s |  |  | < 1 s — **missed** |" in new


def test_the_committed_readme_is_what_the_committed_summary_says() -> None:
    summary = json.loads((REPO / "bench" / "summary.json").read_text())
    readme = (REPO / "README.md").read_text()
    assert rewrite(readme, summary) == readme, "run bench/readme_table.py"


def _rec(system: str, op: str, n: int, seconds: float, items: int = 1, **extra: Any
         ) -> dict[str, Any]:
    return {"system": system, "op": op, "n": n, "seconds": seconds,
            "per_item_ms": seconds / items * 1000, "items": items, **extra}


def test_ratios_are_against_cobbler_at_the_same_size() -> None:
    records = []
    for rnd, scale in ((1, 1.0), (2, 2.0), (3, 3.0)):  # the medians are round 2's
        records += [
            _rec("rocks", "add_host", 1000, 0.1 * scale, round=rnd),
            _rec("rocks", "sync_config", 1000, 1.0 * scale, 1000, installing="all",
                 round=rnd),
            _rec("rocks", "set_interface_mac", 1000, 0.5 * scale, installing="tenth",
                 round=rnd),
            _rec("rocks", "serve_kickstart_wrk", 1000, 5, 50000, clients=64, rate=10000 * scale,
                 p50_ms=1, p99_ms=9, round=rnd),
            _rec("rocks", "serve_kickstart_wrk", 1000, 5, 50000, clients=512, rate=9000 * scale,
                 p50_ms=2, p99_ms=200, round=rnd),
            _rec("rocks", "serve_nginx_wrk", 1000, 5, 50000, clients=64, rate=40000 * scale,
                 round=rnd),
            _rec("rocks", "serve_nginx_wrk", 1000, 5, 50000, clients=512, rate=36000 * scale,
                 round=rnd),
            _rec("cobbler", "add_system_synced", 1000, 2.0 * scale, 5, round=rnd),
            _rec("cobbler", "sync_full", 1000, 8.0 * scale, 1000, round=rnd),
            _rec("cobbler", "sync_full", 5000, 40.0, 5000, round=rnd),
            _rec("cobbler", "http_autoinstall", 1000, 100, 2000, rps=20.0 * scale,
                 p50_ms=1000, p95_ms=500, cobblerd_rss_mb=70, round=rnd),
        ]
    summary = summarize(records)
    rows = {h["what"].split(",")[0]: h for h in summary["headline"]}
    add = rows["one `rocks add host` at 1"]
    assert (add["ours"], add["ratio"], add["met"]) == ("200 ms", 0.25, False)  # 0.2 ÷ (4/5)
    sync = rows["full `rocks sync config`"]
    assert sync["ratio"] == 0.125 and sync["cobbler"] == "16.00 s = 16.00 ms/system"
    live = rows["one host changed → live: `set host interface mac …` (it writes the files "
                "itself)"]
    assert live["ratio"] == 1.25 and live["met"] is False
    rate = rows["kickstarts/s"]
    assert (rate["ratio"], rate["better"]) == (500.0, "higher")
    nginx = rows["the same bytes from nginx"]
    assert nginx["ratio"] == 0.25 and nginx["met"] is False
    p99 = rows["kickstart latency p50 / p99 at 512 clients"]
    assert (p99["ours"], p99["met"]) == ("2.0 ms / 200 ms", False)
    assert p99["cobbler"] == "p50 1.00 s, p95 500 ms (8 clients)"


def test_unparsable_lines_are_reported_not_skipped() -> None:
    good, bad = json_lines('noise\n{"op": "a", "n": 1}\n{"op": \n[1]\n{"x": 1')
    assert good == [{"op": "a", "n": 1}]
    assert bad == ['{"op":', '{"x": 1']
