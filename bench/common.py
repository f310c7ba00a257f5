"""What the benchmarks share: JSON lines in the shape ../shared/bench/cobbler prints, whole
`rocks` processes timed the way a user waits for them (wall) and what they cost the machine
(CPU seconds, peak RSS, optionally instructions under callgrind), and a real state directory
built with the CLI itself.

On a machine other people load, a process spends most of its wall time runnable but waiting
for a CPU; each whole-process record therefore also carries `unqueued_seconds`, its wall time
less that wait (the kernel's run-queue delay for the process), which is close to what the same
command takes on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import rocks

REPO = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("ROCKS_BENCH_OUT", Path(__file__).parent / "results"))
# The console script of the interpreter running the benchmark (the project's venv).
ROCKS = str(Path(sys.executable).parent / "rocks")


def emit(op: str, n: int, seconds: float, items: int | None = None, **extra: object) -> dict:
    """Print one measurement as a JSON line (and append it to OUT/<script>.jsonl).

    `per_item_ms` = seconds / items × 1000, as in the Cobbler harness."""
    items = n if items is None else items
    rec: dict[str, object] = {
        "system": "rocks", "version": rocks.__version__, "op": op, "n": n,
        "seconds": round(seconds, 6),
        "per_item_ms": round(seconds / items * 1000.0, 4) if items else None, "items": items,
    }
    rec.update(extra)
    line = json.dumps(rec)
    print(line, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{Path(sys.argv[0]).stem}.jsonl", "a") as fh:
        fh.write(line + "\n")
    return rec


def median_of(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass(frozen=True, slots=True)
class Run:
    """One finished process: wall seconds, CPU seconds (user + sys, with the children it
    waited for), seconds it spent runnable but waiting for a CPU (its run-queue delay from
    /proc/<pid>/schedstat: on a machine other people load, most of the wall time), peak RSS,
    and its output."""

    wall: float
    cpu: float
    queued: float
    rss_mb: float
    stdout: str
    stderr: str

    @property
    def unqueued(self) -> float:
        """Wall time less the wait for a CPU: what an otherwise idle machine would show."""
        return max(self.wall - self.queued, 0.0)


def _queued(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def run(argv: Sequence[str], env: Mapping[str, str] | None = None, *, check: bool = True
        ) -> Run:
    """Run argv to completion; the child's own rusage (wait4), not the benchmark's."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=dict(env) if env is not None else None)
        # exited but not yet reaped: its scheduler statistics are still readable
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        wall = time.perf_counter() - t0
        queued = _queued(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = Run(wall, usage.ru_utime + usage.ru_stime, queued, usage.ru_maxrss / 1024.0,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {done.stderr[-2000:]}")
    return done


def rocks_env(state: Path, **extra: str) -> dict[str, str]:
    """The environment of a `rocks` process on `state` (SQLite in it, sync under it)."""
    env = {**os.environ, "ROCKS_STATE": str(state), **extra}
    env.pop("ROCKS_DATABASE_URL", None)
    env.pop("ROCKS_SYNC_ROOT", None)
    return env


def rocks_cli(state: Path, *argv: str, check: bool = True) -> Run:
    """`rocks argv…` as a whole process on `state`, as an admin runs it."""
    return run([ROCKS, *argv], rocks_env(state), check=check)


def instructions(state: Path, *argv: str) -> int | None:
    """Instructions `rocks argv…` executes under callgrind (None without valgrind): a figure
    the other engineers' load on this machine does not change."""
    if not shutil.which("valgrind"):
        return None
    done = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                sys.executable, ROCKS, *argv], rocks_env(state))
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class Stats:
    wall: float
    cpu: float
    unqueued: float
    best: float
    rss_mb: float
    reps: int

    def fields(self) -> dict[str, object]:
        return {"cpu_seconds": round(self.cpu, 4), "unqueued_seconds": round(self.unqueued, 4),
                "best_seconds": round(self.best, 4), "peak_rss_mb": round(self.rss_mb, 1),
                "reps": self.reps, "stat": "median"}


def stats(runs: Sequence[Run]) -> Stats:
    """Medians of the runs' wall, CPU and wall-less-CPU-wait seconds; the best wall time."""
    return Stats(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
                 statistics.median(r.unqueued for r in runs), min(r.wall for r in runs),
                 max(r.rss_mb for r in runs), len(runs))


def add_runs(*parts: Run) -> Run:
    """Several processes a user runs one after the other, as one wait."""
    return Run(sum(p.wall for p in parts), sum(p.cpu for p in parts),
               sum(p.queued for p in parts), max(p.rss_mb for p in parts),
               "".join(p.stdout for p in parts), "".join(p.stderr for p in parts))


# ---------------------------------------------------------------------------- a real state


def mac(i: int) -> str:
    return f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"


def host_name(i: int) -> str:
    rack, rank = divmod(i, 100)
    return f"compute-{rack}-{rank}"


def host_ip(i: int) -> str:
    """10.1.10.1 onwards (the frontend keeps 10.1.1.1): 250 hosts per /24."""
    return f"10.1.{10 + i // 250}.{i % 250 + 1}"


def hostfile(path: Path, n: int) -> Path:
    lines = ["name,appliance,rack,rank,interface,ip,mac,network"]
    for i in range(n):
        rack, rank = divmod(i, 100)
        lines.append(f"{host_name(i)},compute,{rack},{rank},eth0,{host_ip(i)},{mac(i)},private")
    path.write_text("\n".join(lines) + "\n")
    return path


# Host arguments selecting every tenth host (ranks 0, 10, … 90 of every rack): 10 % installing.
TENTH = ("compute-*-0", "compute-*-?0")


def empty_state(state: Path) -> Path:
    """A new inventory with its private network (created by the CLI, as an admin would)."""
    rocks_cli(state, "add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
              "pxe=yes")
    return state


def cluster_state(state: Path, n: int, installing: str) -> Path:
    """n compute hosts loaded from a host file; `installing` is "all" or "tenth" (set to
    install with `rocks set host boot`, which issues their tokens and writes their boot files)."""
    empty_state(state)
    rocks_cli(state, "load", "hostfile", str(hostfile(state / "hosts.csv", n)))
    which = ("compute",) if installing == "all" else TENTH
    rocks_cli(state, "set", "host", "boot", *which, "action=install")
    return state


def installing_count(n: int, installing: str) -> int:
    return n if installing == "all" else sum(1 for i in range(n) if (i % 100) % 10 == 0)


def free_port() -> int:
    """A free port on 127.0.0.1: inside ROCKS_BENCH_PORTS (e.g. 18800-18899) when set."""
    span = os.environ.get("ROCKS_BENCH_PORTS", "")
    candidates = [0]
    if span:
        low, _, high = span.partition("-")
        candidates = list(range(int(low), int(high or low) + 1))
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise SystemExit(f"no free port in ROCKS_BENCH_PORTS={span}")


def machine() -> dict[str, object]:
    """What the figures depend on: cores, load (other users of the machine), bytecode."""
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()],
            "python": sys.version.split()[0]}


def children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime
