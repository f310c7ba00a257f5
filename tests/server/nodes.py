"""Simulated installing nodes: a minimal HTTP/1.1 client over asyncio sockets.

Each node binds its client sockets to its own loopback address (127.x.y.z), so the frontend
identifies it by source address exactly as it would a real node on the private network.
Used by the load tests and by bench/serve.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode


def node_address(i: int) -> str:
    """The i-th simulated node's loopback address (never 127.0.0.1, the test's own)."""
    return f"127.10.{i // 250}.{i % 250 + 1}"


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive connection from `local` to the server."""

    def __init__(self, port: int, local: str | None = None, host: str = "127.0.0.1") -> None:
        self.port, self.local, self.host = port, local, host
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        local = (self.local, 0) if self.local else None
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port,
                                                                 local_addr=local)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> Response:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *raw = head.decode("latin-1").split("\r\n")
            status = int(status_line.split()[1])
            hdrs = {}
            for line in raw:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length", "0"))
            data = await self.reader.readexactly(n) if n and method != "HEAD" else b""
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                OSError) as exc:
            # dropped mid-request (head or body): what an installer sees when the frontend dies
            await self.close()
            raise ConnectionError(f"connection lost: {type(exc).__name__}") from exc
        if hdrs.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, hdrs, data)


@dataclass
class NodeResult:
    name: str
    kickstart: bytes = b""
    acked: list[str] = field(default_factory=list)  # stages that got a 2xx
    errors: list[str] = field(default_factory=list)
    busy: int = 0  # 503s (retried)
    reconnects: int = 0
    finished_unacked: bool = False  # `finished` was refused after a lost answer (see install)
    served_by: list[str] = field(default_factory=list)  # "host:port" that answered each step
    ks_seconds: float = 0.0  # from asking for the kickstart to having it (retries included)
    ks_at: float = 0.0  # when it had it (the event loop's clock)


STAGES = ("pre", "packages", "post", "finished")


class Progress:
    """Counts shared with a test's main thread: kickstarts received and nodes done.
    `reached` is set once `target` kickstarts have been received (from the server `only`,
    "host:port", when given) and, with `acks`, that many events acknowledged by it."""

    def __init__(self, target: int, only: str = "", acks: int = 0) -> None:
        self.target = target
        self.only = only
        self.acks_target = acks
        self.acks = 0
        self.kickstarts = 0
        self.done = 0
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def got_kickstart(self, server: str = "") -> None:
        if self.only and server != self.only:
            return
        with self._lock:
            self.kickstarts += 1
            if self.kickstarts >= self.target and self.acks >= self.acks_target:
                self.reached.set()

    def got_ack(self, server: str = "") -> None:
        if self.only and server != self.only:
            return
        with self._lock:
            self.acks += 1
            if self.kickstarts >= self.target and self.acks >= self.acks_target:
                self.reached.set()

    def finished(self) -> None:
        with self._lock:
            self.done += 1


async def install(name: str, address: str, token: str, port: int, *,
                  stages: tuple[str, ...] = STAGES, deadline: float = 60.0,
                  pause: float = 0.0, progress: Progress | None = None,
                  servers: tuple[tuple[str, int], ...] = ()) -> NodeResult:
    """What an installing node does: fetch its kickstart, then post its events, retrying
    through connection errors (a restarting frontend: refused, reset, or dropped mid-answer)
    with a growing, jittered back-off, and through 503s, as the installer would.
    `servers`: (host, port) of several frontends, first preferred; after a connection error
    the node tries the next (as a node given two kickstart URLs would)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    result = NodeResult(name)
    servers = servers or (("127.0.0.1", port),)
    which = 0
    conn = Connection(servers[0][1], address, servers[0][0])

    async def call(method: str, path: str, body: bytes = b"",
                   headers: dict[str, str] | None = None) -> Response | None:
        nonlocal conn, which
        lost = False
        tries = 0
        while loop.time() < end:
            try:
                r = await conn.request(method, path, headers, body)
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                await conn.close()
                result.reconnects += 1
                lost = True
                tries += 1
                if len(servers) > 1:  # the next frontend
                    which = (which + 1) % len(servers)
                    conn = Connection(servers[which][1], address, servers[which][0])
                await asyncio.sleep(min(2.0, 0.05 * 2 ** tries) * (0.5 + random.random()))
                continue
            if r.status == 503:
                result.busy += 1
                await asyncio.sleep(random.uniform(0.01, 0.1))
                continue
            result.served_by.append(f"{conn.host}:{conn.port}")
            if lost and r.status == 403 and b"finished" in body:
                result.finished_unacked = True  # committed before the crash, answer lost
            return r
        result.errors.append(f"{method} {path}: deadline passed")
        return None

    try:
        asked = loop.time()
        r = await call("GET", f"/install/kickstart?token={token}")
        result.ks_at = loop.time()
        result.ks_seconds = result.ks_at - asked
        if r is None:
            return result
        if r.status != 200:
            result.errors.append(f"kickstart {r.status} {r.body[:80]!r}")
            return result
        result.kickstart = r.body
        if progress is not None:
            progress.got_kickstart(result.served_by[-1])
        for stage in stages:
            if pause:
                await asyncio.sleep(pause)
            body = urlencode({"stage": stage, "message": f"{name} {stage}",
                              "token": token}).encode()
            r = await call("POST", "/install/events", body,
                           {"Content-Type": "application/x-www-form-urlencoded"})
            if r is None:
                return result
            if r.status == 200:
                result.acked.append(stage)
                if progress is not None:
                    progress.got_ack(result.served_by[-1])
            elif not result.finished_unacked:
                result.errors.append(f"{stage} {r.status} {r.body[:80]!r}")
    finally:
        await conn.close()
        if progress is not None:
            progress.finished()
    return result
