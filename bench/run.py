"""Speed of operating the running cluster, as whole `rocks` processes: `rocks run host
command=hostname` on 100 real sshd nodes (network namespaces, as in tests/remote; needs root)
and `rocks list host status` probing 1,000 loopback addresses, a quarter of them listening.

Run: sudo .venv/bin/python bench/run.py [--nodes 100] [--spaces 50] [--probes 1000] [--reps 3]
(JSON lines via bench/common.emit)
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROCKS, emit, machine, rocks_env, run, stats
from rocks.inventory import open_inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, Host, Interface, Network


def bench_run_host(n: int = 100, spaces: int = 50, reps: int = 3) -> None:
    from rocks.remote.ssh import cluster_key, public_key
    from tests.remote.nodes import SshCluster, unavailable

    why = unavailable()
    if why:
        raise SystemExit(f"cannot benchmark run host here: {why}")
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
        runs = []
        for _ in range(reps):
            r = run([ROCKS, "run", "host", "command=hostname"], rocks_env(state))
            assert r.stderr == f"ok {n}\n", r.stderr
            runs.append(r)
        st = stats(runs)
        emit("run_host_hostname", n, st.wall, **st.fields(), namespaces=spaces,
             setup_seconds=round(setup, 2), target_seconds=2.0, process="whole",
             note="cpu_seconds includes the ssh clients the command ran", **machine())
    finally:
        nodes.close()
        shutil.rmtree(root, ignore_errors=True)


def bench_status(n: int = 1000, every: int = 4, reps: int = 3) -> None:
    root = Path(tempfile.mkdtemp(prefix="rocks-bench-status-"))
    listeners: list[socket.socket] = []
    stop = threading.Event()
    port = 2222
    addresses = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]
    try:
        for address in addresses[::every]:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(64)
            listeners.append(sock)
        server = threading.Thread(target=_banners, args=(listeners, stop), daemon=True)
        server.start()
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
        runs = []
        for _ in range(reps):
            r = run([ROCKS, "list", "host", "status", "timeout=1", "probe=yes"],
                    rocks_env(root))
            up = sum(1 for line in r.stdout.splitlines()[1:] if line.split()[1] == "up")
            assert up == len(listeners), (r.stderr, up)
            runs.append(r)
        st = stats(runs)
        emit("list_host_status_probe", n, st.wall, **st.fields(), up=len(listeners),
             process="whole", **machine())
    finally:
        stop.set()
        for sock in listeners:
            sock.close()
        shutil.rmtree(root, ignore_errors=True)


def _banners(listeners: list[socket.socket], stop: threading.Event) -> None:
    """Answer every connection with an SSH banner, as sshd does first (a probe calls a node up
    only on the banner), then close it."""
    import selectors

    sel = selectors.DefaultSelector()
    for sock in listeners:
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.2):
            try:
                conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"SSH-2.0-rocks-bench\r\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--spaces", type=int, default=50)
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    bench_status(a.probes, reps=a.reps)
    bench_run_host(a.nodes, a.spaces, a.reps)


if __name__ == "__main__":
    main()
