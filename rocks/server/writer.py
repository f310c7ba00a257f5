"""Install events to the database by group commit: one writer, many waiting requests.

Requests queue a `Pending` event and await its future; the writer task drains the queue, commits
everything queued in one transaction (on its own thread), and only then resolves the futures —
so a 2xx means the event is on disk, and a burst of a thousand events costs a few commits.
An event carrying a token is checked against the host's token in the same transaction, so a
token spent by a `finished` (here or in another worker process) is refused; a `finished`
spends the token with one guarded UPDATE (inventory.install.spend_token), so of two that race
— in two workers, or two frontends on one PostgreSQL — exactly one is accepted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from rocks.inventory import queries as q
from rocks.inventory.install import spend_token
from rocks.inventory.schema import HostRow, InstallEventRow

if TYPE_CHECKING:
    from rocks.inventory import Inventory

log = logging.getLogger("rocks.server")
EVENTS: Any = InstallEventRow.__table__
MAX_BATCH = 500  # bounds how long one commit holds the GIL


class Outcome(enum.StrEnum):
    OK = "ok"
    REFUSED = "refused"  # the token is no longer the host's, or the host is gone
    ERROR = "error"  # the database failed; the event was not stored


@dataclass(slots=True)
class Pending:
    host: str
    stage: str
    message: str
    source: str
    time: datetime
    token: str | None = None  # checked at commit when given
    profile: str | None = None  # `finished`: the kickstart to keep as the host's profile
    future: asyncio.Future[Outcome] | None = field(default=None, repr=False)


Committed = Callable[[list[Pending]], None]


class EventWriter:
    def __init__(self, inventory: Inventory, on_commit: Committed | None = None, *,
                 frontend: str | None = None) -> None:
        self.inventory = inventory
        self.on_commit = on_commit
        self.frontend = frontend  # stored with each event: which frontend took it
        self.queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rocks-events")
        self.commits = 0
        self.written = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-writer")

    def submit(self, event: Pending, *, wait: bool = True) -> asyncio.Future[Outcome] | None:
        if wait:
            event.future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(event)
        return event.future

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is not None:
            self.queue.put_nowait(None)
            await self._task
        self.pool.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        closing = False
        while not closing:
            batch: list[Pending] = []
            item = await self.queue.get()
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
                outcomes = await loop.run_in_executor(self.pool, self._commit_safely, batch)
            except Exception:  # never let the writer die; the waiting requests get 503
                log.exception("event writer failed")
                outcomes = [Outcome.ERROR] * len(batch)
            stored = []
            for event, outcome in zip(batch, outcomes, strict=True):
                if outcome is Outcome.OK:
                    stored.append(event)
                if event.future is not None and not event.future.done():
                    event.future.set_result(outcome)
            if stored and self.on_commit is not None:
                self.on_commit(stored)

    def _commit_safely(self, batch: list[Pending]) -> list[Outcome]:
        try:
            return self._commit(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.error("event not stored host=%s stage=%s error=%s", batch[0].host,
                          batch[0].stage, type(exc).__name__)
                return [Outcome.ERROR]
        # One bad event must not sink the others: commit each on its own.
        return [self._commit_safely([event])[0] for event in batch]

    def _commit(self, batch: list[Pending]) -> list[Outcome]:
        names = sorted({e.host for e in batch})
        outcomes: list[Outcome] = []
        with self.inventory.transaction() as s:
            current = {n: (i, t) for i, n, t in s.execute(
                select(HostRow.id, HostRow.name, HostRow.install_token)
                .where(HostRow.name.in_(names)))}
            rows = []
            for e in batch:
                host = current.get(e.host)
                if host is None or (e.token is not None and host[1] != e.token):
                    outcomes.append(Outcome.REFUSED)
                    continue
                if e.stage == "finished" and e.token is not None:
                    if not spend_token(s, host[0], e.token):
                        outcomes.append(Outcome.REFUSED)
                        continue
                    current[e.host] = (host[0], None)
                    if e.profile is not None:
                        q.set_profile(s, e.host, e.profile, e.time)
                rows.append({"host_id": host[0], "time": e.time, "stage": e.stage,
                             "message": e.message, "source": e.source,
                             "frontend": self.frontend})
                outcomes.append(Outcome.OK)
            if rows:
                s.execute(insert(EVENTS), rows)  # Core, not ORM: no per-row objects
        self.commits += 1
        self.written += len(rows)
        return outcomes
