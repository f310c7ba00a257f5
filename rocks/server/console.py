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

import fnmatch
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rocks.server.core import Frontend
    from rocks.server.index import HostEntry

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
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[Any, ...]:
    """compute-1-2 < compute-1-10: digit runs compare as numbers."""
    parts = _DIGITS.split(name.lower())
    return (*(int(p) if i % 2 else p for i, p in enumerate(parts)), name)


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
    def __init__(self, frontend: Frontend) -> None:
        self.fe = frontend
        self.epoch = secrets.token_hex(4)
        self.version = 0
        self.floor = 0  # deltas from before this version are not known: whole pages
        self.rows: dict[str, Row] = {}
        self.keys: dict[str, tuple[Any, ...]] = {}
        self._drawn: dict[str, tuple[Any, ...]] = {}  # the entry fields a row was made from
        self.changed: dict[str, int] = {}
        self.removed: dict[str, int] = {}
        self._orders: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()
        self._totals: tuple[int, dict[str, int], list[dict[str, int]]] | None = None
        self._racks_hash = 0
        self.racks_version = 0

    @property
    def tag(self) -> str:
        return f"{self.epoch}.{self.version}"

    # -- keeping rows -------------------------------------------------------------------
    def row(self, entry: HostEntry, now: datetime) -> Row:
        fe = self.fe
        stage, since, message = fe.status(entry, now)
        # a node's finished was committed; the snapshot catches up within a refresh
        boot = "os" if stage == "finished" and entry.boot == "install" else entry.boot
        prog = fe.progress.get(entry.name)
        live, live_since, live_source = fe.liveness(entry)
        last = fe.board.get(entry.name)
        return {
            "name": entry.name, "appliance": entry.appliance, "rack": entry.rack,
            "rank": entry.rank, "boot": boot, "stage": stage,
            "since": since.isoformat() if since else None,
            "message": short_message(fe.shown(entry, message)),
            "ips": list(entry.ips), "macs": list(entry.macs),
            "live": live, "live_since": live_since.isoformat() if live_since else None,
            "live_source": live_source,
            "frontend": last.frontend if last is not None else "",  # which one served it
            "progress": (prog.as_json() if prog is not None and entry.installing
                         and prog.token == entry.token else None),
        }

    def _put(self, name: str, row: Row) -> None:
        if name not in self.keys:
            self.keys[name] = natural_key(name)
        if self.rows.get(name) != row:
            self.version += 1
            self.rows[name] = row
            self.changed[name] = self.version

    def rebuild(self) -> None:
        """After a new snapshot: the rows of hosts whose inventory fields changed (the rest
        follow their events through `touch`); hosts gone are removed."""
        now = datetime.now(UTC)
        hosts = self.fe.snapshot.hosts
        for name in [n for n in self.rows if n not in hosts]:
            self.version += 1
            del self.rows[name]
            self.changed.pop(name, None)
            self.keys.pop(name, None)
            self._drawn.pop(name, None)
            self.removed[name] = self.version
        for name, entry in hosts.items():
            drawn = (entry.id, entry.appliance, entry.rack, entry.rank, entry.boot, entry.token,
                     entry.install_started, entry.ips, entry.macs)
            if self._drawn.get(name) == drawn:
                continue
            self._drawn[name] = drawn
            self.removed.pop(name, None)
            self._put(name, self.row(entry, now))
        if len(self.removed) > MAX_REMOVED:
            self.removed.clear()
            self.floor = self.version

    def touch(self, names: Iterable[str]) -> None:
        """Recompute the rows of these hosts (an event, a fetch, a probe)."""
        now = datetime.now(UTC)
        hosts = self.fe.snapshot.hosts
        for name in names:
            entry = hosts.get(name)
            if entry is not None:
                self._put(name, self.row(entry, now))

    def sweep(self) -> None:
        """Installs turn stalled by the clock alone: recompute the hosts that are installing."""
        self.touch([n for n, r in self.rows.items()
                    if r["boot"] == "install" and r["stage"] not in ("failed", "finished")])

    # -- reading ------------------------------------------------------------------------
    def _matches(self, view: View, macs: bool) -> Any:
        state, appliance, rack = view.state, view.appliance, view.rack
        text = view.q.strip().lower()
        glob = bool(text) and any(c in text for c in "*?[")

        def keep(row: Row) -> bool:
            if appliance and row["appliance"] != appliance:
                return False
            if rack is not None and row["rack"] != rack:
                return False
            if state and not in_state(row, state):
                return False
            if text:
                if glob:
                    return fnmatch.fnmatchcase(row["name"].lower(), text)
                if text in row["name"].lower() or any(text in ip for ip in row["ips"]):
                    return True
                return macs and any(text in m for m in row["macs"])
            return True

        return keep

    def _sort_key(self, view: View) -> Any:
        keys = self.keys
        first = view.problems_first

        def key(row: Row) -> tuple[Any, ...]:
            name = row["name"]
            lead = PROBLEM.get(row["stage"], 2) if first else 0
            if view.sort == "rack":
                return (lead, row["rack"], row["rank"], keys[name])
            if view.sort == "state":
                return (lead, STAGE_ORDER.get(row["stage"], 9), keys[name])
            if view.sort == "appliance":
                return (lead, row["appliance"], keys[name])
            if view.sort == "age":
                return (lead, row["since"] or "~", keys[name])
            return (lead, keys[name])

        return key

    def ordered(self, view: View, macs: bool) -> list[str]:
        """The names the view selects, in its order (kept per version)."""
        cache_key = (*view.selection, macs, self.version)
        hit = self._orders.get(cache_key)
        if hit is not None:
            self._orders.move_to_end(cache_key)
            return hit
        keep = self._matches(view, macs)
        rows = [r for r in self.rows.values() if keep(r)]
        rows.sort(key=self._sort_key(view))
        names = [r["name"] for r in rows]
        self._orders[cache_key] = names
        while len(self._orders) > 32:
            self._orders.popitem(last=False)
        return names

    def totals(self) -> tuple[dict[str, int], list[dict[str, int]]]:
        """The cards (counts of every host) and each rack's counts."""
        if self._totals is not None and self._totals[0] == self.version:
            return self._totals[1], self._totals[2]
        summary = dict.fromkeys(("hosts", "installing", "waiting", "finished", "failed",
                                 "stalled", "up", "down"), 0)
        racks: dict[int, dict[str, int]] = {}
        for row in self.rows.values():
            rack = racks.setdefault(row["rack"], {
                "rack": row["rack"], "hosts": 0, "installing": 0, "failed": 0, "stalled": 0,
                "up": 0, "down": 0})
            rack["hosts"] += 1
            summary["hosts"] += 1
            if row["boot"] == "install":
                summary["installing"] += 1
                rack["installing"] += 1
            stage = row["stage"]
            if stage in ("waiting", "finished", "failed", "stalled"):
                summary[stage] += 1
                if stage in rack:
                    rack[stage] += 1
            if row["live"] in ("up", "down"):
                summary[row["live"]] += 1
                rack[row["live"]] += 1
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
        names = self.ordered(view, macs)
        pages = max(1, -(-len(names) // view.size))
        page = min(max(1, view.page), pages)
        shown = names[(page - 1) * view.size:page * view.size]
        old = Since.parse(since) if since else None
        full = old is None or old.epoch != self.epoch or old.version < self.floor \
            or old.version > self.version
        base = 0 if full or old is None else old.version
        summary, racks = self.totals()
        out: dict[str, Any] = {
            "version": self.tag, "time": datetime.now(UTC).isoformat(), "full": full,
            "total": len(names), "page": page, "pages": pages, "size": view.size,
            "summary": summary, "names": shown,
            "rows": {n: public_row(self.rows[n], macs) for n in shown
                     if full or self.changed.get(n, 0) > base},
            "removed": [] if full else [n for n, v in self.removed.items() if v > base],
        }
        if full or self.racks_version > base:
            out["racks"] = racks
        return out


def in_state(row: Row, state: str) -> bool:
    stage = row["stage"]
    if state == "problems":
        return stage in PROBLEM
    if state == "installing":
        return bool(row["boot"] == "install")
    if state in ("up", "down"):
        return bool(row["live"] == state)
    if state == "unknown":
        return row["live"] not in ("up", "down")
    if state == "os":
        return bool(row["boot"] == "os")
    return bool(stage == state)


def public_row(row: Row, macs: bool) -> Row:
    """The row as a viewer may see it: MACs only behind the login."""
    return row if macs else {**row, "macs": []}
