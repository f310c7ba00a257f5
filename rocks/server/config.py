"""What one frontend server needs to know: where the inventory is, what it serves, its limits."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rocks.errors import RocksError

CONFIG_ENV = "ROCKS_SERVER_CONFIG"  # how uvicorn's worker processes receive the config
TOKEN_ENV = "ROCKS_API_TOKEN"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    database_url: str  # a SQLAlchemy URL (rocks.inventory.database_url resolves it)
    state_dir: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_inflight: int = 256  # kickstart requests being produced at once; beyond: 503
    stall_after: float = 1800.0  # seconds without an event before an install is stalled
    distro: str = ""  # served read-only at /install/distro (default <state>/distro)
    token_file: str = ""  # admin API bearer token (default <state>/api-token)
    release: str = "el9"
    refresh_interval: float = 1.0  # seconds between inventory change checks
    retry_after: int = 2  # Retry-After of a 503 (Rocks said 15; serving is cheap here)
    max_event_body: int = 16 * 1024
    # where `rocks sync` writes (the TFTP tree lives under it); "" = <state>/root, so a server
    # started by a test never touches this machine's /tftpboot. `rocks start frontend` passes "/"
    # unless ROCKS_SYNC_ROOT or ROCKS_STATE says otherwise.
    sync_root: str = ""

    @property
    def distro_dir(self) -> Path:
        return Path(self.distro) if self.distro else Path(self.state_dir) / "distro"

    @property
    def sync_root_dir(self) -> Path:
        return Path(self.sync_root) if self.sync_root else Path(self.state_dir) / "root"

    @property
    def token_path(self) -> Path:
        return Path(self.token_file) if self.token_file else Path(self.state_dir) / "api-token"

    def to_env(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls, text: str) -> ServerConfig:
        return cls(**json.loads(text))

    def with_(self, **changes: object) -> ServerConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


def api_token(config: ServerConfig) -> str:
    """`ROCKS_API_TOKEN`, else the token file (created with mode 0600 on first use)."""
    explicit = os.environ.get(TOKEN_ENV, "").strip()
    if explicit:
        return explicit
    path = config.token_path
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RocksError.of("api-token", f"cannot read the API token file {path}: {exc}") from exc
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two workers starting at once must not both write; the loser reads the winner's.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token
