"""Inventory benchmark: whole `rocks` processes against a SQLite inventory, as an admin runs them.

Ops: `load hostfile` of 10,000 hosts into an empty inventory (target < 5 s), one `rocks add host`
(target < 250 ms wall), `rocks list host` over 10,000 hosts, and `rocks list host profile` for
1,000 hosts in one process. Medians over --reps; each record also carries the child processes'
CPU seconds (user + sys), which a busy machine does not inflate the way it inflates wall time.
Usage: .venv/bin/python bench/inventory.py [--hosts 10000] [--profiles 1000] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit

REPO = Path(__file__).resolve().parents[1]
ROCKS = str(REPO / ".venv" / "bin" / "rocks")


def hostfile(path: Path, n: int) -> Path:
    lines = ["name,appliance,rack,rank,interface,ip,mac,network"]
    for i in range(n):
        rack, rank = divmod(i, 100)
        lines.append(f"compute-{rack}-{rank},compute,{rack},{rank},eth0,"
                     f"10.1.{i // 250}.{i % 250 + 1},"
                     f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x},private")
    path.write_text("\n".join(lines) + "\n")
    return path


def rocks(state: Path, *argv: str) -> tuple[float, float]:
    """Run `rocks argv…` on `state`; (wall seconds, child CPU seconds). Fails loudly."""
    env = {**os.environ, "ROCKS_STATE": str(state)}
    env.pop("ROCKS_DATABASE_URL", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([ROCKS, *argv], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"rocks {' '.join(argv)} failed: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def fresh(root: Path, name: str) -> Path:
    state = root / name
    rocks(state, "add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
          "pxe=yes")
    return state


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--profiles", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="rocks-bench-inv-") as tmp:
        root = Path(tmp)
        big = hostfile(root / "hosts.csv", a.hosts)
        samples = []
        for rep in range(a.reps):
            state = fresh(root, f"load{rep}")
            samples.append(rocks(state, "load", "hostfile", str(big)))
        wall, cpu = medians(samples)
        emit("load_hostfile", a.hosts, wall, cpu_seconds=round(cpu, 4), stat="median",
             reps=a.reps, target_seconds=5.0, database="sqlite", process="whole")

        state = root / "load0"
        samples = [rocks(state, "load", "hostfile", str(big)) for _ in range(a.reps)]
        wall, cpu = medians(samples)
        emit("reload_hostfile_unchanged", a.hosts, wall, cpu_seconds=round(cpu, 4),
             stat="median", reps=a.reps, database="sqlite", process="whole")

        samples = [rocks(state, "add", "host", f"login-0-{i}", "appliance=login", "rack=0",
                         f"rank={i}") for i in range(max(a.reps, 5))]
        wall, cpu = medians(samples)
        emit("add_host_process", 1, wall, cpu_seconds=round(cpu, 4), stat="median",
             reps=len(samples), target_seconds=0.25, existing_hosts=a.hosts, database="sqlite")
        samples = [rocks(state, "--version") for _ in range(max(a.reps, 5))]
        wall, cpu = medians(samples)
        emit("startup_version_process", 1, wall, cpu_seconds=round(cpu, 4), stat="median",
             reps=len(samples), note="floor: interpreter + rocks.cli, no command")

        samples = [rocks(state, "list", "host") for _ in range(a.reps)]
        wall, cpu = medians(samples)
        emit("list_host_process", a.hosts, wall, cpu_seconds=round(cpu, 4), stat="median",
             reps=a.reps, database="sqlite")

        samples = [rocks(state, "dump") for _ in range(a.reps)]
        wall, cpu = medians(samples)
        emit("dump_process", a.hosts, wall, cpu_seconds=round(cpu, 4), stat="median",
             reps=a.reps, database="sqlite")

        prof = fresh(root, "profiles")
        rocks(prof, "load", "hostfile", str(hostfile(root / "small.csv", a.profiles)))
        samples = [rocks(prof, "list", "host", "profile", "compute", f"dir={root}/ks{rep}")
                   for rep in range(a.reps)]
        wall, cpu = medians(samples)
        emit("list_host_profile_process", a.profiles, wall, cpu_seconds=round(cpu, 4),
             stat="median", reps=a.reps, database="sqlite", note="one process, dir= output")


if __name__ == "__main__":
    main()
