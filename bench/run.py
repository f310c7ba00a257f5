"""Speed of operating the running cluster: `rocks run host command=hostname` on 100 real sshd
nodes (network namespaces, as in tests/remote; needs root) and `rocks list host status` probing
1,000 loopback addresses, a quarter of them listening.

Run: sudo .venv/bin/python bench/run.py   (JSON lines via bench/common.emit)
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit
from rocks.cli.context import run_cli
from rocks.inventory import open_inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, Host, Interface, Network


def bench_run_host(n: int = 100, spaces: int = 50, reps: int = 3) -> None:
    from rocks.remote.ssh import cluster_key, public_key
    from tests.remote.nodes import SshCluster, unavailable

    why = unavailable()
    if why:
        print(f"skipping run host: {why}", file=sys.stderr)
        return
    root = Path(tempfile.mkdtemp(prefix="rocks-bench-run-"))
    state = root / "state"
    nodes = SshCluster(root / "nodes", public_key(cluster_key(state)))
    names = [f"compute-0-{i}" for i in range(n)]
    try:
        t0 = time.perf_counter()
        nodes.setup(names, spaces=spaces)
        setup = time.perf_counter() - t0
        (state / "ssh" / "known_hosts").write_text(nodes.known_hosts())
        inv = open_inventory(str(state / "rocks.db"))
        with inv.transaction() as s:
            q.seed_defaults(s, [Appliance("compute", "compute")])
            for name in names:
                # Several nodes share a namespace's address (one sshd per port), which an
                # interface could not: the ssh_address/ssh_port attributes say where they are.
                node = nodes.nodes[name]
                q.add_host(s, Host(name, "compute"))
                q.set_attr(s, "host", name, "ssh_address", node.address)
                q.set_attr(s, "host", name, "ssh_port", str(node.port))
        inv.close()
        env = {"ROCKS_STATE": str(state)}
        times = []
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        for _ in range(reps):
            t0 = time.perf_counter()
            r = run_cli(["run", "host", "command=hostname"], env)
            times.append(time.perf_counter() - t0)
            assert r.code == 0 and r.stderr == f"ok {n}\n", r.stderr
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        ssh_cpu = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / reps
        times.sort()
        emit("run_host_hostname", n, times[len(times) // 2], namespaces=spaces,
             best=round(times[0], 3), setup_seconds=round(setup, 2), target_seconds=2.0,
             ssh_client_cpu_seconds=round(ssh_cpu, 3), loadavg_before=round(load, 2),
             cpus=os.cpu_count())
    finally:
        nodes.close()


def bench_status(n: int = 1000, every: int = 4, reps: int = 3) -> None:
    root = Path(tempfile.mkdtemp(prefix="rocks-bench-status-"))
    listeners: list[socket.socket] = []
    port = 2222
    addresses = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]
    try:
        for address in addresses[::every]:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(64)
            listeners.append(sock)
        inv = open_inventory(str(root / "rocks.db"))
        with inv.transaction() as s:
            q.seed_defaults(s, [Appliance("compute", "compute")])
            q.add_network(s, Network("loop", "127.0.0.0", "255.0.0.0", pxe=True))
            q.add_hosts_bulk(s, [
                Host(f"compute-{i // 250}-{i % 250}", "compute", i // 250, i % 250,
                     interfaces=(Interface("", "eth0", ip=a, network="loop"),))
                for i, a in enumerate(addresses)])
            q.set_attr(s, "global", "", "ssh_port", str(port))
        inv.close()
        env = {"ROCKS_STATE": str(root)}
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            r = run_cli(["list", "host", "status", "timeout=1"], env)
            times.append(time.perf_counter() - t0)
            up = sum(1 for line in r.stdout.splitlines()[1:] if line.split()[1] == "up")
            assert r.code == 0 and up == len(listeners), (r.stderr, up)
        times.sort()
        emit("list_host_status_probe", n, times[len(times) // 2], up=len(listeners),
             best=round(times[0], 3))
    finally:
        for sock in listeners:
            sock.close()


if __name__ == "__main__":
    bench_status()
    bench_run_host()
