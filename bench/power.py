"""Power status of 1,000 simulated BMCs against the number of workers.

91 OpenIPMI ipmi_sim processes answer on 1,000 loopback addresses (127.16.100.1 …, port 623,
one LAN channel each, 11 per process); the inventory holds 1,000 hosts whose BMC interfaces
point there. Each figure is a whole `rocks set host power compute action=status
num-threads=W` process (median of 3). Baseline in the same run: ipmitool (the field's CLI,
what Rocks ran per host) asking 50 of the same BMCs one after another.

Run: sudo .venv/bin/python bench/power.py [N]   (JSON lines via bench/common.emit)
BENCH_WORKERS=8,128 picks the worker counts; BENCH_POWER_NET=127.17 moves the simulators off
127.16.100-103.x (when another run may be using those addresses).
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit
from tests.integration.bmcsim import MAX_ENDPOINTS, ipmi_sim_missing, write_ipmi_sim

ROCKS = Path(sys.executable).parent / "rocks"
USER, PASSWORD = "admin", "bench-pw"
WORKERS = tuple(int(w) for w in os.environ.get("BENCH_WORKERS", "1,8,32,128,512").split(","))
NET = os.environ.get("BENCH_POWER_NET", "127.16")


def address(i: int) -> str:
    return f"{NET}.{100 + i // 250}.{i % 250 + 1}"


def start_sims(root: Path, n: int) -> list[subprocess.Popen[bytes]]:
    procs = []
    for k in range(math.ceil(n / MAX_ENDPOINTS)):
        eps = [(address(i), 623) for i in range(k * MAX_ENDPOINTS, min(n, (k + 1) * MAX_ENDPOINTS))]
        # one simulator stands for 11 BMCs: let it hold the sessions of all of them
        argv = write_ipmi_sim(root / f"sim{k}", f"bench{k}", eps, USER, PASSWORD,
                              max_sessions=63)
        with (root / f"sim{k}.log").open("wb") as out:
            procs.append(subprocess.Popen(argv, stdout=out, stderr=out,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
    time.sleep(1.0)
    dead = [p for p in procs if p.poll() is not None]
    if dead:
        raise SystemExit(f"{len(dead)} ipmi_sim processes exited; see {root}/sim*.log")
    return procs


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rocks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROCKS), *args], capture_output=True, text=True, env=env,
                          timeout=900)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    why = ipmi_sim_missing()
    if why:
        raise SystemExit(why)
    root = Path(tempfile.mkdtemp(prefix="rocks-bench-power-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
    env["ROCKS_STATE"] = str(root / "state")
    procs = start_sims(root, n)
    try:
        rows = ["name,appliance,rack,rank,interface,ip,mac,network,bmc"]
        rows += [f"compute-{i // 100}-{i % 100},compute,{i // 100},{i % 100},ipmi,{address(i)},,"
                 "mgmt,ipmi" for i in range(n)]
        (root / "hosts.csv").write_text("\n".join(rows) + "\n")
        for args in (("add", "network", "mgmt", f"subnet={NET}.100.0", "netmask=255.255.252.0"),
                     ("load", "hostfile", str(root / "hosts.csv")),
                     ("set", "attr", "bmc_username", USER),
                     ("set", "attr", "bmc_password", PASSWORD, "secret=yes")):
            r = rocks(env, *args)
            assert r.returncode == 0, r.stdout + r.stderr
        first = None
        for w in WORKERS:
            times, cpus, oks = [], [], []
            for _ in range(3):
                t0 = time.perf_counter()
                c0 = _children_cpu()
                r = rocks(env, "set", "host", "power", "compute", "action=status",
                          f"num-threads={w}", "timeout=30")
                times.append(time.perf_counter() - t0)
                cpus.append(_children_cpu() - c0)  # rocks and its helper processes
                # the summary line: `ok N[, timed out M (…)]`
                summary = next((ln for ln in reversed(r.stderr.splitlines())
                                if ln.startswith(("ok ", "timed out", "unreachable"))), "")
                oks.append(int(summary.split(",")[0][3:]) if summary.startswith("ok ") else 0)
            median = statistics.median(times)
            first = first or median
            emit("power-status", n, median, workers=w, protocol="ipmi", bmcs=n,
                 sims=len(procs), ok_min=min(oks), ok_max=max(oks),
                 cpu_seconds=round(statistics.median(cpus), 2),
                 speedup_vs_first=round(first / median, 2))
        if shutil.which("ipmitool"):
            sample = min(50, n)
            t0 = time.perf_counter()
            for i in range(sample):
                subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", address(i), "-U",
                                USER, "-P", PASSWORD, "chassis", "power", "status"],
                               capture_output=True, check=True, timeout=60)
            per = (time.perf_counter() - t0) / sample
            emit("power-status-baseline-ipmitool-sequential", sample, per * sample,
                 protocol="ipmi", projected_seconds_for_n=round(per * n, 2), n_projected=n)
        else:
            print("no ipmitool: baseline not measured (apt-get install ipmitool)",
                  file=sys.stderr)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
