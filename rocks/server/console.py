"""The console's model: one row per host, versioned, so that a page of 10,000 hosts is served
a page at a time and refreshed by deltas.

Every change a row can see — an event committed, a package fetched, the inventory rebuilt, a
probe recorded, an install turning stalled — recomputes that host's row; when the row differs
from the one kept, the console's version moves and the host is marked changed at it. A client
asks for its view (filter, sort, page) with `since=<version>`: it gets the names on its page in
order and the rows that changed since, not the page again (`query`). Versions carry the
process's epoch, so a client of a restarted server (or of another worker) gets a whole page.

Rows are server-side only until `public_row` strips what the viewer may not see (MACs without a
login).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import re
import secrets
from array import array
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rocks.server.hosttable import NO_TIME, from_us, to_us
from rocks.server.status import DONE, STALLED

if TYPE_CHECKING:
    from rocks.server.core import Frontend
    from rocks.server.hosttable import HostEntry, HostTable

Row = dict[str, Any]
STATES = ("problems", "failed", "stalled", "installing", "waiting", "finished", "up", "down",
          "unknown", "os")
SORTS = ("name", "rack", "state", "appliance", "age")
PROBLEM = {"failed": 0, "stalled": 1}
STAGE_ORDER = {s: i for i, s in enumerate(
    ("failed", "stalled", "waiting", "fetched-kickstart", "pre", "packages", "post", "finished",
     "up", ""))}
MESSAGE_CHARS = 200  # of the last message in a list row (the host page shows all of it)
MAX_REMOVED = 20000  # removed names remembered for deltas; beyond, clients get whole pages
TOUCH_DELAY = 0.05  # seconds a touched row waits to be recomputed (with the others touched)
WATCHED = 10.0  # seconds after a read during which touched rows are recomputed as they come
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> bytes:
    """compute-1-2 < compute-1-10: digit runs compare as numbers, text case-blind, the name
    itself last. A bytes key (any two names compare, and 100,000 of them sort in a few MiB):
    each text run and its end, each number as its length and digits, then the end of the
    runs and the name."""
    out = bytearray()
    for i, part in enumerate(_DIGITS.split(name.lower())):
        if i % 2:
            digits = part.lstrip("0") or "0"
            out += b"\x01" + bytes([min(len(digits), 255)]) + digits.encode()
        else:
            out += b"\x01" + part.encode() + b"\x00"
    return bytes(out) + b"\x00" + name.encode()


def short_message(text: str) -> str:
    """A message fit for one table cell: its first line, and its last when it has several
    (a failed install's log tail ends with the error)."""
    lines = [x for x in text.split("\\x0a") if x.strip()]
    if not lines:
        return ""
    out = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1].strip()}"
    return out if len(out) <= MESSAGE_CHARS else out[:MESSAGE_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class View:
    """What a client looks at: a filter, an order and a page."""

    state: str = ""
    appliance: str = ""
    rack: int | None = None
    q: str = ""
    sort: str = "name"
    problems_first: bool = True
    page: int = 1
    size: int = 100

    @property
    def selection(self) -> tuple[Any, ...]:
        return (self.state, self.appliance, self.rack, self.q.strip().lower(), self.sort,
                self.problems_first)


@dataclass(frozen=True, slots=True)
class Since:
    epoch: str
    version: int

    @classmethod
    def parse(cls, text: str) -> Since | None:
        epoch, _, version = text.partition(".")
        return cls(epoch, int(version)) if version.isdigit() else None


class Console:
    """Rows as columns over the snapshot's host table (hosttable.py): per host a few codes and
    times, its message and progress only when it has them; a row's dictionary is made when a
    page shows it. 100,000 hosts cost a few MiB, not the hundreds rows of dictionaries did."""

    def __init__(self, frontend: Frontend) -> None:
        self.fe = frontend
        self.epoch = secrets.token_hex(4)
        self.version = 0
        self.floor = 0  # deltas from before this version are not known: whole pages
        self.table: HostTable | None = None
        self.words: list[str] = [""]  # codes of the short strings a row holds
        self._codes: dict[str, int] = {"": 0}
        self.boot = bytearray()
        self.stage = bytearray()
        self.live = bytearray()
        self.live_source = bytearray()
        self.served_by = bytearray()  # the frontend that stored the host's last event
        self.since = array("q")
        self.live_since = array("q")
        self.due = array("q")  # when an install turns stalled by the clock alone
        self.sig = array("q")  # the table's signature of each row's inventory fields
        self.messages: dict[str, str] = {}  # the hosts that have one
        self.progress: dict[str, list[object]] = {}
        self.changed: dict[str, int] = {}
        self.removed: dict[str, int] = {}
        self._pending: set[str] = set()  # touched, not yet recomputed (flush)
        self._flush_at: asyncio.TimerHandle | None = None
        self._read_at = float("-inf")
        self._next_due = NO_TIME
        self._orders: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()
        self._totals: tuple[int, dict[str, int], list[dict[str, int]]] | None = None
        self._racks_hash = 0
        self.racks_version = 0

    @property
    def tag(self) -> str:
        """The version a reader sees (touched rows recomputed first: ETags are made of it)."""
        self._reading()
        return f"{self.epoch}.{self.version}"

    def _code(self, word: str) -> int:
        code = self._codes.get(word)
        if code is None:
            code = self._codes[word] = len(self.words)
            self.words.append(word)
        return code

    def __contains__(self, name: object) -> bool:
        return self.table is not None and name in self.table

    # -- keeping rows -------------------------------------------------------------------
    def _state(self, entry: HostEntry, now: datetime) -> tuple[Any, ...]:
        """The row's fields that are not the inventory's: (boot, stage, since, message, live,
        live_since, live_source, progress, due, the frontend that stored its last event)."""
        fe = self.fe
        stage, since, message = fe.status(entry, now)
        # a node's finished was committed; the snapshot catches up within a refresh
        boot = "os" if stage == "finished" and entry.boot == "install" else entry.boot
        prog = fe.progress.get(entry.name)
        live, live_since, live_source = fe.liveness(entry)
        due = NO_TIME
        if boot == "install" and stage not in DONE and stage != STALLED and since is not None:
            quiet = since if prog is None or prog.token != entry.token or prog.last < since \
                else prog.last
            due = to_us(quiet) + int(fe.config.stall_after * 1e6)
        return (boot, stage, to_us(since), short_message(fe.shown(entry, message)), live,
                to_us(live_since), live_source,
                prog.as_json() if prog is not None and entry.installing
                and prog.token == entry.token else None, due,
                last.frontend if (last := fe.board.get(entry.id)) is not None else "")

    def _put(self, i: int, name: str, state: tuple[Any, ...], *, record: bool = True,
             force: bool = False) -> None:
        boot, stage, since, message, live, live_since, live_source, progress, due, by = state
        codes = (self._code(boot), self._code(stage), self._code(live), self._code(live_source),
                 self._code(by))
        self.due[i] = due
        if due != NO_TIME and (self._next_due == NO_TIME or due < self._next_due):
            self._next_due = due
        if (not force and codes == (self.boot[i], self.stage[i], self.live[i],
                                    self.live_source[i], self.served_by[i])
                and since == self.since[i] and live_since == self.live_since[i]
                and message == self.messages.get(name, "")
                and progress == self.progress.get(name)):
            return
        self.boot[i], self.stage[i], self.live[i], self.live_source[i], self.served_by[i] = codes
        self.since[i], self.live_since[i] = since, live_since
        if message:
            self.messages[name] = message
        else:
            self.messages.pop(name, None)
        if progress is not None:
            self.progress[name] = progress
        else:
            self.progress.pop(name, None)
        self.version += 1
        if record:
            self.changed[name] = self.version

    def rebuild(self) -> None:
        """After a new snapshot: the rows of hosts whose inventory fields changed (the rest
        keep their columns, and follow their events through `touch`); hosts gone are
        removed."""
        self.flush()
        now = datetime.now(UTC)
        old, new = self.table, self.fe.snapshot.hosts
        first = old is None
        n = len(new)
        cols = (bytearray(n), bytearray(n), bytearray(n), bytearray(n), bytearray(n),
                array("q", [NO_TIME]) * n, array("q", [NO_TIME]) * n,
                array("q", [NO_TIME]) * n, array("q", [0]) * n)
        todo: list[int] = []
        if old is None:
            todo = list(range(n))
        else:
            names = new.names
            k = 0
            old_names = old.names
            for j, name in enumerate(old_names):  # both sorted: one walk
                while k < n and names[k] < name:
                    todo.append(k)
                    k += 1
                if k < n and names[k] == name:
                    for col, was in zip(cols, (self.boot, self.stage, self.live,
                                               self.live_source, self.served_by, self.since,
                                               self.live_since, self.due, self.sig),
                                        strict=True):
                        col[k] = was[j]
                    if self.sig[j] != new.sig[k]:
                        todo.append(k)
                    k += 1
                else:
                    self.version += 1
                    self.changed.pop(name, None)
                    self.messages.pop(name, None)
                    self.progress.pop(name, None)
                    self.removed[name] = self.version
            todo.extend(range(k, n))
        (self.boot, self.stage, self.live, self.live_source, self.served_by, self.since,
         self.live_since, self.due, self.sig) = cols
        self.table = new
        for i in todo:
            entry = new.entry(i)
            self.sig[i] = new.sig[i]
            self.removed.pop(entry.name, None)
            # a row whose inventory fields changed is new to every client
            self._put(i, entry.name, self._state(entry, now), record=not first,
                      force=not first)
        if first:
            self.floor = self.version  # no client saw a version before this one
        if len(self.removed) > MAX_REMOVED:
            self.removed.clear()
            self.floor = self.version

    def touch(self, names: Iterable[str]) -> None:
        """Mark the rows of these hosts for recomputing (an event, a fetch, a probe). Rows are
        recomputed when something reads them and, while someone watches the console (a read
        in the last WATCHED seconds), every TOUCH_DELAY — each host once however often it
        was touched: a mass install touches a host at each of its requests, and nobody may be
        looking."""
        self._pending.update(names)
        if self._flush_at is not None or not self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if loop.time() - self._read_at < WATCHED:
            self._flush_at = loop.call_later(TOUCH_DELAY, self.flush)

    def _reading(self) -> None:
        """A reader is here: rows recomputed first, and kept current while it watches."""
        with contextlib.suppress(RuntimeError):
            self._read_at = asyncio.get_running_loop().time()
        self.flush()

    def flush(self) -> None:
        """Recompute the rows touched since the last flush."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        names, self._pending = self._pending, set()
        self._recompute(names)

    def _recompute(self, names: Iterable[str]) -> None:
        table = self.table
        if table is None or table is not self.fe.snapshot.hosts:
            return
        now = datetime.now(UTC)
        for name in names:
            i = table.position(name)
            if i >= 0:
                self._put(i, name, self._state(table.entry(i), now))

    def sweep(self) -> None:
        """Installs turn stalled by the clock alone: recompute the hosts whose quiet time ran
        out (each row knows when that is; nothing is done while none is due)."""
        table = self.table
        now = to_us(datetime.now(UTC))
        if table is None or self._next_due == NO_TIME or now < self._next_due:
            return
        due = self.due
        self._next_due = NO_TIME
        names = [table.names[i] for i in range(len(due)) if due[i] != NO_TIME and due[i] <= now]
        for i in range(len(due)):
            d = due[i]
            if d != NO_TIME and d > now and (self._next_due == NO_TIME or d < self._next_due):
                self._next_due = d
        self._recompute(names)
        self._pending.difference_update(names)

    def changed_at(self, name: str) -> int:
        """The version at which the host's row last changed (0: before any client saw it)."""
        self._reading()
        return self.changed.get(name, 0)

    def row(self, name: str, macs: bool = True) -> Row | None:
        """The host's row as a page shows it (MACs only for a viewer behind the login)."""
        self._reading()
        table = self.table
        i = table.position(name) if table is not None else -1
        return None if i < 0 else self._row(i, macs)

    def _row(self, i: int, macs: bool) -> Row:
        table = self.table
        assert table is not None
        words = self.words
        name = table.names[i]
        ips, macs_of = table.interfaces_at(i)
        since, live_since = from_us(self.since[i]), from_us(self.live_since[i])
        return {
            "name": name, "appliance": table.appliance_at(i), "rack": table.racks[i],
            "rank": table.ranks[i], "boot": words[self.boot[i]],
            "stage": words[self.stage[i]], "since": since.isoformat() if since else None,
            "message": self.messages.get(name, ""), "ips": list(ips),
            "macs": list(macs_of) if macs else [], "live": words[self.live[i]],
            "live_since": live_since.isoformat() if live_since else None,
            "live_source": words[self.live_source[i]],
            "frontend": words[self.served_by[i]],  # which one served it
            "progress": self.progress.get(name),
        }

    # -- reading ------------------------------------------------------------------------
    def _keep(self, view: View, macs: bool) -> Any:
        table = self.table
        assert table is not None
        words = self.words
        state, appliance, rack = view.state, view.appliance, view.rack
        text = view.q.strip().lower()
        glob = bool(text) and any(c in text for c in "*?[")

        def keep(i: int) -> bool:
            if appliance and table.appliance_at(i) != appliance:
                return False
            if rack is not None and table.racks[i] != rack:
                return False
            if state and not state_is(words[self.stage[i]], words[self.boot[i]],
                                      words[self.live[i]], state):
                return False
            if text:
                name = table.names[i]
                if glob:
                    return fnmatch.fnmatchcase(name.lower(), text)
                ips, macs_of = table.interfaces_at(i)
                if text in name.lower() or any(text in ip for ip in ips):
                    return True
                return macs and any(text in m for m in macs_of)
            return True

        return keep

    def _sort_key(self, view: View) -> Any:
        table = self.table
        assert table is not None
        words, natural = self.words, table.natural
        first = view.problems_first
        never = 1 << 62

        def key(i: int) -> tuple[Any, ...]:
            stage = words[self.stage[i]]
            lead = PROBLEM.get(stage, 2) if first else 0
            if view.sort == "rack":
                return (lead, table.racks[i], table.ranks[i], natural[i])
            if view.sort == "state":
                return (lead, STAGE_ORDER.get(stage, 9), natural[i])
            if view.sort == "appliance":
                return (lead, table.appliance_at(i), natural[i])
            if view.sort == "age":
                since = self.since[i]
                return (lead, never if since == NO_TIME else since, natural[i])
            return (lead, natural[i])

        return key

    def ordered(self, view: View, macs: bool) -> list[str]:
        """The names the view selects, in its order (kept per version)."""
        self._reading()
        table = self.table
        if table is None:
            return []
        cache_key = (*view.selection, macs, self.version, table.generation)
        hit = self._orders.get(cache_key)
        if hit is not None:
            self._orders.move_to_end(cache_key)
            return hit
        keep = self._keep(view, macs)
        chosen = [i for i in range(len(table)) if keep(i)]
        chosen.sort(key=self._sort_key(view))
        names = [table.names[i] for i in chosen]
        self._orders[cache_key] = names
        while len(self._orders) > 32:
            self._orders.popitem(last=False)
        return names

    def totals(self) -> tuple[dict[str, int], list[dict[str, int]]]:
        """The cards (counts of every host) and each rack's counts."""
        self._reading()
        table = self.table
        if self._totals is not None and self._totals[0] == self.version:
            return self._totals[1], self._totals[2]
        summary = dict.fromkeys(("hosts", "installing", "waiting", "finished", "failed",
                                 "stalled", "up", "down"), 0)
        racks: dict[int, dict[str, int]] = {}
        words = self.words
        for i in range(len(table) if table is not None else 0):
            assert table is not None
            number = table.racks[i]
            rack = racks.get(number)
            if rack is None:
                rack = racks[number] = {"rack": number, "hosts": 0, "installing": 0,
                                        "failed": 0, "stalled": 0, "up": 0, "down": 0}
            rack["hosts"] += 1
            summary["hosts"] += 1
            if words[self.boot[i]] == "install":
                summary["installing"] += 1
                rack["installing"] += 1
            stage = words[self.stage[i]]
            if stage in ("waiting", "finished", "failed", "stalled"):
                summary[stage] += 1
                if stage in rack:
                    rack[stage] += 1
            live = words[self.live[i]]
            if live in ("up", "down"):
                summary[live] += 1
                rack[live] += 1
        listed = [racks[r] for r in sorted(racks)]
        digest = hash(repr(listed))
        if digest != self._racks_hash:
            self._racks_hash = digest
            self.racks_version = self.version
        self._totals = (self.version, summary, listed)
        return summary, listed

    def query(self, view: View, since: str = "", *, macs: bool) -> dict[str, Any]:
        """The view's page: names in order, and the rows changed since `since` (all of them
        when `since` is empty, from another epoch, or too old)."""
        self._reading()
        names = self.ordered(view, macs)
        pages = max(1, -(-len(names) // view.size))
        page = min(max(1, view.page), pages)
        shown = names[(page - 1) * view.size:page * view.size]
        old = Since.parse(since) if since else None
        full = old is None or old.epoch != self.epoch or old.version < self.floor \
            or old.version > self.version
        base = 0 if full or old is None else old.version
        summary, racks = self.totals()
        rows = {}
        for n in shown:
            if full or self.changed.get(n, 0) > base:
                row = self.row(n, macs)
                if row is not None:
                    rows[n] = row
        out: dict[str, Any] = {
            "version": self.tag, "time": datetime.now(UTC).isoformat(), "full": full,
            "total": len(names), "page": page, "pages": pages, "size": view.size,
            "summary": summary, "names": shown, "rows": rows,
            "removed": [] if full else [n for n, v in self.removed.items() if v > base],
        }
        if full or self.racks_version > base:
            out["racks"] = racks
        return out


def in_state(row: Row, state: str) -> bool:
    return state_is(row["stage"], row["boot"], row["live"], state)


def state_is(stage: str, boot: str, live: str, state: str) -> bool:
    """Whether a row of this stage, boot and liveness is in the console's `state` filter."""
    if state == "problems":
        return stage in PROBLEM
    if state == "installing":
        return boot == "install"
    if state in ("up", "down"):
        return live == state
    if state == "unknown":
        return live not in ("up", "down")
    if state == "os":
        return boot == "os"
    return stage == state


def public_row(row: Row, macs: bool) -> Row:
    """The row as a viewer may see it: MACs only behind the login."""
    return row if macs else {**row, "macs": []}
