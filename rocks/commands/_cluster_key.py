"""The frontend's cluster SSH key, published as the global attribute `cluster_ssh_pubkey`.

Kickstarts carry the public half to nodes (the base roll's access node authorizes it for root),
so it must be published before a node installs, not only when `rocks run host` first runs:
`rocks start frontend` (as root), `run host` and `sync host access` publish it here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rocks.commands import Context
    from rocks.inventory.db import Session

PUBKEY_ATTR = "cluster_ssh_pubkey"


def state_dir(ctx: Context) -> Path:
    from rocks.inventory.db import state_dir as default_state

    explicit = ctx.env.get("ROCKS_STATE")
    return Path(explicit) if explicit else default_state()


def publish(s: Session, key: Path) -> None:
    """Make `key`'s public half the global `cluster_ssh_pubkey` (when it is not already)."""
    from rocks.inventory import queries as q
    from rocks.remote.ssh import public_key

    pub = public_key(key)
    current = {a.name: a.value for a in q.list_attrs(s, "global")}
    if current.get(PUBKEY_ATTR) != pub:
        q.set_attr(s, "global", "", PUBKEY_ATTR, pub)


def publish_cluster_key(ctx: Context, s: Session) -> None:
    """Create the cluster key if needed and publish it."""
    from rocks.remote.ssh import cluster_key

    publish(s, cluster_key(state_dir(ctx)))
