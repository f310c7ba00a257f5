"""Rules of the suite itself: skips only from the one list in tests/conftest.py (enforced at run
time too), no wall-clock asserts (timings belong to bench/)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import CI_SKIPS, OPTIONAL_SKIPS, REPO

TESTS = REPO / "tests"
SKIP = re.compile(r"pytest\.skip\(|mark\.skip\b|mark\.skipif\b|importorskip\(|xfail\b")
WALL_CLOCK = re.compile(r"\bperf_counter\b|^\s*assert\b.*\b(elapsed|monotonic|time\.time)\b")
KEY_USE = re.compile(r"optional_(?:skip|unless)\((?:[^,()]*,\s*)?\"([a-z-]+)\"")


def sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p != Path(__file__))


def test_no_skip_outside_the_one_list() -> None:
    found = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
             for p in sources() if p != TESTS / "conftest.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if SKIP.search(line)]
    assert found == [], "skip through tests/conftest.py optional_skip (OPTIONAL_SKIPS) instead"


def test_every_optional_skip_names_a_listed_key() -> None:
    used = {m for p in sources() for m in KEY_USE.findall(p.read_text())}
    assert used, "the pattern finds no use: fix KEY_USE"
    assert used <= OPTIONAL_SKIPS.keys()
    assert {"wide-matrix"} == CI_SKIPS  # what CI may skip: the opt-in wide PXE matrix only


def test_no_wall_clock_asserts() -> None:
    found = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
             for p in sources()
             for n, line in enumerate(p.read_text().splitlines(), 1) if WALL_CLOCK.search(line)]
    assert found == [], "timings are measured in bench/, never asserted in a test"


def test_an_unlisted_skip_fails_and_a_listed_one_skips_outside_ci(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_x.py").write_text(textwrap.dedent("""\
        import pytest
        from tests.conftest import optional_skip

        def test_unlisted():
            pytest.skip("dot is not installed")

        @pytest.mark.skipif(True, reason="some tool is missing")
        def test_unlisted_marker():
            pass

        def test_listed():
            optional_skip("no-corpus", "no corpus here")
        """))

    def run(ci: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env.update(CI=ci, PYTHONPATH=str(REPO), COLUMNS="400")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:randomly",
             "-p", "no:cacheprovider", "-rA", "-c", str(tmp_path / "pytest.ini"),
             str(tmp_path / "test_x.py")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        return done.stdout

    out = run("")
    assert "1 failed, 1 skipped, 1 error" in out  # the marker fails at setup
    assert re.search(r"FAILED \S*test_x.py::test_unlisted - skipped for a reason that is not", out)
    assert re.search(r"ERROR \S*test_x.py::test_unlisted_marker - skipped for", out)
    assert re.search(r"SKIPPED \[1\] \S*test_x.py:11: \[no-corpus\] no corpus here", out)
    out = run("true")
    assert re.search(r"FAILED \S*test_x.py::test_listed - .*no corpus here — not optional", out)
