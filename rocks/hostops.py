"""Changing what hosts boot, and removing hosts, with the files that follow: the operations
`rocks set host boot` and the frontend's write API (and the dashboard's reinstall action)
share. It joins the inventory, the cluster's graph (the package check) and sync (boot files),
so it sits beside profiles.py and siteconfig.py rather than in any one layer.

The caller holds the transaction: the boot files are written inside it, so when writing fails
the inventory change rolls back with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rocks.errors import RocksError
from rocks.model.inventory import BootChoice, BootState

if TYPE_CHECKING:
    from rocks.inventory.core import Db
    from rocks.inventory.db import Session
    from rocks.profiles import ClusterSource

Warn = Callable[[str, str], None]


class Steps(Protocol):
    """What a long operation tells the user (rocks.commands._progress.Progress has it)."""

    def step(self, text: str) -> Any: ...
    def callback(self, prefix: str = "") -> Any: ...


@dataclass(frozen=True, slots=True)
class Where:
    """Where a boot change reads and writes: the state (roll store, site graph), the
    distribution the package check depsolves against, and the root sync writes under."""

    source: ClusterSource
    distro: Path
    sync_root: Path
    release: str = "el9"


@dataclass(slots=True)
class BootChange:
    hosts: list[str]
    action: BootState
    written: int = 0  # files written or removed (boot files and the shared ones)
    removed: int = 0  # of which removed
    reload: set[str] = field(default_factory=set)  # services whose files changed


def _ignore(message: str, hint: str) -> None:
    return None


class _Quiet:
    def step(self, text: str) -> None:
        return None

    def callback(self, prefix: str = "") -> Any:
        return None


def needs_package_check(where: Where, action: BootState | BootChoice | str, force: bool
                        ) -> bool:
    """Whether a boot change must depsolve the hosts' packages (install, not forced, and a
    distribution built): only then does it need the compiler and the ORM session."""
    return BootChoice(action) is BootChoice.INSTALL and not force and \
        (where.distro / "repodata").is_dir()


def set_boot(s: Session | Db, where: Where, hosts: Sequence[str],
             action: BootState | BootChoice | str, *, force: bool = False,
             warn: Warn = _ignore, steps: Steps | None = None) -> BootChange:
    """`rocks set host boot`: the hosts' boot state in one statement (install: a fresh
    one-time token each; os: tokens spent; stateless: boot the appliance's image, a token
    each for fetching the host's state), then `after_boot_change`. `s`: an ORM Session, or
    the plain-SQL inventory when no package check is needed (needs_package_check)."""
    from rocks.inventory import core

    choice = BootChoice(action)
    core.set_boot(core.Db.of(s), list(hosts), choice)
    _expire(s)
    if choice is BootChoice.STATELESS:
        warn_missing_images(s, where, hosts, warn)
    state = BootState.INSTALL if choice is BootChoice.INSTALL else BootState.OS
    return after_boot_change(s, where, hosts, state, force=force, warn=warn, steps=steps)


def warn_missing_images(s: Session | Db, where: Where, hosts: Sequence[str], warn: Warn
                        ) -> None:
    """Stateless hosts whose appliance has no image yet boot nothing until one is built."""
    from rocks.images import current_images
    from rocks.inventory import core

    db = core.Db.of(s)
    names = list(hosts)
    appliances: set[str] = set()
    for i in range(0, len(names), 500):
        part = names[i:i + 500]
        appliances.update(r[0] for r in db.rows(
            "SELECT DISTINCT a.name FROM hosts h JOIN appliances a ON a.id = h.appliance_id "
            f"WHERE h.name IN ({', '.join('?' * len(part))})", part))
    missing = sorted(appliances - set(current_images(where.sync_root)))
    if missing:
        warn(f"no stateless image of {', '.join(missing)} yet: those hosts cannot boot "
             "stateless until one is built", f"rocks create image {' '.join(missing)}")


def _expire(s: Session | Db) -> None:
    """An ORM Session forgets what plain SQL just changed under it."""
    expire = getattr(s, "expire_all", None)
    if expire is not None:
        expire()


def after_boot_change(s: Session | Db, where: Where, hosts: Sequence[str], action: BootState, *,
                      force: bool = False, warn: Warn = _ignore, steps: Steps | None = None
                      ) -> BootChange:
    """What follows a boot change (the state and tokens already set). install: the hosts'
    %packages are depsolved against the distribution (refused with each problem's node file
    line; force skips it). Then the hosts' boot files are written in one batch."""
    names = list(hosts)
    steps = steps or _Quiet()
    if action is BootState.INSTALL and not force:
        steps.step("checking packages")
        check_packages(s, where, names, warn)
    steps.step("planning boot files")
    change = BootChange(names, action)
    write_boot_files(s, where, names, change, warn, steps.callback("boot files: "))
    return change


def check_packages(s: Session | Db, where: Where, hosts: list[str],
                   warn: Warn = _ignore) -> None:
    """Depsolve the hosts' compiled %packages against the distribution (once per distinct
    profile); a RocksError naming each missing package's node file line."""
    from rocks.profiles import GraphOptions, hosts_package_problems, profile_service

    repo = where.distro
    if not (repo / "repodata").is_dir():
        warn("no distribution built yet: the packages check was skipped", "rocks create distro")
        return
    from rocks.inventory.core import Db

    if isinstance(s, Db):
        raise RuntimeError("the package check needs the ORM session (needs_package_check)")
    svc = profile_service(s, where.source, GraphOptions(release=where.release))
    problems = hosts_package_problems(svc, s, hosts, repo)
    if problems:
        raise RocksError(*problems)


def write_boot_files(s: Session | Db, where: Where, hosts: Sequence[str],
                     change: BootChange | None = None, warn: Warn = _ignore,
                     progress: Any = None, ids: Sequence[int] | None = None,
                     quiet: Collection[str] = ()) -> None:
    """Make the named hosts' files live now under the sync root — theirs, the shared files
    they appear in, and whatever else changed since the last sync (rocks.siteconfig.sync_files:
    incremental, one batch, only files whose content changed; removed hosts' files go).
    `ids`: the hosts' ids when they are gone from the inventory already. `quiet`: problem
    codes not to warn about (`rocks sync config` still reports them)."""
    from rocks.inventory import core
    from rocks.siteconfig import sync_files

    db = core.Db.of(s)
    if ids is None:
        ids = list(core.host_ids(db, hosts).values())
    done = sync_files(db, where.source, where.sync_root, hint=ids, progress=progress)
    # what concerns these hosts or everyone; `rocks sync config` tells every host's
    for d in done.update.problems_of(hosts):
        if d.code not in quiet:
            warn(d.message, d.hint)
    result = done.result
    if change is not None:
        change.written = len(result.changed) + len(result.removed)
        change.removed = len(result.removed)
        change.reload = set(result.services_to_reload)


def remove_hosts(s: Session, where: Where, hosts: Sequence[str], warn: Warn = _ignore, *,
                 sync: bool = True, steps: Steps | None = None) -> BootChange:
    """Remove hosts (interfaces, attributes, events and profiles go with them; one statement
    per table) and, with `sync`, rewrite the files that named them (boot files, and the shared
    DHCP, DNS and hosts files they appeared in)."""
    from rocks.inventory import core
    from rocks.inventory.bootstate import remove_hosts as remove

    steps = steps or _Quiet()
    names = list(hosts)
    steps.step("removing hosts")
    ids = list(core.host_ids(core.Db.of(s), names).values())
    remove(s, names)
    change = BootChange(names, BootState.OS)
    if sync:
        steps.step("planning the sync")
        write_boot_files(s, where, names, change, warn, steps.callback("sync: "), ids=ids)
    return change
