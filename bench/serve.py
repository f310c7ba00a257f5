"""Frontend benchmark: the frontend (`python -m rocks.server.run`, its own process, reading a
real inventory of N compute nodes) serving kickstarts at 64 and 512 concurrent clients, against
nginx serving a file of the same bytes with the same wrk settings in the same run, and the
frontend's start time and memory (all nodes installing, or every tenth).

Two load generators, each in its own process: `wrk` (Debian package; one thread; all from
127.0.0.1, so the server runs with routed-nodes=yes and each request's node is identified by its
token and X-RHN-Provisioning-MAC header), chosen per request from all installing nodes; and
a Python asyncio client whose every connection is bound to a different node's own loopback
address (127.10.x.y), the node identified by source address.
nginx (Debian package) runs as this user on 127.0.0.1 from a configuration in a temporary
directory (no system configuration read or written), with as many worker processes as the
frontend has workers.

Then the distribution: files of `--distro-mb` MiB in the frontend's distribution directory,
fetched by wrk at `--distro-clients` connections from /install/distro (sendfile in the
frontend, conn.py) and from nginx (sendfile on, the same files hard-linked into its root, so
both read the same page cache), whole and as a range (the middle half of the file, as
`Range: bytes=a-b`). Throughput is wrk's Transfer/sec, in MiB/s: every byte read, responses
that are not finished when the time is up included.

Usage: .venv/bin/python bench/serve.py [--hosts 1000] [--installing all|tenth] [--seconds 5]
       [--workers 1] [--clients 64,512] [--distro-mb 1,50] [--distro-clients 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import emit, free_port, machine  # noqa: E402
from tests.server.conftest import Server, mac, make_cluster  # noqa: E402
from tests.server.nodes import Connection  # noqa: E402

WRK_LUA = """
local nodes = {}
for line in io.lines("%s") do
  local m, t = line:match("(%%S+) (%%S+)")
  nodes[#nodes + 1] = {m, t}
end
local i = 0
request = function()
  i = i + 1
  local n = nodes[(i %% #nodes) + 1]
  return wrk.format("GET", "/install/kickstart?token=" .. n[2],
                    {["X-RHN-Provisioning-MAC-0"] = "eth0 " .. n[1]})
end
"""

RANGE_LUA = """
wrk.headers["Range"] = "bytes=%d-%d"
"""


def parse_wrk(out: str) -> dict[str, Any]:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    moved = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "requests": total,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1).strip() if errors else "",
            # every byte read, of unfinished responses too (a 50 MiB file at 64 clients: a
            # few finish in a few seconds, all of them are moving)
            "transfer_mib_s": round(float(moved.group(1)) * {"B": 2**-20, "KB": 2**-10,
                                                             "MB": 1, "GB": 2**10}[moved.group(2)],
                                    1) if moved else None}


def run_wrk(url: str, conns: int, seconds: float, script: Path | None) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{round(seconds)}s", "--latency", "--timeout", "10s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


async def _pyload(port: int, paths: list[tuple[str, str]], seconds: float) -> dict[str, Any]:
    """One keep-alive connection per (local address, path), each looping until time is up."""
    latencies: list[float] = []
    bad = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def worker(local: str, path: str) -> None:
        nonlocal bad
        conn = Connection(port, local or None)
        await conn.open()
        while loop.time() < end:
            t0 = time.perf_counter()
            r = await conn.request("GET", path)
            latencies.append(time.perf_counter() - t0)
            bad += r.status != 200
        await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(a, p) for a, p in paths))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return {"rate": round(n / elapsed, 1), "p50_ms": round(latencies[n // 2] * 1000, 2),
            "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 2), "requests": n,
            "non_2xx": bad}


def loadgen_main(spec: str) -> None:
    """Child process: run the Python load generator described by a JSON spec."""
    import uvloop

    s = json.loads(spec)
    result = uvloop.run(_pyload(s["port"], [tuple(p) for p in s["paths"]], s["seconds"]))
    print(json.dumps(result))


def run_pyload(port: int, paths: list[tuple[str, str]], seconds: float) -> dict[str, Any]:
    spec = json.dumps({"port": port, "paths": paths, "seconds": seconds})
    out = subprocess.run([sys.executable, __file__, "--loadgen", spec], capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])


NGINX_CONF = """worker_processes %(workers)d;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path %(tmp)s/nginx-body;
    proxy_temp_path %(tmp)s/nginx-proxy;
    fastcgi_temp_path %(tmp)s/nginx-fastcgi;
    uwsgi_temp_path %(tmp)s/nginx-uwsgi;
    scgi_temp_path %(tmp)s/nginx-scgi;
    types { application/octet-stream bin; }
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
    }
}
"""


class Nginx:
    """nginx in the foreground on 127.0.0.1, everything it reads or writes under `tmp`."""

    def __init__(self, tmp: Path, root: Path, workers: int) -> None:
        self.port = free_port()
        self.conf = tmp / "nginx.conf"
        self.conf.write_text(NGINX_CONF % {"workers": workers, "tmp": tmp, "root": root,
                                           "port": self.port})
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(
            [exe, "-p", str(self.tmp), "-e", str(self.tmp / "nginx-error.log"),
             "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"nginx exited: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("nginx did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def memory_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident MiB of the process and its children (the workers)."""
    def status(p: int) -> dict[str, float]:
        found = {}
        with open(f"/proc/{p}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024.0
        return found

    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            pids += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    each = [status(p) for p in pids]
    return {"rss_mb": round(max(e.get("VmRSS", 0.0) for e in each), 1),
            "peak_rss_mb": round(max(e.get("VmHWM", 0.0) for e in each), 1),
            "processes": len(each)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", "--nodes", dest="hosts", type=int, default=1000)
    ap.add_argument("--installing", choices=("all", "tenth"), default="all",
                    help="all: also measure throughput; tenth: start time and memory only")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", default="64,512")
    ap.add_argument("--distro-mb", default="1,50", help="file sizes in MiB ('' for none)")
    ap.add_argument("--distro-clients", type=int, default=64)
    ap.add_argument("--loadgen", default="")
    a = ap.parse_args()
    if a.loadgen:
        loadgen_main(a.loadgen)
        return
    tmp = Path(tempfile.mkdtemp(prefix="rocks-bench-serve-"))
    names_all = [f"compute-0-{i}" for i in range(a.hosts)]
    idle = tuple(n for i, n in enumerate(names_all) if a.installing == "tenth" and i % 10)
    cluster = make_cluster(tmp, a.hosts, idle=idle)
    names = [n for n in cluster.names() if n in cluster.tokens]
    srv = Server(cluster, tmp, max_inflight=4096, workers=a.workers, routed_nodes=True)
    nginx: Nginx | None = None
    common = {"hosts": a.hosts, "installing": a.installing, "installing_hosts": len(names),
              "workers": a.workers, **machine()}
    t0 = time.perf_counter()
    srv.start(timeout=600)
    started = time.perf_counter() - t0
    try:
        assert srv.proc is not None
        emit("frontend_start", a.hosts, started, items=1, **memory_mb(srv.proc.pid), **common,
             note="spawn until /status.json answers; memory right after")
        if a.installing != "all":
            return
        first = names[0]
        size = len(asyncio.run(_probe(srv.port, cluster.addresses[first],
                                      cluster.tokens[first])))
        www = tmp / "www"
        www.mkdir()
        (www / "static.bin").write_bytes(b"x" * size)
        for path, mode in ((tmp, 0o711), (www, 0o755), (www / "static.bin", 0o644)):
            path.chmod(mode)  # nginx's workers run as nobody when it is started as root
        nginx = Nginx(tmp, www, a.workers)
        nginx.start()
        with urllib.request.urlopen(f"http://127.0.0.1:{nginx.port}/static.bin") as got:
            if got.status != 200 or len(got.read()) != size:
                raise SystemExit("nginx does not serve the same bytes")
        common["body_bytes"] = size
        lua = tmp / "nodes.lua"
        index = {n: i for i, n in enumerate(cluster.names())}
        (tmp / "nodes.txt").write_text("".join(f"{mac(index[n])} {cluster.tokens[n]}\n"
                                               for n in names))
        lua.write_text(WRK_LUA % (tmp / "nodes.txt"))
        for conns in [int(c) for c in a.clients.split(",")]:
            for what, url, script in (
                    ("kickstart", f"{srv.base}/install/kickstart", lua),
                    ("nginx", f"http://127.0.0.1:{nginx.port}/static.bin", None)):
                r = run_wrk(url, conns, a.seconds, script)
                if r["non_2xx"] or not r["requests"]:
                    raise SystemExit(f"{what}: {r['non_2xx']} of {r['requests']} failed")
                emit(f"serve_{what}_wrk", a.hosts, a.seconds, items=int(r["requests"]),
                     clients=conns, loadgen="wrk -t1 (token + MAC header, routed-nodes)",
                     **r, **common)
            picks = [names[i % len(names)] for i in range(conns)]
            paths = [(cluster.addresses[n], f"/install/kickstart?token={cluster.tokens[n]}")
                     for n in picks]
            r = run_pyload(srv.port, paths, a.seconds)
            emit("serve_kickstart_py", a.hosts, a.seconds, items=int(r["requests"]),
                 clients=conns, loadgen="python asyncio (own loopback address per node)", **r,
                 **common)
        emit("frontend_memory_after_load", a.hosts, 0.0, items=1, **memory_mb(srv.proc.pid),
             **common)
        del common["body_bytes"]
        for mb in [int(x) for x in a.distro_mb.split(",") if x]:
            distro(srv, nginx.port, cluster.state / "distro", www, tmp, mb, a.distro_clients,
                   a.seconds, common)
    finally:
        if nginx is not None:
            nginx.stop()
        srv.stop()
        cluster.inventory.close()
        shutil.rmtree(tmp, ignore_errors=True)


def distro(srv: Server, nginx_port: int, root: Path, www: Path, tmp: Path, mb: int,
           clients: int, seconds: float, common: dict[str, Any]) -> None:
    """/install/distro against nginx for one file size, whole and ranged."""
    name = f"bench-{mb}m-1.0-1.x86_64.rpm"
    path = root / "Packages" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    size = mb << 20
    with open(path, "wb") as fh:
        block = os.urandom(1 << 20)
        for _ in range(mb):
            fh.write(block)
    path.chmod(0o644)
    (www / "Packages").mkdir(exist_ok=True)
    (www / "Packages").chmod(0o755)
    linked = www / "Packages" / name
    linked.unlink(missing_ok=True)
    os.link(path, linked)
    start, end = size // 4, size * 3 // 4 - 1
    script = tmp / f"range-{mb}.lua"
    script.write_text(RANGE_LUA % (start, end))
    for ranged in (False, True):
        body = end - start + 1 if ranged else size
        for what, url in (("distro", f"{srv.base}/install/distro/Packages/{name}"),
                          ("distro_nginx", f"http://127.0.0.1:{nginx_port}/Packages/{name}")):
            r = run_wrk(url, clients, seconds, script if ranged else None)
            if r["non_2xx"] or not r["requests"]:
                raise SystemExit(f"{what} {mb} MiB: {r['non_2xx']} of {r['requests']} failed")
            emit(f"serve_{what}_wrk", int(common["hosts"]), seconds, items=int(r["requests"]),
                 clients=clients, file_mb=mb, ranged=ranged, body_bytes=body,
                 mib_s=r["transfer_mib_s"],
                 loadgen="wrk -t1" + (f" (Range: bytes={start}-{end})" if ranged else ""),
                 **r, **common)
    path.unlink()
    linked.unlink()


async def _probe(port: int, address: str, token: str) -> bytes:
    conn = Connection(port, address)
    try:
        r = await conn.request("GET", f"/install/kickstart?token={token}")
        assert r.status == 200, r
        return r.body
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
