"""rocks' settings, read in this one place: `/etc/rocks/rocks.toml` (or the file ROCKS_CONFIG
names; ROCKS_CONFIG="" reads none), with the environment overriding it.

    # /etc/rocks/rocks.toml — every key optional
    state = "/var/lib/rocks"                  # ROCKS_STATE
    database_url = "postgresql://rocks@db/rocks"   # ROCKS_DATABASE_URL
    listen = "10.1.1.1:8080"                  # ROCKS_LISTEN (rocks start frontend)
    sync_root = "/"                           # ROCKS_SYNC_ROOT

Each key is the file's spelling of an environment variable, and the rest of rocks reads only
the environment (`Context.env`): `environment()` fills in, from the file, the variables the
environment leaves unset or empty. As with ROCKS_STATE, a `state` without `sync_root` makes sync
write under <state>/root, so a frontend's file says `sync_root = "/"`. A ROCKS_STATE set in the
environment names another site (a trial): the file's database_url and sync_root are then not
used, so a trial on a frontend never writes the frontend's database or its /etc.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from rocks.errors import Diagnostic, RocksError, SourceLocation

CONFIG_ENV = "ROCKS_CONFIG"
DEFAULT_PATH = Path("/etc/rocks/rocks.toml")
KEYS = {
    "state": "ROCKS_STATE",
    "database_url": "ROCKS_DATABASE_URL",
    "listen": "ROCKS_LISTEN",
    "sync_root": "ROCKS_SYNC_ROOT",
}
DEFAULT_LISTEN = ("127.0.0.1", 8080)


def config_path(env: Mapping[str, str]) -> Path | None:
    """The file to read: ROCKS_CONFIG if set ("" for none), else /etc/rocks/rocks.toml."""
    if CONFIG_ENV in env:
        return Path(env[CONFIG_ENV]) if env[CONFIG_ENV] else None
    return DEFAULT_PATH


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.split("=", 1)[0].strip().strip('"') == key:
            return number
    return 0


def read(path: Path, *, required: bool) -> dict[str, str]:
    """The file's settings by key (validated); {} when it does not exist and is not required."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        if required:
            raise RocksError.of("config-missing", "no such configuration file",
                                SourceLocation(str(path)),
                                hint=f"create it, or unset {CONFIG_ENV}") from None
        return {}
    except OSError as exc:
        raise RocksError.of("config-unreadable", f"{path}: {exc.strerror or exc}",
                            SourceLocation(str(path))) from exc
    import tomllib  # (only when there is a file: most commands run without one)

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+)", str(exc))
        line = int(found.group(1)) if found else 0
        raise RocksError.of("config-invalid", f"not valid TOML: {exc}",
                            SourceLocation(str(path), line),
                            hint='write key = "value" lines, e.g. state = "/var/lib/rocks"'
                            ) from exc
    values: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for key, value in doc.items():
        where = SourceLocation(str(path), _line_of(text, key))
        if key not in KEYS:
            problems.append(Diagnostic("config-unknown-key", f"unknown setting {key!r}", where,
                                       "settings: " + ", ".join(sorted(KEYS))))
        elif not isinstance(value, str) or not value:
            problems.append(Diagnostic("config-invalid", f"{key} must be a non-empty string",
                                       where, f'{key} = "..."'))
        elif key in ("state", "sync_root") and not value.startswith("/"):
            problems.append(Diagnostic("config-invalid",
                                       f"{key} must be an absolute path, not {value!r}", where))
        elif key == "listen":
            try:
                parse_listen(value)
            except ValueError as exc:
                problems.append(Diagnostic("config-invalid", f"listen: {exc}", where,
                                           'listen = "10.1.1.1:8080"'))
            else:
                values[key] = value
        else:
            values[key] = value
    if problems:
        raise RocksError(*problems)
    return values


def environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the configuration file's settings filled in where `env` leaves them unset or
    empty (the environment wins). Raises RocksError for a bad file, naming it and the line."""
    path = config_path(env)
    out = dict(env)
    if path is None:
        return out
    # A state directory chosen in the environment is another site (a trial, a test): the
    # file's database and sync root belong to the file's state, never to it.
    other_site = bool(env.get(KEYS["state"]))
    for key, value in read(path, required=CONFIG_ENV in env).items():
        name = KEYS[key]
        if other_site and key in ("database_url", "sync_root"):
            continue
        if not out.get(name):
            out[name] = value
    return out


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, `host` (port 8080) or `:port` (127.0.0.1) → (host, port)."""
    text = text.strip()
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r} is not host:port")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if not port:
        number = DEFAULT_LISTEN[1]
    elif port.isdigit() and 0 < int(port) < 65536:
        number = int(port)
    else:
        raise ValueError(f"{text!r}: port {port!r} is not 1-65535")
    return host or DEFAULT_LISTEN[0], number


def listen(env: Mapping[str, str]) -> tuple[str, int]:
    """Where `rocks start frontend` listens unless host=/port= say: ROCKS_LISTEN, else
    127.0.0.1:8080."""
    value = env.get(KEYS["listen"], "")
    if not value:
        return DEFAULT_LISTEN
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise RocksError.of("bad-listen", f"ROCKS_LISTEN: {exc}",
                            hint="ROCKS_LISTEN=10.1.1.1:8080") from None
