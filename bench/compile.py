"""Compiler benchmark: cold load + merge of the corpus, compile of an appliance, warm host render.

Prints JSON lines (see bench/common.py). The baseline, measured in the same run, is what Rocks
did for every kickstart request: walk the graph and generate the kickstart from scratch
(`per_request_walk`); `render_host` is ours from the compile cache.
Usage: .venv/bin/python bench/compile.py [--hosts 10000] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, median_of
from rocks.compiler.compile import EvalMode
from rocks.compiler.service import Compiler, load_graph, preview_attributes

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "rocks"
ROCKS7 = ["base", "core", "hpc", "sge", "ganglia"]


def host_attrs(base: dict[str, str], i: int) -> dict[str, str]:
    return {**base, "hostname": f"compute-0-{i}", "rank": str(i),
            "hostaddr": f"10.1.{i // 250}.{i % 250 + 1}",
            "ksmac": f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
            "install_token": f"tok{i:08d}"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()

    all_rolls = sorted(p for p in CORPUS.iterdir() if p.is_dir())
    t = median_of(lambda: load_graph(rolls=all_rolls, bundled=False, release="el7"), a.reps)
    g_all = load_graph(rolls=all_rolls, bundled=False, release="el7")
    emit("load_merge_corpus", len(all_rolls), t, items=1, nodes=len(g_all.nodes),
         stat="median", reps=a.reps)

    graph = load_graph(rolls=[CORPUS / r for r in ROCKS7], bundled=False, release="el7")
    site = json.loads((REPO / "tests" / "data" / "rocks7-attrs.json").read_text())
    base = {**preview_attributes(graph, "compute", "el7"), **site}

    def cold_compile(validate: bool) -> None:
        Compiler(graph, release="el7", eval_mode=EvalMode.SKIP, validate=validate).compile(
            "compute", base)

    t = median_of(lambda: cold_compile(True), a.reps)
    emit("compile_appliance", 1, t, stat="median", reps=a.reps, appliance="compute",
         rolls="+".join(ROCKS7), validated=True)
    t_walk = median_of(lambda: Compiler(graph, release="el7", eval_mode=EvalMode.SKIP,
                                        validate=False).render("compute", base), a.reps)
    emit("per_request_walk", 1, t_walk, stat="median", reps=a.reps,
         note="baseline: traverse + compile + render from scratch, no validation")

    comp = Compiler(graph, release="el7", eval_mode=EvalMode.SKIP)
    comp.render("compute", host_attrs(base, 0))
    hosts = [host_attrs(base, i) for i in range(a.hosts)]
    samples = []
    for h in hosts[:2000]:
        t0 = time.perf_counter()
        comp.render("compute", h)
        samples.append(time.perf_counter() - t0)
    med = statistics.median(samples)
    emit("render_host", 1, med, stat="median", reps=len(samples),
         p99_ms=round(sorted(samples)[int(len(samples) * 0.99)] * 1000, 4),
         ratio_vs_per_request_walk=round(t_walk / med, 1),
         bytes=len(comp.render("compute", hosts[0])))
    t0 = time.perf_counter()
    total = 0
    for h in hosts:
        total += len(comp.render("compute", h))
    emit("render_hosts", a.hosts, time.perf_counter() - t0, bytes=total,
         compiles=comp.stats["misses"])


if __name__ == "__main__":
    main()
