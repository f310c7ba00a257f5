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
from rocks.server.cache import ByteLru, give_back
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
NODE = "node"  # the board's source of an event a node sent (its address is in the database)


@dataclass(slots=True)
class Served:
    """A host's kickstart, encoded once: body and response headers, or why it failed.
    `stamp` = (snapshot generation, row) of the host entry it was last confirmed for."""

    inputs: str
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    etag: bytes
    error: str = ""
    stamp: tuple[int, int] = (-1, -1)

    @property
    def text(self) -> str:
        return self.body.decode()


def served(inputs: str, text: str) -> Served:
    body = text.encode()
    etag = b'"' + hashlib.sha256(body).hexdigest().encode() + b'"'
    headers = ((b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"etag", etag),
               (b"cache-control", b"no-store"))
    return Served(inputs, body, headers, etag)


def failed(inputs: str, error: str) -> Served:
    return Served(inputs, b"", (), b"", error or "compile failed")


def _cost(ks: Served) -> int:
    """What a cached kickstart holds: its body, error text and the objects around them."""
    return len(ks.body) + len(ks.error) + 512


class Frontend:
    def __init__(self, config: ServerConfig, inventory: Inventory | None = None) -> None:
        self.config = config
        self.inventory = inventory or open_inventory(config.database_url)
        self.indexer = Indexer(self.inventory, config.release, Path(config.state_dir))
        self.compile_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rocks-compile")
        self.snapshot = Snapshot()
        # rendered kickstarts by host name, bounded by bytes (rendering is cheap: nothing is
        # rendered ahead, and memory does not grow with the cluster)
        self.kickstarts: ByteLru[str, Served] = ByteLru(config.kickstart_cache << 20, _cost)
        self.failures: dict[str, str] = {}  # host -> inputs whose compile failure was recorded
        self._checked: dict[str, str] = {}  # host -> inputs rendered ahead (_precheck)
        # newest stored event per host id (sources reduced to what liveness asks: the node,
        # the frontend or nobody; messages interned: a mass install's are mostly alike)
        self.board: dict[int, LastEvent] = {}
        self._words: dict[str, str] = {}
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
        await self._precheck(snap)
        give_back()
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

    def _load_board(self, snap: Snapshot) -> dict[int, LastEvent]:
        with self.inventory.transaction(readonly=True) as s:
            self._event_id = last_event_id(s)
            return {h: self._kept(ev) for h, ev in last_events(s).items()
                    if snap.hosts.name_of_id(h) is not None}

    def _kept(self, ev: LastEvent) -> LastEvent:
        """The event as the board keeps it (see board)."""
        source = ev.source if ev.source in ("", "frontend") else NODE
        message = self._words.get(ev.message)
        if message is None:
            message = ev.message
            if len(self._words) < 4096 and len(message) <= 64:
                self._words[message] = message
        frontend = self._words.setdefault(ev.frontend, ev.frontend) if len(self._words) < 4096 \
            else ev.frontend
        return LastEvent(ev.time, ev.stage, message, source, frontend)

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
        name_of = self.snapshot.hosts.name_of_id
        touched = []
        for hid, ev in events.items():
            old = self.board.get(hid)
            if old is not None and (ev.time < old.time or (
                    ev.time == old.time and ev.stage == old.stage)):
                continue  # on the board already (most are this process's own)
            name = name_of(hid)
            if name is not None:
                self.board[hid] = self._kept(ev)
                touched.append(name)
        self.probes.update(probes)
        touched.extend(n for n in map(name_of, probes) if n is not None)
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
        old_ids = self.snapshot.hosts.id_sorted
        self.snapshot = snap
        self.refreshes += 1
        loop.call_soon(give_back)  # once the old snapshot's columns are freed
        table = snap.hosts

        def token(name: str) -> str | None:
            i = table.position(name)
            return table.token_at(i) if i >= 0 else None

        self.progress = {n: p for n, p in self.progress.items() if token(n) == p.token}
        self.inferred = {k for k in self.inferred if token(k[0]) == k[1]}
        self.failures = {n: i for n, i in self.failures.items() if n in table}
        if old_ids != table.id_sorted:  # hosts came or went (compared in C: cheap)
            ids = set(table.id_sorted)
            self.board = {h: e for h, e in self.board.items() if h in ids}
            self.probes = {h: p for h, p in self.probes.items() if h in ids}
        self._checked = {n: i for n, i in self._checked.items() if n in table}
        self.console.rebuild()
        await self._precheck(snap)
        return True

    # -- kickstarts -----------------------------------------------------------------------
    async def _precheck(self, snap: Snapshot) -> None:
        """Failures before any node asks: render (and drop) one installing host of each
        group, and each installing host with attributes of its own, once per change; a host
        whose kickstart fails gets its `failed` event now (the rendered bytes of the others
        are not kept: nodes have them rendered when they ask)."""
        loop = asyncio.get_running_loop()
        bad = await loop.run_in_executor(self.compile_pool, self._check_hosts, snap)
        for entry, ks in bad:
            self._store(entry, ks)

    def _check_hosts(self, snap: Snapshot) -> list[tuple[HostEntry, Served]]:
        table = snap.hosts
        seen: set[int] = set()
        bad = []
        for i in range(len(table)):
            layer = table.layer_of[i]
            if (layer in seen and i not in table.extras) or table.boot_at(i) != "install" \
                    or not table.token_at(i):
                continue
            seen.add(layer)
            entry = table.entry(i)
            inputs = entry.inputs
            if self._checked.get(entry.name) == inputs:
                continue
            ks = self._render(entry)
            self._checked[entry.name] = inputs
            if ks.error:
                bad.append((entry, ks))
        return bad

    def _render(self, entry: HostEntry) -> Served:
        """On the compiler thread: compile if need be, then render."""
        inputs = entry.inputs
        if entry.view is None:
            return failed(inputs, entry.error)
        try:
            text = self.indexer.render(entry)
        except RocksError as exc:
            return failed(inputs, str(exc))
        except Exception as exc:  # a compiler bug must not take the server down
            log.exception("compiling %s failed", entry.name)
            return failed(inputs, f"internal error: {type(exc).__name__}")
        return served(inputs, text)

    def _store(self, entry: HostEntry, ks: Served) -> None:
        # the node is refused whatever snapshot it was identified in: its failure is recorded
        # (once per inputs) even when the snapshot moved on meanwhile
        if ks.error and self.failures.get(entry.name) != ks.inputs:
            self.failures[entry.name] = ks.inputs
            error = entry.redact(ks.error)
            log.error("kickstart failed host=%s error=%r", entry.name, error.splitlines()[0])
            self.record(entry, "failed", error[:4000], "frontend")
        if entry.generation != self.snapshot.generation:
            return  # rendered from a snapshot that is gone: never cached
        ks.stamp = (entry.generation, entry.pos)
        self.kickstarts.put(entry.name, ks)

    async def kickstart(self, entry: HostEntry) -> Served:
        """The host's kickstart: from the rendered cache; else rendered here from the compile
        cache (hundredths of a millisecond); else compiled on the compiler thread."""
        ks = self.kickstarts.get(entry.name)
        if ks is not None:
            if ks.stamp == (entry.generation, entry.pos):
                return ks
            if ks.inputs == entry.inputs:  # a new snapshot, the same kickstart
                ks.stamp = (entry.generation, entry.pos)
                return ks
        if entry.view is not None:
            text = self.indexer.render_quick(entry)
            if text is not None:
                ks = served(entry.inputs, text)
                self._store(entry, ks)
                return ks
        inputs = entry.inputs
        pending = self._producing.get(inputs)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = loop.create_future()
            self._producing[inputs] = pending
            try:
                ks = await loop.run_in_executor(self.compile_pool, self._render, entry)
                self._store(entry, ks)
                pending.set_result(ks)
            except BaseException as exc:
                pending.set_exception(exc)
                raise
            finally:
                del self._producing[inputs]
            return ks
        return await asyncio.shield(pending)

    def node_state(self, entry: HostEntry) -> bytes | None:
        """A stateless host's state archive (rocks.server.nodestate), read from the inventory
        now (its interfaces) and the snapshot (networks, the frontend); None if unreadable."""
        from rocks.inventory.hosts import list_hosts
        from rocks.server.nodestate import host_key, record_known_host, state_files, state_tar

        boot = self.snapshot.boot
        state = Path(self.config.state_dir)
        try:
            with self.inventory.transaction(readonly=True) as s:
                hosts = list_hosts(s, [entry.name])
            key = host_key(state, entry.name)
            record_known_host(state / "ssh" / "known_hosts", entry.name, key[1])
        except Exception:
            log.exception("cannot read host %s or its key for its stateless state", entry.name)
            return None
        if not hosts:
            return None
        networks = boot.networks if boot is not None else ()
        frontend = (boot.frontend.name, boot.frontend.private_ip) if boot is not None else ("", "")
        return state_tar(state_files(entry, hosts[0], networks, frontend, key))

    # -- events ---------------------------------------------------------------------------
    def record(self, entry: HostEntry, stage: str, message: str, source: str) -> None:
        """Queue an event the server itself observed (committed soon, nobody waits)."""
        self.writer.submit(Pending(entry.name, stage, message, source, datetime.now(UTC)),
                           wait=False)

    def _committed(self, events: list[Pending]) -> None:
        for e in events:
            self.board[e.host_id] = self._kept(LastEvent(e.time, e.stage, e.message, e.source,
                                                         self.name))
        done = [e.host for e in events if e.stage == "finished" and e.token is not None]
        if done:
            self.bootfiles.submit(done)
        self.console.touch(e.host for e in events)

    def status(self, entry: HostEntry, now: datetime) -> tuple[str, datetime | None, str]:
        prog = self.progress.get(entry.name)
        active = prog.last if prog is not None and prog.token == entry.token else None
        return classify(entry.boot, entry.install_started, self.board.get(entry.id), now,
                        self.config.stall_after, active)

    def liveness(self, entry: HostEntry) -> tuple[str, datetime | None, str]:
        """up/down, since when, and how it is known: the newest of the node's own word (an
        event it sent — `up` at each boot, or its installer's), its package fetches, and the
        last probe `rocks list host status` recorded. ("", None, "") when nothing is known."""
        best: tuple[datetime, str, str] | None = None
        ev = self.board.get(entry.id)
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
        last = self.board.get(entry.id)
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
        for entry in self.snapshot.hosts.entries():
            name = entry.name
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
