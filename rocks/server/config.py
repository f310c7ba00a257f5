"""What one frontend server needs to know: where the inventory is, what it serves, its limits,
whom it trusts, and the tokens that open its pages."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rocks.errors import RocksError
from rocks.inventory.db import private_dir, private_file

CONFIG_ENV = "ROCKS_SERVER_CONFIG"  # how uvicorn's worker processes receive the config
TOKEN_ENV = "ROCKS_API_TOKEN"
READONLY_TOKEN_ENV = "ROCKS_READONLY_TOKEN"
LOGIN_MODES = ("auto", "yes")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    database_url: str  # a SQLAlchemy URL (rocks.inventory.database_url resolves it)
    state_dir: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_inflight: int = 256  # kickstart requests being produced at once; beyond: 503
    stall_after: float = 300.0  # seconds without an event or package fetch: stalled
    distro: str = ""  # served read-only at /install/distro (default <state>/distro)
    token_file: str = ""  # admin API bearer token (default <state>/api-token)
    readonly_token_file: str = ""  # dashboard/read-only token (default <state>/readonly-token)
    release: str = "el9"
    refresh_interval: float = 1.0  # seconds between inventory change checks
    retry_after: int = 2  # Retry-After of a 503 (Rocks said 15; serving is cheap here)
    max_event_body: int = 16 * 1024
    # where `rocks sync` writes (the TFTP tree lives under it); "" = <state>/root, so a server
    # started by a test never touches this machine's /tftpboot. `rocks start frontend` passes "/"
    # unless ROCKS_SYNC_ROOT or ROCKS_STATE says otherwise.
    sync_root: str = ""
    # Reverse proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDRs.
    # Empty (the default): the TCP peer is the client, whatever a header says.
    trusted_proxies: str = ""
    # Routed/NAT sites: a node whose request does not come from its own address is identified
    # by its install token and a confirming MAC header instead. Off by default (see README).
    routed_nodes: bool = False
    # "auto": the dashboard needs a login unless the server listens on loopback only and
    # trusts no proxy; "yes": always.
    login: str = "auto"
    # Connections: idle keep-alive and header timeouts (seconds), and the most connections one
    # server process keeps open (0: its descriptor limit less a reserve).
    keep_alive_timeout: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 0
    # Several frontends on one database: this one's name in the registry and on the events it
    # stores ("": this machine's host name), and the URL nodes reach it at ("": host and port)
    name: str = ""
    url: str = ""
    # mirror the site's distribution when `rocks create distro` moves it (packages/mirror.py)
    mirror: bool = True

    @property
    def distro_dir(self) -> Path:
        return Path(self.distro) if self.distro else Path(self.state_dir) / "distro"

    @property
    def sync_root_dir(self) -> Path:
        return Path(self.sync_root) if self.sync_root else Path(self.state_dir) / "root"

    @property
    def token_path(self) -> Path:
        return Path(self.token_file) if self.token_file else Path(self.state_dir) / "api-token"

    @property
    def readonly_token_path(self) -> Path:
        if self.readonly_token_file:
            return Path(self.readonly_token_file)
        return Path(self.state_dir) / "readonly-token"

    @property
    def proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return parse_proxies(self.trusted_proxies)

    @property
    def login_required(self) -> bool:
        return self.login == "yes" or bool(self.trusted_proxies.strip()) or not is_loopback(
            self.host)

    def to_env(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls, text: str) -> ServerConfig:
        return cls(**json.loads(text))

    def with_(self, **changes: object) -> ServerConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    """True when listening on `host` reaches this machine only."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def parse_proxies(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`10.1.1.5,127.0.0.1,192.168.0.0/24` → networks; a bad entry is a RocksError."""
    nets = []
    for word in text.replace(" ", ",").split(","):
        if not word:
            continue
        try:
            nets.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            raise RocksError.of("bad-trusted-proxies",
                                f"trusted-proxies: {word!r} is not an address or CIDR",
                                hint="e.g. trusted-proxies=127.0.0.1,10.1.1.5") from None
    return tuple(nets)


def read_token(path: Path, env: str = "") -> str | None:
    """The token in `env` (if set) or in `path` (tightened to 0600), None if there is none."""
    explicit = os.environ.get(env, "").strip() if env else ""
    if explicit:
        return explicit
    try:
        private_file(path)
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RocksError.of("api-token", f"cannot read the token file {path}: {exc}") from exc
    return text or None


def write_token(path: Path, *, replace_existing: bool = False) -> str:
    """A new random token written to `path` with mode 0600; returns it.

    Without `replace_existing`, an existing file wins (two workers starting at once must not
    both write: the loser reads the winner's).
    """
    token = secrets.token_urlsafe(32)
    private_dir(path.parent)
    if replace_existing:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return token
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def api_token(config: ServerConfig) -> str:
    """`ROCKS_API_TOKEN`, else the token file (created with mode 0600 on first use)."""
    return read_token(config.token_path, TOKEN_ENV) or write_token(config.token_path)


def readonly_token(config: ServerConfig) -> str | None:
    """`ROCKS_READONLY_TOKEN`, else the read-only token file; None when none was created."""
    return read_token(config.readonly_token_path, READONLY_TOKEN_ENV)
