"""Where sync writes, and applying a host's boot files from a command.

The output root is ROCKS_SYNC_ROOT; when unset it is `<ROCKS_STATE>/root` if a state directory
was given (a test or trial setup must never rewrite this machine's /etc), else `/`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rocks.commands import Context
from rocks.siteconfig import sync_input

if TYPE_CHECKING:
    from rocks.hostops import Where
    from rocks.inventory.core import Db
    from rocks.inventory.db import Session
    from rocks.sync.plan import Plan

__all__ = ["boot_where", "reload_services", "report_problems", "sync_input", "sync_root",
           "write_host_boot_files"]


def sync_root(ctx: Context) -> Path:
    if ctx.env.get("ROCKS_SYNC_ROOT"):
        return Path(ctx.env["ROCKS_SYNC_ROOT"])
    if ctx.env.get("ROCKS_STATE"):
        return Path(ctx.env["ROCKS_STATE"]) / "root"
    return Path("/")


def boot_where(ctx: Context) -> Where:
    """Where a boot change reads (state, distribution) and writes (the sync root)."""
    from rocks.commands._inventory import cluster_source, distro_dir
    from rocks.hostops import Where

    return Where(cluster_source(ctx), distro_dir(ctx), sync_root(ctx))


def write_host_boot_files(ctx: Context, s: Session | Db, hosts: Sequence[str],
                          quiet: Collection[str] = ()) -> None:
    """Make the named hosts' files live now (theirs and the shared files they appear in, and
    whatever else changed since the last sync): one batch, only files whose content changed
    are written (rocks.hostops.write_boot_files)."""
    from rocks.hostops import BootChange, write_boot_files
    from rocks.model.inventory import BootState

    change = BootChange(list(hosts), BootState.OS)
    where = boot_where(ctx)
    write_boot_files(s, where, hosts, change, warn=ctx.warn, quiet=quiet)
    reload_services(ctx, where.sync_root, change.reload)


def reload_services(ctx: Context, root: Path, services: set[str]) -> None:
    """Reload the services whose files changed — only when sync wrote this machine's own
    files (root /): the dhcpd of this machine does not read a trial's <state>/root."""
    from rocks.sync.apply import reload

    if root.resolve() != Path("/"):
        return
    for message in reload(services):
        ctx.stderr.write(message + "\n")


def report_problems(ctx: Context, plan: Plan) -> None:
    for d in plan.problems:
        ctx.warn(d.message, d.hint)
