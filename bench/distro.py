"""Benchmark of the package layer: `create distro` over N small RPMs (default 5,000 in 5 rolls),
its no-change and one-file-changed re-runs, and one dnf depsolve against the result.

Usage: .venv/bin/python bench/distro.py [N] [REPS]. Generated RPMs are cached in
$ROCKS_BENCH_CACHE (default /tmp/rocks-bench-rpms) so only the first run pays for rpmbuild.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, median_of
from rocks.packages.depsolve import depsolve
from rocks.packages.distro import create_distro
from rocks.packages.roll import RollRecord, add_roll
from tests.packages.rpmtools import comps_xml, make_many_rpms

ROLLS = 5
CHUNK = 250  # subpackages per spec: rpmbuild slows down per package in very large specs


def _make_rolls(n: int, cache: Path) -> list[Path]:
    """ROLLS roll directories of n/ROLLS packages each, built CHUNK subpackages per spec."""
    per = n // ROLLS
    dirs = [cache / f"n{n}" / f"roll{r}" for r in range(ROLLS)]
    jobs = [
        (dirs[r] / "RPMS", f"bulk{r}c{c}", min(CHUNK, per - c * CHUNK))
        for r in range(ROLLS) if not (dirs[r] / "roll.xml").is_file()
        for c in range((per + CHUNK - 1) // CHUNK)
    ]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda job: make_many_rpms(job[2], job[0], prefix=job[1]), jobs))
    if jobs:
        emit("rpmbuild_subpackages", sum(j[2] for j in jobs), time.perf_counter() - t0,
             specs=len(jobs))
    last = f"bulk{{r}}c{(per - 1) // CHUNK}-p{(per - 1) % CHUNK + 1}"
    for r, root in enumerate(dirs):
        if not (root / "roll.xml").is_file():
            (root / "nodes").mkdir(exist_ok=True)
            (root / "graphs" / "default").mkdir(parents=True, exist_ok=True)
            (root / "comps.xml").write_text(comps_xml({f"group{r}": [last.format(r=r)]}))
            (root / "roll.xml").write_text(
                f'<roll name="bulk{r}"><info version="1.0" release="1" arch="x86_64" '
                'os="linux"/></roll>\n'
            )
    return dirs


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    cache = Path(os.environ.get("ROCKS_BENCH_CACHE", "/tmp/rocks-bench-rpms"))
    sources = _make_rolls(n, cache)
    with tempfile.TemporaryDirectory(prefix="rocks-bench-distro-") as tmp:
        work = Path(tmp)
        store = work / "store"
        t0 = time.perf_counter()
        rolls: list[RollRecord] = [add_roll(src, store) for src in sources]
        emit("add_roll_dir", n, time.perf_counter() - t0, rolls=len(rolls))
        out = work / "distro"

        cold: list[float] = []
        for _ in range(reps):
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            res = create_distro(rolls, out)
            cold.append(time.perf_counter() - t0)
            assert not res.unchanged and res.packages == n, res
        emit("create_distro_cold", n, statistics.median(cold), reps=reps,
             min=round(min(cold), 4))

        changed: list[float] = []
        victim = rolls[0].rpms_dir / sorted(os.listdir(rolls[0].rpms_dir))[0]
        for _ in range(reps):
            os.utime(victim)
            t0 = time.perf_counter()
            res = create_distro(rolls, out)
            changed.append(time.perf_counter() - t0)
            assert not res.unchanged
        emit("create_distro_one_changed", n, statistics.median(changed), reps=reps)

        unchanged_reps = max(reps, 10)
        sec = median_of(lambda: create_distro(rolls, out), unchanged_reps)
        assert create_distro(rolls, out).unchanged
        emit("create_distro_unchanged", n, sec, items=1, reps=unchanged_reps)

        per = n // ROLLS
        want = [f"bulk{r}c0-p{min(CHUNK, per)}" for r in range(ROLLS)]
        result = depsolve(out, want, ["group0"], [])
        assert result.ok, result.problems
        sec = median_of(lambda: depsolve(out, want, ["group0"], []), reps)
        emit("depsolve_subprocess", n, sec, items=1, reps=reps, install=len(result.install),
             inside_child=round(result.seconds, 4))


if __name__ == "__main__":
    main()
