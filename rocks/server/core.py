"""The running frontend's state: snapshot, kickstart cache, install board, writer, refresher.

Everything here lives on the event loop; blocking work (SQL, compiling) goes to two threads:
one for the compiler and snapshot builds (the Compiler is not thread-safe), one for event
commits (writer.py). The request path only reads dictionaries.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import time
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
from rocks.server.ledger import TokenLedger
from rocks.server.notify import Listener
from rocks.server.progress import Progress
from rocks.server.registry import (
    HEARTBEAT,
    FrontendInfo,
    distro_checksum,
    frontend_name,
    frontend_url,
    heartbeat,
    list_frontends,
    register,
)
from rocks.server.status import (
    LastEvent,
    Probe,
    classify,
    events_after,
    last_event_id,
    last_events,
    printable,
    probes_after,
)
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
        self.indexer = Indexer(self.inventory, config.release, Path(config.state_dir))
        self.compile_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rocks-compile")
        self.snapshot = Snapshot()
        self.kickstarts: dict[str, Served] = {}
        self.board: dict[str, LastEvent] = {}  # newest stored event per host
        self.inferred: set[tuple[str, str]] = set()  # (host, token) that got a `packages`
        self.name = frontend_name(config)  # in the frontend registry and on its events
        self.url = frontend_url(config)
        self.writer = EventWriter(self.inventory, self._committed, frontend=self.name)
        # PostgreSQL: changes by any process are notified (notify.py); SQLite: data_version
        self.listener = (Listener(self.inventory.url) if self.inventory.dialect == "postgresql"
                         else None)
        self.frontends: list[FrontendInfo] = []  # the registry, for the dashboard
        self._marks: collections.deque[tuple[float, int]] = collections.deque()
        self._beat: asyncio.Task[None] | None = None
        self._mirror: asyncio.Task[None] | None = None  # following the site's distribution
        self.mirrored = 0
        self.ledger = TokenLedger(self.inventory)
        self.proxies = config.proxies
        self.bootfiles = BootFileWriter(self.inventory, config.sync_root_dir,
                                        Path(config.state_dir),
                                        Path(config.state_dir) / "ssh" / "known_hosts")
        self.inflight = 0
        self.refreshes = 0
        self._task: asyncio.Task[None] | None = None
        self._producing: dict[str, asyncio.Future[Served]] = {}
        from rocks.server.console import Console

        self.progress: dict[str, Progress] = {}  # installing hosts' package fetches
        self._totals: dict[str, tuple[int, bool]] = {}  # compiled key -> depsolved total
        self._totaling: set[str] = set()
        self.probes: dict[int, Probe] = {}  # host id -> last recorded probe
        self._probed: datetime | None = None
        self._event_id = 0  # the newest event id on the board (events of every process)
        self.console = Console(self)
        self._sweep = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.listener is not None:
            self.listener.start()  # before the first read: nothing after it is missed
        await asyncio.to_thread(register, self.inventory, self.name, self.url,
                                distro_checksum(self.config.distro_dir))
        snap = await loop.run_in_executor(self.compile_pool, self.indexer.build)
        self.board = await loop.run_in_executor(self.compile_pool, self._load_board, snap)
        self.snapshot = snap
        await self._poll(loop)
        self.console.rebuild()
        await self._prerender(snap)
        self.writer.start()
        self.ledger.start()
        self.bootfiles.start()
        self._task = loop.create_task(self._refresh_loop(), name="inventory-refresh")
        self._beat = loop.create_task(self._heartbeat_loop(), name="frontend-heartbeat")

    async def stop(self) -> None:
        for task in (self._task, self._beat, self._mirror):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):  # a clean stop: the others show it stopped
            await asyncio.to_thread(heartbeat, self.inventory, self.name,
                                    distro_checksum(self.config.distro_dir), stopped=True)
        if self.listener is not None:
            await asyncio.to_thread(self.listener.stop)
        await self.writer.stop()
        await self.ledger.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.bootfiles.stop)
        self.compile_pool.submit(self.indexer.close).result()
        self.compile_pool.shutdown(wait=True)
        self.inventory.close()

    def _load_board(self, snap: Snapshot) -> dict[str, LastEvent]:
        names = {e.id: e.name for e in snap.hosts.values()}
        with self.inventory.transaction(readonly=True) as s:
            self._event_id = last_event_id(s)
            return {names[h]: ev for h, ev in last_events(s).items() if h in names}

    def _read_news(self) -> tuple[int, dict[int, LastEvent], datetime | None, dict[int, Probe]]:
        after = self._event_id
        if self.listener is not None:
            # On PostgreSQL ids are taken at insert and committed in any order across
            # frontends: an id below the newest seen may still commit. Read again from the
            # newest id seen two seconds ago (re-applying an event changes nothing).
            now = time.monotonic()
            while len(self._marks) > 1 and now - self._marks[1][0] >= 2.0:
                self._marks.popleft()
            if self._marks:
                after = min(after, self._marks[0][1])
        with self.inventory.transaction(readonly=True) as s:
            newest, events = events_after(s, after)
            probed, probes = probes_after(s, self._probed)
        if self.listener is not None:
            self._marks.append((time.monotonic(), max(newest, self._event_id)))
        return max(newest, self._event_id), events, probed, probes

    async def _poll(self, loop: asyncio.AbstractEventLoop) -> None:
        """Events stored by other processes (other workers, frontends sharing the database, the
        CLI) and probes recorded by `rocks list host status`: onto the board and the console."""
        newest, events, probed, probes = await loop.run_in_executor(self.compile_pool,
                                                                    self._read_news)
        self._event_id, self._probed = newest, probed
        if not events and not probes:
            return
        names = {e.id: e.name for e in self.snapshot.hosts.values()}
        touched = []
        for hid, ev in events.items():
            name = names.get(hid)
            old = self.board.get(name) if name else None
            if name is not None and (old is None or ev.time >= old.time):
                self.board[name] = ev
                touched.append(name)
        self.probes.update(probes)
        touched.extend(names[h] for h in probes if h in names)
        self.console.touch(touched)

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.refresh_interval)
            try:
                await self.refresh(loop)
            except Exception:
                log.exception("inventory refresh failed; serving the previous snapshot")

    async def _heartbeat_loop(self) -> None:
        """The registry: this frontend's `last_seen` and distribution, and the others'."""
        while True:
            try:
                await asyncio.to_thread(heartbeat, self.inventory, self.name,
                                        distro_checksum(self.config.distro_dir))
                await self.read_frontends()
                self.follow_distro()  # also retries a mirror that failed
            except Exception:
                log.exception("frontend registry update failed")
            await asyncio.sleep(HEARTBEAT)

    def follow_distro(self) -> None:
        """Mirror the site's distribution when `rocks create distro` moved it (notified, or
        at the heartbeat), in the background; the current copy is served until the new one
        is complete (packages/mirror.py)."""
        if not self.config.mirror or (self._mirror is not None and not self._mirror.done()):
            return
        self._mirror = asyncio.get_running_loop().create_task(self._follow_distro(),
                                                              name="distro-mirror")

    async def _follow_distro(self) -> None:
        from rocks.inventory.frontends import current_distro
        from rocks.packages.mirror import mirror_distro

        def site() -> Any:
            with self.inventory.transaction(readonly=True) as s:
                return current_distro(s)

        distro = self.config.distro_dir
        wanted = await asyncio.to_thread(site)
        if wanted is None or wanted.checksum == distro_checksum(distro):
            return
        if wanted.url.rstrip("/") == f"{self.url.rstrip('/')}/install/distro":
            return  # this frontend is where it is built: nothing to mirror from itself
        log.info("distribution changed: mirroring from %s", wanted.url)

        def report(stage: str, done: int, total: int) -> None:
            if done == total:
                log.info("mirror %s: %d/%d", stage, done, total)

        try:
            result = await asyncio.to_thread(mirror_distro, wanted.url, distro, report)
        except RocksError as exc:
            log.error("mirroring the distribution from %s failed (still serving the previous "
                      "one; retried at the next heartbeat): %s", wanted.url, exc)
            return
        self.mirrored += 1
        log.info("distribution mirrored from %s: %d files fetched (%d bytes), %d reused",
                 wanted.url, len(result.fetched), result.bytes, result.linked)
        await asyncio.to_thread(heartbeat, self.inventory, self.name, result.checksum)

    async def read_frontends(self) -> None:
        self.frontends = await asyncio.to_thread(list_frontends, self.inventory)

    async def refresh(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Rebuild the snapshot if the inventory changed; True if it did. Also takes in the
        events and probes other processes stored, and lets installs turn stalled. On
        PostgreSQL only what was notified is read (notify.py)."""
        loop = loop or asyncio.get_running_loop()
        notified = self.listener.take() if self.listener is not None else None
        if notified is None or "rocks_events" in notified:
            await self._poll(loop)
        if notified is not None and "rocks_frontends" in notified:
            await self.read_frontends()
        if notified is not None and "rocks_distro" in notified:
            self.follow_distro()
        if time.monotonic() - self._sweep >= 2.0:
            self._sweep = time.monotonic()
            self.console.sweep()
        known = self.snapshot.fingerprint
        moved = notified is None or "rocks_inventory" in notified
        if await loop.run_in_executor(self.compile_pool, self.indexer.changed, known,
                                      moved) is None:
            return False
        snap = await loop.run_in_executor(self.compile_pool, self.indexer.build)
        self.snapshot = snap
        self.refreshes += 1
        self.kickstarts = {n: k for n, k in self.kickstarts.items()
                           if n in snap.hosts and snap.hosts[n].inputs == k.inputs}
        self.progress = {n: p for n, p in self.progress.items()
                         if n in snap.hosts and snap.hosts[n].token == p.token}
        self.inferred = {k for k in self.inferred
                         if k[0] in snap.hosts and snap.hosts[k[0]].token == k[1]}
        self.console.rebuild()
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
        try:
            text = self.indexer.render(entry)
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
            error = entry.redact(ks.error)
            log.error("kickstart failed host=%s error=%r", entry.name, error.splitlines()[0])
            self.record(entry, "failed", error[:4000], "frontend")

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
            self.board[e.host] = LastEvent(e.time, e.stage, e.message, e.source, self.name)
        done = [e.host for e in events if e.stage == "finished" and e.token is not None]
        if done:
            self.bootfiles.submit(done)
        self.console.touch(e.host for e in events)

    def status(self, entry: HostEntry, now: datetime) -> tuple[str, datetime | None, str]:
        prog = self.progress.get(entry.name)
        active = prog.last if prog is not None and prog.token == entry.token else None
        return classify(entry.boot, entry.install_started, self.board.get(entry.name), now,
                        self.config.stall_after, active)

    def liveness(self, entry: HostEntry) -> tuple[str, datetime | None, str]:
        """up/down, since when, and how it is known: the newest of the node's own word (an
        event it sent — `up` at each boot, or its installer's), its package fetches, and the
        last probe `rocks list host status` recorded. ("", None, "") when nothing is known."""
        best: tuple[datetime, str, str] | None = None
        ev = self.board.get(entry.name)
        if ev is not None and ev.source and ev.source != "frontend":
            best = (ev.time, "up", "heartbeat" if ev.stage == "up" else "installer")
        prog = self.progress.get(entry.name)
        if prog is not None and prog.token == entry.token and (best is None
                                                                or prog.last > best[0]):
            best = (prog.last, "up", "installer")
        probe = self.probes.get(entry.id)
        if probe is not None and probe.state in ("up", "down") and (
                best is None or probe.checked > best[0]):
            since = probe.since if probe.state == "down" else probe.checked
            return probe.state, since, "probe"
        if best is None:
            return "", None, ""
        return best[1], best[0], best[2]

    # -- package progress ---------------------------------------------------------------
    def fetched(self, entry: HostEntry, path: str, address: str, *, ranged: bool = False
                ) -> None:
        """An installing node fetched `path` from the distribution (progress.py)."""
        assert entry.token is not None
        now = datetime.now(UTC)
        prog = self.progress.get(entry.name)
        if prog is None or prog.token != entry.token:
            prog = self.progress[entry.name] = Progress(entry.token, now)
            self._count_packages(entry)
        new = prog.fetch(path, now, ranged=ranged)
        last = self.board.get(entry.name)
        current = last is not None and (entry.install_started is None
                                        or last.time >= entry.install_started)
        key = (entry.name, entry.token)
        if key not in self.inferred:
            if current and last is not None and last.stage in ("fetched-kickstart", "pre"):
                self.inferred.add(key)
                self.record(entry, "packages", "fetching packages from the distribution",
                            address)
        elif new and current and last is not None and last.stage == "packages" \
                and prog.step() is not None:
            self.record(entry, "packages", prog.text(), address)
        self.console.touch((entry.name,))

    def _count_packages(self, entry: HostEntry) -> None:
        if entry.name in self._totaling:
            return
        self._totaling.add(entry.name)
        asyncio.get_running_loop().create_task(self._package_total(entry))

    async def _package_total(self, entry: HostEntry) -> None:
        loop = asyncio.get_running_loop()
        try:
            total, estimate = await loop.run_in_executor(self.compile_pool, self._total, entry)
        except Exception:  # progress without a total is still progress
            log.exception("counting the packages of %s failed", entry.name)
            total, estimate = None, False
        finally:
            self._totaling.discard(entry.name)
        prog = self.progress.get(entry.name)
        if prog is not None and prog.token == entry.token:
            prog.total, prog.estimate = total, estimate
            self.console.touch((entry.name,))

    def _total(self, entry: HostEntry) -> tuple[int | None, bool]:
        """On the compiler thread: the depsolved package count of the host's profile, else
        the number of packages the profile names (an estimate)."""
        from rocks.profiles import depsolved_total

        svc = self.indexer.service
        if entry.view is None or svc is None:
            return None, False
        try:
            compiled = svc.compiled(entry.view)
        except RocksError:
            return None, False
        known = self._totals.get(compiled.key)
        if known is not None:
            return known
        profile = compiled.profile
        total = depsolved_total(profile, self.config.distro_dir)
        if total:
            self._totals[compiled.key] = (total, False)  # a later package check may add one
            return total, False
        named = len([p for p in profile.packages if not p.name.startswith("@")])
        return (named, True) if named else (None, False)

    def status_rows(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        rows = []
        for name in sorted(self.snapshot.hosts):
            entry = self.snapshot.hosts[name]
            stage, since, message = self.status(entry, now)
            # a node's finished was committed; the snapshot catches up within a refresh
            boot = "os" if stage == "finished" and entry.boot == "install" else entry.boot
            rows.append({
                "name": name, "appliance": entry.appliance, "boot": boot, "stage": stage,
                "since": since.isoformat() if since else None,
                "seconds": round((now - since).total_seconds(), 1) if since else None,
                "message": self.shown(entry, message),
            })
        return rows

    def shown(self, entry: HostEntry | None, text: str) -> str:
        """Text from a node or an error, fit to show: escapes for control characters, the
        host's secrets and token masked."""
        text = printable(text)
        return entry.redact(text) if entry is not None else text
