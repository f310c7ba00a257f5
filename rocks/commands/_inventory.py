"""The `inventory` service for commands: one session, one transaction per command.

The CLI closes `ctx.resources` after the command with any exception it raised: the transaction
then rolls back, so a failing command changes nothing. Appliances declared by the graph are
seeded into an empty inventory on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context

if TYPE_CHECKING:
    from rocks.inventory.core import Db
    from rocks.inventory.db import Session
    from rocks.profiles import ClusterSource


def database_url_from(env: Any) -> str | None:
    if env.get("ROCKS_DATABASE_URL"):
        return str(env["ROCKS_DATABASE_URL"])
    if env.get("ROCKS_STATE"):
        return str(Path(env["ROCKS_STATE"]) / "rocks.db")
    return None


def open_session(ctx: Context) -> Session:
    from rocks.inventory import open_inventory
    from rocks.inventory.db import private_state

    fast = ctx.opened("inventory-core")
    if fast is not None and fast.owned:
        raise RuntimeError("a command opened the inventory both through inventory-core and "
                           "through the ORM session; it must use one (the session serves both)")

    source = cluster_source(ctx)
    url = database_url_from(ctx.env)
    if not ctx.env.get("ROCKS_DATABASE_URL"):
        private_state(state_path(ctx))  # 0700, its secrets 0600: also an older state
    inv = open_inventory(url)
    ctx.resources.callback(inv.close)
    session: Session = ctx.resources.enter_context(inv.transaction())
    source.init()
    seed_if_empty(session, source)
    return session


def open_core(ctx: Context) -> Db:
    """The `inventory-core` service: the inventory through plain SQL (rocks.inventory.core) on
    a connection of its own, without importing SQLAlchemy, one transaction for the command.
    Where that cannot serve the database as it is (not yet created, migrated or seeded), the
    same functions run on the command's ORM session instead, which creates and seeds it."""
    from rocks.inventory import core
    from rocks.inventory.db import private_state

    if ctx.opened("inventory") is None:
        if not ctx.env.get("ROCKS_DATABASE_URL"):
            private_state(state_path(ctx))  # 0700, its secrets 0600: also an older state
        db = core.connect(database_url_from(ctx.env))
        if db is not None:
            ctx.resources.enter_context(db.transaction())
            return db
    return core.Db.of(session(ctx))


def seed_if_empty(session: Session, source: ClusterSource) -> None:
    """A new state: the default boot actions and the cluster graph's appliances."""
    from rocks.inventory import queries as q

    if q.has_appliances(session):
        return
    from rocks.model.inventory import Appliance
    from rocks.profiles import cluster_graph

    graph = cluster_graph(session, source).graph
    q.seed_defaults(session, [
        Appliance(a.name, a.node, a.kickstartable, a.public)
        for a in sorted(graph.appliances.values(), key=lambda a: a.name)
    ])


def state_path(ctx: Context) -> Path:
    """The state directory: ROCKS_STATE from the command's environment, else the default."""
    if ctx.env.get("ROCKS_STATE"):
        return Path(ctx.env["ROCKS_STATE"])
    from rocks.inventory.db import state_dir

    return state_dir()


def cluster_source(ctx: Context) -> ClusterSource:
    """The state the cluster's graph is read from (roll store, site graph)."""
    from rocks.profiles import ClusterSource

    return ClusterSource(state_path(ctx))


def has_inventory(ctx: Context) -> bool:
    """Whether an inventory exists to read (a database URL, or the state's SQLite file)."""
    return bool(ctx.env.get("ROCKS_DATABASE_URL")) or (state_path(ctx) / "rocks.db").is_file()


def roll_store(ctx: Context) -> Path:
    return cluster_source(ctx).store


def distro_dir(ctx: Context) -> Path:
    return state_path(ctx) / "distro"


def session(ctx: Context) -> Session:
    """The command's inventory session (opened on first use)."""
    s: Session = ctx.service("inventory")
    return s


def inventory_core(ctx: Context) -> Db:
    """The command's inventory without the ORM (opened on first use; see `open_core`)."""
    db: Db = ctx.service("inventory-core")
    return db


def open_session_factory(ctx: Context) -> Any:
    """Short transactions for long-running commands (discover) that must not hold the write
    lock while they wait: each `with factory() as s:` commits on success."""
    from rocks.inventory import open_inventory

    inv = open_inventory(database_url_from(ctx.env))
    ctx.resources.callback(inv.close)
    return inv.transaction


def cluster_service(ctx: Context, *, release: str = "el9", provenance: bool = False) -> Any:
    """The cluster's graph and compiler for commands over the inventory's hosts and appliances
    (rocks.profiles.profile_service: the one place that builds it)."""
    from rocks.profiles import GraphOptions, profile_service

    return profile_service(session(ctx), cluster_source(ctx),
                           GraphOptions(release=release, provenance=provenance))
