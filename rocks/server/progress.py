"""Package progress of installing nodes, from what they fetch: no hook in the installer.

Each RPM a node fetches from /install/distro counts (a retry or a ranged resume of the same file
does not count again); the total is the node's depsolved package list as the package check of
`rocks set host boot` resolved it (rocks.profiles.depsolved_total), else the number of packages
its compiled profile names (an estimate: groups and dependencies add more). A fetch is also a
sign of life: an install that fetches is not stalled. A `packages` event is recorded when the
node begins and at each tenth of the way, so the install's history shows the pace without an
event per package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

RECENT = 8  # file names remembered per node to skip retries of the same file
STEPS = 10  # a `packages` event at each tenth


@dataclass(slots=True)
class Progress:
    token: str  # the install this belongs to
    last: datetime  # the newest fetch
    count: int = 0
    total: int | None = None
    estimate: bool = False  # total from the profile's own package list, not a depsolve
    recent: list[str] = field(default_factory=list)
    reported: int = -1  # the last tenth a `packages` event was recorded for

    def fetch(self, path: str, when: datetime, *, ranged: bool = False) -> bool:
        """Count a fetch of `path`; True when it was a new package."""
        self.last = when
        if not path.endswith(".rpm"):
            return False
        name = path.rsplit("/", 1)[-1]
        if name in self.recent or (ranged and self.count):
            return False
        self.recent.append(name)
        if len(self.recent) > RECENT:
            del self.recent[0]
        self.count += 1
        return True

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(99, self.count * 100 // self.total)  # the installer adds a few of its own

    def step(self) -> int | None:
        """The tenth reached now, if no event was recorded for it yet."""
        pct = self.percent
        if pct is None:
            return None
        tenth = pct * STEPS // 100
        if tenth <= self.reported:
            return None
        self.reported = tenth
        return tenth

    def text(self) -> str:
        if self.total is None:
            return f"{self.count} packages fetched"
        approx = "~" if self.estimate else ""
        return f"{self.count}/{approx}{self.total} packages ({self.percent}%)"

    def as_json(self) -> list[object]:
        return [self.count, self.total, self.estimate]
