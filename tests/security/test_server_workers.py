"""A spent token opens nothing, in any worker, at once (issue 13).

`rocks start frontend workers=2` as an admin runs it. After a node's `finished` is
acknowledged, its token is refused by both worker processes — each keeps its own snapshot,
refreshed about once a second, so only the database can say so in time. (Before: ~0.7 s and
447 kickstarts on the spent token.)
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import REPO, free_port, make_cluster
from tests.server.nodes import Connection

MAX_TRIES = 3000  # bounded: stops as soon as both workers have refused


def test_a_spent_token_is_refused_by_both_workers_at_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cluster = make_cluster(state, 2)
    port = free_port()
    log = tmp_path / "frontend.log"
    env = {**os.environ, "ROCKS_STATE": str(state), "ROCKS_SYNC_ROOT": str(tmp_path / "root"),
           "PYTHONPATH": str(REPO), "ROCKS_API_TOKEN": "t" * 32}
    env.pop("ROCKS_DATABASE_URL", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rocks.cli.main", "start", "frontend",
                                 f"port={port}", "workers=2"], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    name = "compute-0-0"
    token, address = cluster.tokens[name], cluster.addresses[name]
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            if time.monotonic() >= deadline:  # a timeout, not a timing
                pytest.fail(log.read_text()[-3000:])
            try:
                if httpx.get(base + "/status.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

        async def run() -> tuple[int, list[int]]:
            conn = Connection(port, address)
            r = await conn.request("GET", f"/install/kickstart?token={token}")
            assert r.status == 200
            body = f"stage=finished&token={token}".encode()
            r = await conn.request("POST", "/install/events", {
                "Content-Type": "application/x-www-form-urlencoded"}, body)
            assert r.status == 200
            await conn.close()
            statuses: list[int] = []

            async def one() -> None:
                c = Connection(port, address)  # a new connection: any worker may take it
                try:
                    statuses.append((await c.request(
                        "GET", f"/install/kickstart?token={token}")).status)
                finally:
                    await c.close()

            served = 0
            while len(statuses) < MAX_TRIES:
                await asyncio.gather(*(one() for _ in range(50)))
                served = sum(s == 200 for s in statuses)
                if served or len(refusing_pids()) >= 2:
                    break
            return served, statuses

        def refusing_pids() -> set[str]:
            return set(re.findall(r"rocks\.access\[(\d+)\] refused path=/install/kickstart",
                                  log.read_text()))

        served, statuses = asyncio.run(run())
        assert served == 0, f"{served} kickstarts served on a spent token"
        assert set(statuses) == {403}
        assert len(refusing_pids()) == 2, "both workers refused it"
        assert "reason=the-token-is-spent-or-replaced" in log.read_text() or \
            "reason=host-is-not-set-to-install" in log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        cluster.inventory.close()
