"""Benchmark `rocks sync`: plan + apply for N hosts into an empty tree, a no-change re-sync, and
a one-host change (incremental plan + apply). Prints JSON lines via bench.common.emit.

    .venv/bin/python -m bench.sync [N] [REPS]
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import emit
from rocks.model.inventory import Appliance, BootAction, BootState, Host, Interface, Network
from rocks.sync.apply import apply, disk_reader
from rocks.sync.inputs import Frontend, SyncInput
from rocks.sync.plan import plan, plan_hosts


def cluster(n: int) -> SyncInput:
    hosts = [Host("frontend", "frontend", interfaces=(
        Interface("frontend", "eth0", "52:54:00:ff:ff:ff", "10.1.0.1", "private"),))]
    for i in range(n):
        rack, rank = divmod(i, 100)
        name = f"compute-{rack}-{rank}"
        ip = f"10.1.{100 + i // 250}.{1 + i % 250}"
        mac = f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        hosts.append(Host(name, "compute", rack, rank,
                          boot=BootState.INSTALL if i % 10 == 0 else BootState.OS,
                          interfaces=(Interface(name, "eth0", mac, ip, "private"),)))
    return SyncInput(
        frontend=Frontend("frontend", "10.1.0.1", "http://10.1.0.1:8080"),
        networks=(Network("private", "10.1.0.0", "255.255.0.0", zone="local", servedns=True,
                          pxe=True),),
        appliances=(Appliance("frontend", "server", kickstartable=False),
                    Appliance("compute", "compute")),
        hosts=tuple(hosts),
        boot_actions=(BootAction("install", "vmlinuz", "initrd.img", "console=ttyS0"),
                      BootAction("os", "localboot 0")),
        tokens={h.name: f"tok-{h.name}" for h in hosts if h.boot is BootState.INSTALL},
        serial_date=date(2026, 1, 15),
    )


def flip(inp: SyncInput, name: str, state: BootState) -> SyncInput:
    hosts = tuple(dataclasses.replace(h, boot=state) if h.name == name else h for h in inp.hosts)
    return dataclasses.replace(inp, hosts=hosts, tokens={**inp.tokens, name: "tok-flip"})


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    for mac_names in (True, False):
        run(dataclasses.replace(cluster(n), pxe_mac_names=mac_names), n, reps)


def run(inp: SyncInput, n: int, reps: int) -> None:
    per_host = 4 if inp.pxe_mac_names else 2
    full, plans, nochange, one, one_plan = [], [], [], [], []
    files = 0
    for _ in range(reps):
        with tempfile.TemporaryDirectory(prefix="rocks-bench-sync-") as tmp:
            root = Path(tmp)
            os.sync()  # flush the previous repetition's deletions outside the timing
            t0 = time.perf_counter()
            p = plan(inp, previous=disk_reader(root))
            t1 = time.perf_counter()
            res = apply(p, root)
            full.append(time.perf_counter() - t0)
            plans.append(t1 - t0)
            files = len(res.changed)
            t0 = time.perf_counter()
            again = apply(plan(inp, previous=disk_reader(root)), root)
            nochange.append(time.perf_counter() - t0)
            assert again.changed == []
            for k in range(5):
                name = f"compute-0-{1 + k}"
                changed = flip(inp, name, BootState.INSTALL)
                t0 = time.perf_counter()
                p = plan_hosts(changed, [name], previous=disk_reader(root))
                t1 = time.perf_counter()
                res = apply(p, root)
                one.append(time.perf_counter() - t0)
                one_plan.append(t1 - t0)
                assert len(res.changed) == per_host, res.changed
    tag = {"files_per_host": per_host}
    emit("sync_full", n, statistics.median(full), items=files,
         plan_seconds=round(statistics.median(plans), 6), reps=reps, **tag)
    emit("sync_nochange", n, statistics.median(nochange), reps=reps, **tag)
    emit("sync_one_host", 1, statistics.median(one), hosts=n,
         plan_seconds=round(statistics.median(one_plan), 6), reps=reps * 5, **tag)


if __name__ == "__main__":
    main()
