"""Commands of the frontend server: `rocks start frontend`, `rocks create frontend token` and
`rocks list host install`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Rows, Text, command, keyword, positional
from rocks.commands._hosts import expand_hosts
from rocks.commands._inventory import database_url_from, session
from rocks.commands._sync import sync_root
from rocks.errors import RocksError
from rocks.resources import releases

if TYPE_CHECKING:
    from rocks.inventory.db import Session


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _natural(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 3600:
        raise ValueError("must be between 0 and 3600 seconds")
    return value


def _proxies(raw: str) -> str:
    from rocks.server.config import parse_proxies

    parse_proxies(raw)  # a bad entry is an error naming it
    return raw


@command(
    keyword("host", default="", help="address to listen on (default: from ROCKS_LISTEN or "
                                     "rocks.toml's listen, else 127.0.0.1)"),
    keyword("port", int, default=None, help="TCP port (default: as host=, else 8080)"),
    keyword("workers", _positive, default=1, metavar="integer",
            help="server processes (each keeps its own snapshot and event writer)"),
    keyword("max-inflight", _positive, default=256, metavar="integer",
            help="kickstart requests served at once; beyond them nodes get 503 + Retry-After"),
    keyword("stall-after", _positive, default=300, metavar="seconds",
            help="an install with no event and no package fetch for this long is reported stalled"),
    keyword("distro", default="", help="directory served at /install/distro "
                                       "(default: <state>/distro)"),
    keyword("token-file", default="", help="admin API token file (default: <state>/api-token, "
                                           "created 0600; ROCKS_API_TOKEN overrides)"),
    keyword("release", default="el9", choices=releases(), help="target release"),
    keyword("trusted-proxies", _proxies, default="", metavar="ADDR[,CIDR…]",
            help="reverse proxies whose X-Forwarded-For names the client"),
    keyword("routed-nodes", bool, default=False,
            help="identify a node that is not at its own address by its install token and MAC "
                 "(routed/NAT sites; see the README for the risk)"),
    keyword("login", default="auto", choices=("auto", "yes"),
            help="pages need a token: auto = unless listening on loopback only, yes = always"),
    keyword("keep-alive-timeout", _seconds, default=5.0, metavar="seconds",
            help="close a connection idle this long after a response"),
    keyword("header-timeout", _seconds, default=10.0, metavar="seconds",
            help="close a connection whose request headers are not complete this soon"),
    keyword("max-connections", _natural, default=0, metavar="integer",
            help="open connections per server process (0: the descriptor limit less a reserve)"),
    keyword("name", default="", help="this frontend's name in the registry and on the events "
                                     "it stores (default: this machine's host name)"),
    keyword("url", default="", help="where nodes reach this frontend (default: http://host:port)"),
    keyword("mirror", bool, default=True,
            help="follow the head node's distribution: mirror it when `rocks create distro` "
                 "changes it (service frontends; the head node mirrors nothing from itself)"),
    examples=("rocks start frontend", "rocks start frontend host=10.1.1.1 port=80 workers=2",
              "rocks start frontend host=10.1.1.1 trusted-proxies=127.0.0.1",
              "rocks start frontend host=10.2.1.1 name=fe2   # a service frontend"),
)
def start_frontend(ctx: Context, args: dict[str, Any]) -> Result:
    """Serve kickstarts, install events, the distribution, the dashboard and the admin API.

    Runs in the foreground until interrupted. Creates and migrates the inventory if needed and
    seeds the graph's appliances into an empty one. Hosts set to install without an install
    token (set by other means than `rocks set host boot`) are issued one now. Run as root, it
    publishes the cluster SSH key (cluster_ssh_pubkey) so that the kickstarts it serves carry
    it and `rocks run host` reaches the nodes they install.
    """
    from rocks.commands._inventory import cluster_source, seed_if_empty
    from rocks.inventory import database_url, open_inventory
    from rocks.inventory.db import private_state
    from rocks.inventory.install import issue_missing_tokens
    from rocks.server.config import ServerConfig
    from rocks.server.run import serve

    url = database_url(database_url_from(ctx.env))
    source = cluster_source(ctx)
    state = str(source.state)
    private_state(source.state)  # 0700, its secrets 0600: also an older state
    source.init()
    with open_inventory(url) as inv, inv.transaction() as s:
        seed_if_empty(s, source)
        missing = issue_missing_tokens(s)
        _publish_cluster_key(ctx, s)
    if missing:
        ctx.stderr.write(f"issued install tokens to {len(missing)} host(s) set to install\n")
    from rocks.config import listen

    host, port = listen(ctx.env)
    config = ServerConfig(
        database_url=url, state_dir=state, host=args["host"] or host,
        port=port if args["port"] is None else args["port"],
        workers=args["workers"], max_inflight=args["max-inflight"],
        stall_after=float(args["stall-after"]), distro=args["distro"],
        token_file=args["token-file"], release=args["release"],
        sync_root=str(sync_root(ctx)), trusted_proxies=args["trusted-proxies"],
        routed_nodes=args["routed-nodes"], login=args["login"],
        keep_alive_timeout=args["keep-alive-timeout"], header_timeout=args["header-timeout"],
        max_connections=args["max-connections"], name=args["name"], url=args["url"],
        mirror=args["mirror"],
    )
    pages = "pages need a login" if config.login_required else "pages open (loopback only)"
    ctx.stderr.write(f"rocks frontend on http://{config.host}:{config.port}/ "
                     f"(admin API token: {config.token_path}"
                     f"{' or ROCKS_API_TOKEN' if ctx.env.get('ROCKS_API_TOKEN') else ''}; "
                     f"{pages})\n")
    if config.routed_nodes:
        ctx.stderr.write("routed-nodes=yes: a node's install token and MAC identify it from any "
                         "address\n")
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
    keyword("readonly", bool, default=False,
            help="a read-only token (pages and reading the API) instead of the admin token"),
    keyword("token-file", default="", help="where to write it (default: <state>/api-token, "
                                           "or <state>/readonly-token with readonly=yes)"),
    examples=("rocks create frontend token readonly=yes", "rocks create frontend token"),
)
def create_frontend_token(ctx: Context, args: dict[str, Any]) -> Result:
    """Make a new token for the frontend's dashboard and admin API, and print it.

    The file is replaced (mode 0600 in the 0700 state directory); a running frontend takes the
    new token within a second, and every session signed with the old one ends. Log in to the
    dashboard at /login with it, or send it as `Authorization: Bearer <token>`.
    """
    from rocks.commands._inventory import state_path
    from rocks.inventory.db import private_dir
    from rocks.server.config import write_token

    state = private_dir(state_path(ctx))
    default = "readonly-token" if args["readonly"] else "api-token"
    path = Path(args["token-file"]) if args["token-file"] else state / default
    token = write_token(path, replace_existing=True)
    ctx.stderr.write(f"{'read-only' if args['readonly'] else 'admin'} token written to {path}\n")
    return Text(token + "\n")


@command(
    positional("hosts", many=True, default=(), metavar="HOST",
               help="host names, appliances, rackN or globs (default: all)"),
    keyword("stall-after", _positive, default=300, metavar="seconds",
            help="an install with no event for this long is stalled"),
    tabular=True,
    examples=("rocks list host install", "rocks list host install compute stall-after=600"),
)
def list_host_install(ctx: Context, args: dict[str, Any]) -> Result:
    """Install progress: each host's stage, since when, and its last message.

    The stage is that of the host's newest install event; "waiting" when it is set to install
    and has sent nothing since, "stalled" when an install has been silent for stall-after.
    """
    from rocks.server.status import install_status, printable

    s = session(ctx)
    names = expand_hosts(s, args["hosts"]) if args["hosts"] else None
    now = datetime.now(UTC)
    rows = []
    for st in install_status(s, names, stall_after=float(args["stall-after"]), now=now):
        since = st.since.strftime("%Y-%m-%d %H:%M:%S") if st.since else None
        rows.append((st.host, st.stage or None, since, printable(st.message) or None))
    return Rows(("host", "stage", "since", "last-message"), rows)


@command(tabular=True, examples=("rocks list frontend",))
def list_frontend(ctx: Context, args: dict[str, Any]) -> Result:
    """The frontends serving this inventory (the head node and service frontends): where nodes
    reach each, whether it is up (seen within 15 s), stopped or down, when it was last seen and
    which distribution it serves (* when it is not the site's, `rocks create distro`'s)."""
    from rocks.inventory.frontends import current_distro, list_frontends

    s = session(ctx)
    site = current_distro(s)
    now = datetime.now(UTC)
    rows = []
    for f in list_frontends(s):
        distro = f.distro[:12] + ("*" if site is not None and f.distro != site.checksum else "")
        rows.append((f.name, f.url, f.state(now), f.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
                     distro or None))
    return Rows(("frontend", "url", "state", "last-seen", "distro"), rows)
