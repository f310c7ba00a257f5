"""Where sync writes, and applying a host's boot files from a command.

The output root is ROCKS_SYNC_ROOT; when unset it is `<ROCKS_STATE>/root` if a state directory
was given (a test or trial setup must never rewrite this machine's /etc), else `/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rocks.commands import Context
from rocks.siteconfig import sync_input

if TYPE_CHECKING:
    from rocks.inventory.db import Session
    from rocks.sync.apply import ApplyResult, Progress
    from rocks.sync.plan import Plan

__all__ = ["reload_services", "report_problems", "sync_input", "sync_root",
           "write_host_boot_files"]


def sync_root(ctx: Context) -> Path:
    if ctx.env.get("ROCKS_SYNC_ROOT"):
        return Path(ctx.env["ROCKS_SYNC_ROOT"])
    if ctx.env.get("ROCKS_STATE"):
        return Path(ctx.env["ROCKS_STATE"]) / "root"
    return Path("/")


def write_host_boot_files(ctx: Context, s: Session, hosts: Sequence[str],
                          progress: Progress | None = None) -> ApplyResult:
    """Plan the named hosts' boot files (and the shared files they appear in) and apply now:
    one batch, only files whose content changed are written."""
    from rocks.sync.apply import apply, disk_reader
    from rocks.sync.plan import plan_hosts

    s.flush()
    root = sync_root(ctx)
    from rocks.commands._inventory import cluster_source

    plan = plan_hosts(sync_input(s, cluster_source(ctx)), hosts, previous=disk_reader(root))
    report_problems(ctx, plan)
    result = apply(plan, root, progress=progress)
    reload_services(ctx, root, result.services_to_reload)
    return result


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
