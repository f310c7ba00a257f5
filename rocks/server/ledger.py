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
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from rocks.inventory.install import current_tokens

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

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="token-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self.queue.put_nowait(None)
            await self._task
        self.pool.shutdown(wait=True)

    async def current(self, host_id: int, token: str) -> bool:
        """True if `token` is the host's install token now, in the database."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((host_id, token, future))
        return await future

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
            for hid, token, future in batch:
                now = tokens.get(hid)
                if not future.done():
                    future.set_result(now is not None and secrets.compare_digest(
                        now.encode(), token.encode()))

    def _read(self, host_ids: list[int]) -> dict[int, str]:
        self.queries += 1
        with self.inventory.transaction(readonly=True) as s:
            return current_tokens(s, host_ids)
