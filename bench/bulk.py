"""Bulk operations as an admin runs them: whole `rocks` processes on a SQLite state of 5,000 hosts.

Ops (medians over --reps, JSON lines via bench.common.emit, each with the child's CPU seconds):
  set_host_boot_install   `rocks set host boot compute action=install force=yes` (from os):
                          tokens for every host, 2 boot files each (target ≤ 2 s)
  set_host_boot_os        `rocks set host boot compute action=os` (from install): files removed
  remove_host_rack_sync   `rocks remove host rack7` (100 hosts) with its DHCP/DNS/hosts re-sync
Baselines measured in the same run:
  startup_version         `rocks --version`: the interpreter and the CLI, no command
  fs_floor_install        plain Python creating the same inodes those boot files need
                          in an empty directory on the same file system (no rocks at all)
  fs_floor_os             ...and unlinking them again
With --tmpfs, the boot-file ops run a second time with the sync root on /dev/shm, which
separates the program's cost from the disk's.

    .venv/bin/python bench/bulk.py [--hosts 5000] [--reps 3] [--tmpfs]
"""

from __future__ import annotations

import argparse
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
from bench.inventory import hostfile

REPO = Path(__file__).resolve().parents[1]
ROCKS = str(REPO / ".venv" / "bin" / "rocks")


def rocks(env: dict[str, str], *argv: str) -> tuple[float, float, str]:
    """Run `rocks argv…`; (wall seconds, child CPU seconds, stdout). Fails loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([ROCKS, *argv], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"rocks {' '.join(argv)} failed: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def environment(state: Path, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
    env.update(ROCKS_STATE=str(state), ROCKS_SYNC_ROOT=str(root), ROCKS_CONFIG="")
    return env


def median2(samples: list[tuple[float, float, str]]) -> tuple[float, float]:
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))


def fs_floor(where: Path, hosts: int) -> tuple[float, float]:
    """Seconds to create 2 inodes per host (what `action=install` writes: pxelinux.cfg/<HEXIP>
    and grub.cfg-<mac>), then to unlink them, with nothing but os calls."""
    d = Path(tempfile.mkdtemp(prefix="floor-", dir=where))
    body = b"x" * 300
    names = []
    t0 = time.perf_counter()
    for i in range(hosts):
        for kind in ("p", "g"):
            first = f"{d}/{kind}{i}"
            fd = os.open(first, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, body)
            os.close(fd)
            names.append(first)
    os.sync()
    create = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in names:
        os.unlink(name)
    os.sync()
    remove = time.perf_counter() - t0
    shutil.rmtree(d)
    return create, remove


def boot_round(env: dict[str, str], reps: int, hosts: int, tag: dict[str, object]) -> None:
    install, back = [], []
    for _ in range(reps):
        os.sync()  # the previous round's writes are not this round's cost
        install.append(rocks(env, "set", "host", "boot", "compute", "action=install",
                             "force=yes"))
        assert install[-1][2] == f"{hosts} hosts set to install\n", install[-1][2]
        os.sync()
        back.append(rocks(env, "set", "host", "boot", "compute", "action=os"))
    wall, cpu = median2(install)
    emit("set_host_boot_install", hosts, wall, cpu_seconds=round(cpu, 4), stat="median",
         reps=reps, target_seconds=2.0, process="whole", files=2 * hosts, **tag)
    wall, cpu = median2(back)
    emit("set_host_boot_os", hosts, wall, cpu_seconds=round(cpu, 4), stat="median", reps=reps,
         target_seconds=2.0, process="whole", files_removed=2 * hosts, **tag)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tmpfs", action="store_true", help="also run with the sync root on tmpfs")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="rocks-bench-bulk-") as tmp:
        base = Path(tmp)
        state, root = base / "state", base / "root"
        env = environment(state, root)
        rocks(env, "add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
              "pxe=yes", "servedns=yes")
        rocks(env, "load", "hostfile", str(hostfile(base / "hosts.csv", a.hosts)))
        rocks(env, "sync", "config", "loaders=no")

        samples = [rocks(env, "--version") for _ in range(5)]
        wall, cpu = median2(samples)
        emit("startup_version", 1, wall, cpu_seconds=round(cpu, 4), stat="median", reps=5)

        floors = [fs_floor(base, a.hosts) for _ in range(a.reps)]
        emit("fs_floor_install", a.hosts, statistics.median(f[0] for f in floors),
             stat="median", reps=a.reps, inodes=2 * a.hosts,
             note="os.open+write+close and os.link only, no rocks; same file system")
        emit("fs_floor_os", a.hosts, statistics.median(f[1] for f in floors), stat="median",
             reps=a.reps, names=2 * a.hosts, note="os.unlink only, no rocks")

        boot_round(env, a.reps, a.hosts, {"sync_root": "disk"})
        if a.tmpfs:
            shm = Path(tempfile.mkdtemp(prefix="rocks-bench-bulk-", dir="/dev/shm"))
            try:
                boot_round(environment(state, shm / "root"), a.reps, a.hosts,
                           {"sync_root": "tmpfs"})
            finally:
                shutil.rmtree(shm)

        removed = []
        racks = max(1, a.hosts // 100)
        for rep in range(min(a.reps, racks)):
            rack = racks - 1 - rep
            removed.append(rocks(env, "remove", "host", f"rack{rack}"))
        wall, cpu = median2(removed)
        emit("remove_host_rack_sync", 100, wall, cpu_seconds=round(cpu, 4), stat="median",
             reps=len(removed), existing_hosts=a.hosts, process="whole",
             note="100 hosts removed, then DHCP, DNS, /etc/hosts re-synced")


if __name__ == "__main__":
    main()
