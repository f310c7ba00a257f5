"""Schema validation of every node file of the Rocks corpus (../shared/corpus/rocks/*/nodes):
the median time per file over --reps passes (target: under 1 ms a file). Moved here from the
suite, which asserts only that the corpus validates.

Usage: .venv/bin/python bench/validate.py [--reps 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, median_of
from rocks.compiler.schema import Kind, validate
from tests.unit.test_schema import CORPUS, load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"no corpus at {CORPUS}")
    docs = [load(p.read_bytes()) for p in sorted(CORPUS.glob("*/nodes/*.xml"))]
    validate(docs[0], Kind.NODE, "warm-up")

    def all_files() -> None:
        for doc in docs:
            validate(doc, Kind.NODE, "x")

    emit("validate-node-files", len(docs), median_of(all_files, a.reps), reps=a.reps,
         target_per_item_ms=1.0)


if __name__ == "__main__":
    main()
