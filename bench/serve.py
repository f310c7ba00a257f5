"""Frontend benchmark: kickstarts/s and p50/p99 latency at 64 and 512 concurrent clients,
against the same server returning a static file of the same size (/install/distro), same run.

Two load generators, each in its own process: `wrk` (Debian package; one thread; all from
127.0.0.1, so the server runs with routed-nodes=yes and each request's node is identified by its
token and X-RHN-Provisioning-MAC header), chosen per request from all nodes; and a Python
asyncio client whose every connection is bound to a different node's own loopback address
(127.10.x.y), the node identified by source address.
Usage: .venv/bin/python bench/serve.py [--nodes 1000] [--seconds 5] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import emit  # noqa: E402
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


def parse_wrk(out: str) -> dict[str, Any]:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "requests": total,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1).strip() if errors else ""}


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", default="64,512")
    ap.add_argument("--loadgen", default="")
    a = ap.parse_args()
    if a.loadgen:
        loadgen_main(a.loadgen)
        return

    tmp = Path(tempfile.mkdtemp(prefix="rocks-bench-serve-"))
    cluster = make_cluster(tmp, a.nodes)
    names = cluster.names()
    srv = Server(cluster, tmp, max_inflight=4096, workers=a.workers, routed_nodes=True)
    srv.start()
    try:
        first = names[0]
        conn_probe = asyncio.run(_probe(srv.port, cluster.addresses[first],
                                        cluster.tokens[first]))
        size = len(conn_probe)
        static = cluster.state / "distro" / "static.bin"
        static.write_bytes(b"x" * size)
        common = {"nodes": a.nodes, "body_bytes": size, "workers": a.workers,
                  "cores": os.cpu_count()}
        lua = tmp / "nodes.lua"
        (tmp / "nodes.txt").write_text("".join(f"{mac(i)} {cluster.tokens[n]}\n"
                                               for i, n in enumerate(names)))
        lua.write_text(WRK_LUA % (tmp / "nodes.txt"))
        for conns in [int(c) for c in a.clients.split(",")]:
            if shutil.which("wrk"):
                for what, url, script in (
                        ("kickstart", f"{srv.base}/install/kickstart", lua),
                        ("static", f"{srv.base}/install/distro/static.bin", None)):
                    r = run_wrk(url, conns, a.seconds, script)
                    emit(f"serve_{what}_wrk", int(r["requests"]), a.seconds, clients=conns,
                         loadgen="wrk -t1 (token + MAC header, routed-nodes)", **r, **common)
            picks = [names[i % len(names)] for i in range(conns)]
            for what in ("kickstart", "static"):
                paths = [(cluster.addresses[n], f"/install/kickstart?token={cluster.tokens[n]}"
                          if what == "kickstart" else "/install/distro/static.bin")
                         for n in picks]
                r = run_pyload(srv.port, paths, a.seconds)
                emit(f"serve_{what}_py", int(r["requests"]), a.seconds, clients=conns,
                     loadgen="python asyncio (own loopback address per node)", **r, **common)
    finally:
        srv.stop()
        cluster.inventory.close()
        shutil.rmtree(tmp, ignore_errors=True)


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
