"""Commands of the frontend server: `rocks start frontend` and `rocks list host install`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Rows, command, keyword, positional
from rocks.commands._hosts import expand_hosts
from rocks.commands._inventory import database_url_from, session
from rocks.commands._sync import sync_root
from rocks.errors import RocksError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


@command(
    keyword("host", default="127.0.0.1", help="address to listen on"),
    keyword("port", int, default=8080, help="TCP port"),
    keyword("workers", _positive, default=1, metavar="integer",
            help="server processes (each keeps its own snapshot and event writer)"),
    keyword("max-inflight", _positive, default=256, metavar="integer",
            help="kickstart requests served at once; beyond them nodes get 503 + Retry-After"),
    keyword("stall-after", _positive, default=1800, metavar="seconds",
            help="an install with no event for this long is reported stalled"),
    keyword("distro", default="", help="directory served at /install/distro "
                                       "(default: <state>/distro)"),
    keyword("token-file", default="", help="admin API token file (default: <state>/api-token, "
                                           "created 0600; ROCKS_API_TOKEN overrides)"),
    keyword("release", default="el9", choices=("el9", "el10", "el7"), help="target release"),
    examples=("rocks start frontend", "rocks start frontend host=10.1.1.1 port=80 workers=2"),
)
def start_frontend(ctx: Context, args: dict[str, Any]) -> Result:
    """Serve kickstarts, install events, the distribution, the dashboard and the admin API.

    Runs in the foreground until interrupted. Creates and migrates the inventory if needed and
    seeds the graph's appliances into an empty one. Hosts set to install without an install
    token (set by other means than `rocks set host boot`) are issued one now. Run as root, it
    publishes the cluster SSH key (cluster_ssh_pubkey) so that the kickstarts it serves carry
    it and `rocks run host` reaches the nodes they install.
    """
    from rocks.commands._inventory import _seed_if_empty
    from rocks.inventory import database_url, open_inventory, state_dir
    from rocks.inventory.install import begin_install
    from rocks.inventory.schema import HostRow
    from rocks.server.config import ServerConfig
    from rocks.server.run import serve

    url = database_url(database_url_from(ctx.env))
    state = ctx.env.get("ROCKS_STATE") or str(state_dir())
    with open_inventory(url) as inv, inv.transaction() as s:
        _seed_if_empty(s)
        from sqlalchemy import select

        missing = s.scalars(select(HostRow.name).where(
            HostRow.boot == "install", HostRow.install_token.is_(None))).all()
        for name in missing:
            begin_install(s, name)
        _publish_cluster_key(ctx, s)
    if missing:
        ctx.stderr.write(f"issued install tokens to {len(missing)} host(s) set to install\n")
    config = ServerConfig(
        database_url=url, state_dir=state, host=args["host"], port=args["port"],
        workers=args["workers"], max_inflight=args["max-inflight"],
        stall_after=float(args["stall-after"]), distro=args["distro"],
        token_file=args["token-file"], release=args["release"],
        sync_root=str(sync_root(ctx)),
    )
    ctx.stderr.write(f"rocks frontend on http://{config.host}:{config.port}/ "
                     f"(admin API token: {config.token_path}"
                     f"{' or ROCKS_API_TOKEN' if ctx.env.get('ROCKS_API_TOKEN') else ''})\n")
    ctx.stderr.flush()
    serve(config)
    return None


def _publish_cluster_key(ctx: Context, s: Session) -> None:
    import os

    from rocks.commands._cluster_key import publish_cluster_key

    if os.geteuid() != 0:
        return  # only root holds the cluster key (`rocks run host` as root publishes it)
    try:
        publish_cluster_key(ctx, s)
    except RocksError as exc:
        ctx.warn(f"the cluster SSH key was not published: {exc.first.message}",
                 hint="rocks run host publishes it once ssh-keygen works")


@command(
    positional("hosts", many=True, default=(), metavar="HOST",
               help="host names, appliances, rackN or globs (default: all)"),
    keyword("stall-after", _positive, default=1800, metavar="seconds",
            help="an install with no event for this long is stalled"),
    tabular=True,
    examples=("rocks list host install", "rocks list host install compute stall-after=600"),
)
def list_host_install(ctx: Context, args: dict[str, Any]) -> Result:
    """Install progress: each host's stage, since when, and its last message.

    The stage is that of the host's newest install event; "waiting" when it is set to install
    and has sent nothing since, "stalled" when an install has been silent for stall-after.
    """
    from rocks.server.status import install_status

    s = session(ctx)
    names = expand_hosts(s, args["hosts"]) if args["hosts"] else None
    now = datetime.now(UTC)
    rows = []
    for st in install_status(s, names, stall_after=float(args["stall-after"]), now=now):
        since = st.since.strftime("%Y-%m-%d %H:%M:%S") if st.since else None
        rows.append((st.host, st.stage or None, since, st.message or None))
    return Rows(("host", "stage", "since", "last-message"), rows)
