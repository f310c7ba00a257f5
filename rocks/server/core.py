"""The running frontend's state: snapshot, kickstart cache, install board, writer, refresher.

Everything here lives on the event loop; blocking work (SQL, compiling) goes to two threads:
one for the compiler and snapshot builds (the Compiler is not thread-safe), one for event
commits (writer.py). The request path only reads dictionaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rocks.errors import RocksError
from rocks.inventory import Inventory, open_inventory
from rocks.server.bootfiles import BootFileWriter
from rocks.server.config import ServerConfig
from rocks.server.index import HostEntry, Indexer, Snapshot
from rocks.server.status import LastEvent, classify, last_events
from rocks.server.writer import EventWriter, Pending

log = logging.getLogger("rocks.server")


@dataclass(frozen=True, slots=True)
class Served:
    """A host's kickstart, encoded once: body and response headers, or why it failed."""

    inputs: str
    text: str
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    etag: bytes
    error: str = ""


def served(inputs: str, text: str) -> Served:
    body = text.encode()
    etag = b'"' + hashlib.sha256(body).hexdigest().encode() + b'"'
    headers = ((b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"etag", etag),
               (b"cache-control", b"no-store"))
    return Served(inputs, text, body, headers, etag)


def failed(inputs: str, error: str) -> Served:
    return Served(inputs, "", b"", (), b"", error or "compile failed")


class Frontend:
    def __init__(self, config: ServerConfig, inventory: Inventory | None = None) -> None:
        self.config = config
        self.inventory = inventory or open_inventory(config.database_url)
        # the store's enabled rolls join the served graph, as they join the package check
        self.indexer = Indexer(self.inventory, config.release,
                               store=Path(config.state_dir) / "rolls")
        self.compile_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rocks-compile")
        self.snapshot = Snapshot()
        self.kickstarts: dict[str, Served] = {}
        self.board: dict[str, LastEvent] = {}  # newest stored event per host
        self.spent: set[str] = set()  # tokens a `finished` was accepted for
        self.inferred: set[tuple[str, str]] = set()  # (host, token) that got a `packages`
        self.writer = EventWriter(self.inventory, self._committed)
        self.bootfiles = BootFileWriter(self.inventory, config.sync_root_dir,
                                        Path(config.state_dir) / "ssh" / "known_hosts")
        self.inflight = 0
        self.refreshes = 0
        self._task: asyncio.Task[None] | None = None
        self._producing: dict[str, asyncio.Future[Served]] = {}

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        snap = await loop.run_in_executor(self.compile_pool, self.indexer.build)
        self.board = await loop.run_in_executor(self.compile_pool, self._load_board, snap)
        self.snapshot = snap
        await self._prerender(snap)
        self.writer.start()
        self.bootfiles.start()
        self._task = loop.create_task(self._refresh_loop(), name="inventory-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.writer.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.bootfiles.stop)
        self.compile_pool.submit(self.indexer.close).result()
        self.compile_pool.shutdown(wait=True)
        self.inventory.close()

    def _load_board(self, snap: Snapshot) -> dict[str, LastEvent]:
        names = {e.id: e.name for e in snap.hosts.values()}
        with self.inventory.transaction(readonly=True) as s:
            return {names[h]: ev for h, ev in last_events(s).items() if h in names}

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.refresh_interval)
            try:
                await self.refresh(loop)
            except Exception:
                log.exception("inventory refresh failed; serving the previous snapshot")

    async def refresh(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Rebuild the snapshot if the inventory changed; True if it did."""
        loop = loop or asyncio.get_running_loop()
        known = self.snapshot.fingerprint
        if await loop.run_in_executor(self.compile_pool, self.indexer.changed, known) is None:
            return False
        snap = await loop.run_in_executor(self.compile_pool, self.indexer.build)
        self.snapshot = snap
        self.refreshes += 1
        # A spent token stays refused until the inventory shows it gone (a snapshot built
        # before the commit may still hold it).
        self.spent = {t for t in self.spent if t in snap.by_token}
        self.kickstarts = {n: k for n, k in self.kickstarts.items()
                           if n in snap.hosts and snap.hosts[n].inputs == k.inputs}
        await self._prerender(snap)
        return True

    # -- kickstarts -----------------------------------------------------------------------
    async def _prerender(self, snap: Snapshot) -> None:
        todo = [e for e in snap.hosts.values()
                if e.installing and e.token and e.name not in self.kickstarts]
        if not todo:
            return
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(self.compile_pool, self._render_many, todo)
        for entry, ks in zip(todo, done, strict=True):
            self._store(entry, ks)

    def _render_many(self, entries: list[HostEntry]) -> list[Served]:
        return [self._render(e) for e in entries]

    def _render(self, entry: HostEntry) -> Served:
        if entry.view is None:
            return failed(entry.inputs, entry.error)
        service = self.indexer.service
        assert service is not None
        try:
            text = service.compiler.render(entry.view.root, entry.attrs(), host=entry.name)
        except RocksError as exc:
            return failed(entry.inputs, str(exc))
        except Exception as exc:  # a compiler bug must not take the server down
            log.exception("compiling %s failed", entry.name)
            return failed(entry.inputs, f"internal error: {type(exc).__name__}")
        return served(entry.inputs, text)

    def _store(self, entry: HostEntry, ks: Served) -> None:
        current = self.snapshot.hosts.get(entry.name)
        if current is None or current.inputs != ks.inputs:
            return
        old = self.kickstarts.get(entry.name)
        self.kickstarts[entry.name] = ks
        if ks.error and (old is None or old.inputs != ks.inputs or not old.error):
            log.error("kickstart failed host=%s error=%r", entry.name, ks.error.splitlines()[0])
            self.record(entry, "failed", ks.error[:4000], "frontend")

    async def kickstart(self, entry: HostEntry) -> Served:
        """The host's kickstart (cached), compiling on the compiler thread on a miss."""
        ks = self.kickstarts.get(entry.name)
        if ks is not None and ks.inputs == entry.inputs:
            return ks
        pending = self._producing.get(entry.inputs)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = loop.create_future()
            self._producing[entry.inputs] = pending
            try:
                ks = await loop.run_in_executor(self.compile_pool, self._render, entry)
                self._store(entry, ks)
                pending.set_result(ks)
            except BaseException as exc:
                pending.set_exception(exc)
                raise
            finally:
                del self._producing[entry.inputs]
            return ks
        return await asyncio.shield(pending)

    # -- events ---------------------------------------------------------------------------
    def record(self, entry: HostEntry, stage: str, message: str, source: str) -> None:
        """Queue an event the server itself observed (committed soon, nobody waits)."""
        self.writer.submit(Pending(entry.name, stage, message, source, datetime.now(UTC)),
                           wait=False)

    def _committed(self, events: list[Pending]) -> None:
        for e in events:
            self.board[e.host] = LastEvent(e.time, e.stage, e.message)
        done = [e.host for e in events if e.stage == "finished" and e.token is not None]
        if done:
            self.bootfiles.submit(done)

    def status(self, entry: HostEntry, now: datetime) -> tuple[str, datetime | None, str]:
        return classify(entry.boot, entry.install_started, self.board.get(entry.name), now,
                        self.config.stall_after)

    def status_rows(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        rows = []
        for name in sorted(self.snapshot.hosts):
            entry = self.snapshot.hosts[name]
            stage, since, message = self.status(entry, now)
            if stage == "finished" and entry.boot == "install" and entry.token in self.spent:
                boot = "os"  # committed; the snapshot catches up within a refresh
            else:
                boot = entry.boot
            rows.append({
                "name": name, "appliance": entry.appliance, "boot": boot, "stage": stage,
                "since": since.isoformat() if since else None,
                "seconds": round((now - since).total_seconds(), 1) if since else None,
                "message": message,
            })
        return rows
