"""The database decides whether an install token still opens anything.

Every worker process keeps a snapshot of the inventory, refreshed about once a second; a token
spent by a `finished` in another worker (or on another frontend sharing PostgreSQL) must be
refused at once, not when the snapshot catches up. So before a kickstart is served the host's
token is confirmed against the database. Confirmations are batched like event commits: the
requests of one moment share one `SELECT … WHERE id IN (…)` on a thread of its own, so a
thousand nodes asking at once cost a few queries, not a thousand.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import quote

from rocks.inventory.install import TOKEN_HOLDERS_SQL, current_tokens

if TYPE_CHECKING:
    from rocks.inventory import Inventory

log = logging.getLogger("rocks.server")
MAX_BATCH = 500


class TokenLedger:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rocks-tokens")
        self.queue: asyncio.Queue[tuple[int, str, asyncio.Future[bool]] | None] = (
            asyncio.Queue())
        self.queries = 0
        self._task: asyncio.Task[None] | None = None
        self._local = _local_reader(inventory)
        self._waiting: list[tuple[int, str, asyncio.Future[bool]]] = []

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="token-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self.queue.put_nowait(None)
            await self._task
        self.pool.shutdown(wait=True)
        if self._local is not None:
            self._local.close()

    async def current(self, host_id: int, token: str) -> bool:
        """True if `token` is the host's install token now, in the database."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if self._local is not None:
            if not self._waiting:
                loop.call_soon(self._read_here)
            self._waiting.append((host_id, token, future))
        else:
            self.queue.put_nowait((host_id, token, future))
        return await future

    def _read_here(self) -> None:
        """On the loop: the batch of this iteration in one read (SQLite)."""
        batch, self._waiting = self._waiting, []
        assert self._local is not None
        for start in range(0, len(batch), MAX_BATCH):
            part = batch[start:start + MAX_BATCH]
            ids = sorted({hid for hid, _, _ in part})
            try:
                rows = self._local.execute(
                    f"SELECT id, install_token FROM hosts WHERE {TOKEN_HOLDERS_SQL} "
                    f"AND id IN ({','.join('?' * len(ids))})", ids)
                tokens = {i: t for i, t in rows if t}
            except sqlite3.Error as exc:  # busy or gone: the thread reads it (and waits)
                log.warning("token read on the loop failed (%s); reading on the thread", exc)
                for item in part:
                    self.queue.put_nowait(item)
                continue
            self.queries += 1
            _answer(part, tokens)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        closing = False
        while not closing:
            item = await self.queue.get()
            batch = []
            while True:
                if item is None:
                    closing = True
                else:
                    batch.append(item)
                if len(batch) >= MAX_BATCH or self.queue.empty():
                    break
                item = self.queue.get_nowait()
            if not batch:
                continue
            try:
                tokens = await loop.run_in_executor(
                    self.pool, self._read, sorted({hid for hid, _, _ in batch}))
            except Exception:  # the database is the authority: no answer means no
                log.exception("cannot confirm install tokens; refusing this batch")
                tokens = {}
            _answer(batch, tokens)

    def _read(self, host_ids: list[int]) -> dict[int, str]:
        self.queries += 1
        with self.inventory.transaction(readonly=True) as s:
            return current_tokens(s, host_ids)


def _answer(batch: list[tuple[int, str, asyncio.Future[bool]]], tokens: dict[int, str]) -> None:
    for hid, token, future in batch:
        now = tokens.get(hid)
        if not future.done():
            future.set_result(now is not None and secrets.compare_digest(
                now.encode(), token.encode()))


def _local_reader(inventory: Inventory) -> sqlite3.Connection | None:
    """A read-only connection to the inventory's SQLite file for the event loop (None on
    PostgreSQL, or when the file cannot be opened so)."""
    if inventory.dialect != "sqlite":
        return None
    path = inventory.engine.url.database
    if not path or path == ":memory:":
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=100")
        conn.execute("PRAGMA query_only=ON")
        return conn
    except sqlite3.Error as exc:
        log.warning("no read-only connection to %s (%s); tokens are read on a thread", path,
                    exc)
        return None
