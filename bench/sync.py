"""`rocks sync config` and the one-host path as an admin runs them: whole `rocks` processes on
a real SQLite state of N compute hosts, all of them installing or every tenth (`rocks set host
boot … action=install` issued their tokens), the database read included.

Ops (n = hosts in the cluster; per_item_ms of the full syncs is per host):
- sync_config: `rocks sync config` into an empty output tree (everything written)
- sync_config_nochange: the same again (nothing changed: nothing planned, every file's stamp
  checked)
- sync_config_full: `rocks sync config full=yes` over the tree in place (every host planned,
  every file compared, nothing to write)
- set_interface_mac: `rocks set host interface mac H eth0 M` — a replaced NIC made live: the
  command writes the host's files and the shared files' changed fragments itself (items=1;
  checked: dhcpd.conf holds the new MAC afterwards)
- one_host_mac_sync: the same change with sync=no, then `rocks sync config` (the incremental
  sync after one change; that second command's own figure is sync_config_one_change)
- set_host_boot_install / set_host_boot_os: `rocks set host boot H action=…` (it writes the
  host's boot files itself)
- new_host_live: `rocks add host` + `rocks add host interface … ip= mac=` (live at once: what
  Cobbler's `system add` with sync does in one call)

Usage: .venv/bin/python bench/sync.py [--hosts 10000] [--installing all,tenth] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Run,
    add_runs,
    cluster_state,
    emit,
    installing_count,
    mac,
    machine,
    rocks_cli,
    stats,
)

_SUMMARY = re.compile(r"sync: (\d+) written, (\d+) removed, (\d+) unchanged")


def written(run: Run) -> dict[str, int]:
    found = _SUMMARY.search(run.stderr)
    if not found:
        raise SystemExit(f"sync config printed no summary: {run.stderr[-2000:]}")
    return {"written": int(found[1]), "removed": int(found[2]), "unchanged": int(found[3])}


def bench(root: Path, n: int, installing: str, reps: int) -> None:
    state = cluster_state(root / f"state-{installing}", n, installing)
    tag = {"installing": installing, "installing_hosts": installing_count(n, installing),
           "database": "sqlite", "process": "whole", **machine()}
    tree = state / "root"

    first, again, full = [], [], []
    for _ in range(reps):
        shutil.rmtree(tree, ignore_errors=True)
        os.sync()  # the previous tree's deletion is not this sync's cost
        first.append(rocks_cli(state, "sync", "config"))
        again.append(rocks_cli(state, "sync", "config"))
        full.append(rocks_cli(state, "sync", "config", "full=yes"))
    for run in (again[-1], full[-1]):
        if written(run)["written"]:
            raise SystemExit(f"a second sync config rewrote files: {run.stderr[-500:]}")
    s = stats(first)
    emit("sync_config", n, s.wall, **s.fields(), **written(first[-1]), **tag)
    s = stats(again)
    emit("sync_config_nochange", n, s.wall, **s.fields(), **tag)
    s = stats(full)
    emit("sync_config_full", n, s.wall, **s.fields(), **tag)

    host = "compute-0-1"  # never in the tenth that installs
    dhcpd = tree / "etc/dhcp/dhcpd.conf"
    mac_runs, sync_runs, both = [], [], []
    for rep in range(reps):
        new = mac(0xAB0000 + rep)
        mac_runs.append(rocks_cli(state, "set", "host", "interface", "mac", host, "eth0", new))
        if f"hardware ethernet {new};" not in dhcpd.read_text():
            raise SystemExit(f"set host interface mac did not make {new} live in {dhcpd}")
        later = mac(0xAC0000 + rep)
        changed = rocks_cli(state, "set", "host", "interface", "mac", host, "eth0", later,
                            "sync=no")
        synced = rocks_cli(state, "sync", "config")
        if not written(synced)["written"] or f"hardware ethernet {later};" not in \
                dhcpd.read_text():
            raise SystemExit("sync config did not write a MAC changed with sync=no")
        sync_runs.append(synced)
        both.append(add_runs(changed, synced))
    for op, runs in (("set_interface_mac", mac_runs), ("sync_config_one_change", sync_runs),
                     ("one_host_mac_sync", both)):
        s = stats(runs)
        emit(op, n, s.wall, items=1, **s.fields(), **tag)

    install, back = [], []
    for _ in range(reps):
        install.append(rocks_cli(state, "set", "host", "boot", host, "action=install"))
        back.append(rocks_cli(state, "set", "host", "boot", host, "action=os"))
    for op, runs in (("set_host_boot_install", install), ("set_host_boot_os", back)):
        s = stats(runs)
        emit(op, n, s.wall, items=1, **s.fields(), **tag)

    live = []
    for rep in range(reps):
        name = f"compute-{900 + rep}-0"
        new = mac(0xCD0000 + rep)
        live.append(add_runs(
            rocks_cli(state, "add", "host", name),
            rocks_cli(state, "add", "host", "interface", name, "eth0",
                      f"ip=10.1.250.{rep + 1}", f"mac={new}", "network=private")))
        if f"hardware ethernet {new};" not in dhcpd.read_text():
            raise SystemExit(f"add host interface did not make {name} live in {dhcpd}")
    s = stats(live)
    emit("new_host_live", n, s.wall, items=1, **s.fields(),
         note="add host + add host interface (live at once)", **tag)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--installing", default="all,tenth")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rocks-bench-sync-") as tmp:
        for installing in a.installing.split(","):
            bench(Path(tmp), a.hosts, installing, a.reps)


if __name__ == "__main__":
    main()
