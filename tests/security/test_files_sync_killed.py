"""A sync killed half way (kill -9) leaves no empty or partial file where a booting node or a
DHCP server would read it: each file is whole or absent, and the next sync finishes the job."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from rocks.sync.apply import TMP_SUFFIX, apply
from rocks.sync.plan import plan
from tests.sync.conftest import make_input

REPO = Path(__file__).resolve().parents[2]

# The child runs a first sync and SIGKILLs itself in the middle of writing its 15th file,
# after the file was opened (created) and before its bytes went in.
CHILD = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from rocks.sync.apply import apply
from rocks.sync.plan import plan
from tests.sync.conftest import make_input

calls = 0
real_write = os.write

def write(fd, data):
    global calls
    calls += 1
    if calls == 15:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)

os.write = write
apply(plan(make_input()), Path({root!r}))
"""


def test_kill_9_during_a_first_sync_leaves_no_empty_boot_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO), root=str(root))],
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
