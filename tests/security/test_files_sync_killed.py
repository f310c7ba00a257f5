"""A sync killed half way (kill -9) leaves no empty or partial file where a booting node or a
DHCP server would read it: each file is whole or absent, and the next sync finishes the job."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rocks.sync.apply import TMP_SUFFIX, apply
from rocks.sync.plan import plan
from tests.sync.conftest import make_input

REPO = Path(__file__).resolve().parents[2]

# The child runs a first sync and SIGKILLs itself at the Nth call of one of the file system
# operations the applier uses: while writing a file (opened, its bytes not yet in), or half way
# through renaming the written files into place.
CHILD = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from rocks.sync.apply import apply
from rocks.sync.plan import plan
from tests.sync.conftest import make_input

calls = 0
real = getattr(os, {op!r})

def killing(*args):
    global calls
    calls += 1
    if calls == {nth}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)

setattr(os, {op!r}, killing)
apply(plan(make_input()), Path({root!r}))
"""


@pytest.mark.parametrize(("op", "nth"), [("write", 3), ("replace", 5)])
def test_kill_9_during_a_first_sync_leaves_no_empty_boot_file(tmp_path: Path, op: str,
                                                              nth: int) -> None:
    root = tmp_path / "root"
    child = CHILD.format(repo=str(REPO), root=str(root), op=op, nth=nth)
    proc = subprocess.run([sys.executable, "-c", child],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    wanted = {f.path: f.content for f in plan(make_input()).files}
    left = [p for p in root.rglob("*") if p.is_file()]
    seen = [p for p in left if not p.name.startswith(".")]
    assert len(seen) < len(wanted)  # it did die half way
    for path in seen:
        rel = str(path.relative_to(root))
        if rel in wanted:
            assert path.read_bytes() == wanted[rel], f"{rel} is partial"
    # the next sync removes the killed run's temp files and writes everything
    apply(plan(make_input()), root)
    for rel, content in wanted.items():
        assert (root / rel).read_bytes() == content
    assert not list(root.rglob(f"*{TMP_SUFFIX}"))
