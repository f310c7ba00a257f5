"""Inventory commands as an admin runs them: whole `rocks` processes on a real SQLite state of
N hosts (database read included). Wall seconds are what the admin waits for; every record
also carries the process's CPU seconds, which other users of a busy machine inflate less, and
`add host` / `--version` are also counted in instructions under callgrind (not inflated at all).

Ops: `load hostfile` of N hosts into an empty inventory (and again, unchanged), one `rocks add
host` at N hosts (target ≤ 150 ms), `rocks --version` (the interpreter + CLI floor), `rocks list
host` and `rocks dump` over N hosts, `rocks list host profile` for min(N, 1,000) hosts in one
process. Usage: .venv/bin/python bench/inventory.py [--hosts 10000] [--reps 3] [--callgrind]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    emit,
    empty_state,
    hostfile,
    instructions,
    machine,
    rocks_cli,
    stats,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--profiles", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--add-reps", type=int, default=5,
                    help="repetitions of the quick commands (add host, --version)")
    ap.add_argument("--callgrind", action="store_true",
                    help="also count add host's and --version's instructions (valgrind)")
    a = ap.parse_args()
    n = a.hosts
    common = {"database": "sqlite", "process": "whole", **machine()}
    with tempfile.TemporaryDirectory(prefix="rocks-bench-inv-") as tmp:
        root = Path(tmp)
        big = hostfile(root / "hosts.csv", n)
        runs = []
        for rep in range(a.reps):
            state = empty_state(root / f"load{rep}")
            runs.append(rocks_cli(state, "load", "hostfile", str(big)))
        s = stats(runs)
        emit("load_hostfile", n, s.wall, **s.fields(), target_seconds=5.0, **common)
        state = root / "load0"
        s = stats([rocks_cli(state, "load", "hostfile", str(big)) for _ in range(a.reps)])
        emit("reload_hostfile_unchanged", n, s.wall, **s.fields(), **common)

        reps = a.add_reps
        s = stats([rocks_cli(state, "add", "host", f"login-0-{i}", "appliance=login", "rack=0",
                             f"rank={i}") for i in range(reps)])
        emit("add_host", n, s.wall, items=1, **s.fields(), existing_hosts=n,
             target_seconds=0.15, **common)
        s = stats([rocks_cli(state, "--version") for _ in range(reps)])
        emit("startup_version", n, s.wall, items=1, **s.fields(),
             note="floor: interpreter + rocks.cli, no command", **common)
        if a.callgrind:
            count = instructions(state, "add", "host", "login-1-0", "appliance=login", "rack=1")
            floor = instructions(state, "--version")
            if count is not None and floor is not None:
                emit("add_host_instructions", n, 0.0, items=1, instructions=count, existing_hosts=n,
                     note="valgrind --tool=callgrind, whole process", **common)
                emit("startup_version_instructions", n, 0.0, items=1, instructions=floor,
                     **common)

        s = stats([rocks_cli(state, "list", "host") for _ in range(a.reps)])
        emit("list_host", n, s.wall, **s.fields(), **common)
        s = stats([rocks_cli(state, "dump") for _ in range(a.reps)])
        emit("dump", n, s.wall, **s.fields(), **common)

        m = min(n, a.profiles)
        prof = empty_state(root / "profiles")
        rocks_cli(prof, "load", "hostfile", str(hostfile(root / "small.csv", m)))
        s = stats([rocks_cli(prof, "list", "host", "profile", "compute", f"dir={root}/ks{rep}")
                   for rep in range(a.reps)])
        emit("list_host_profile", m, s.wall, **s.fields(), note="one process, dir= output",
             **common)


if __name__ == "__main__":
    main()
