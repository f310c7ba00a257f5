"""The install lifecycle of a host: boot action install → one-time token → events → finished.

`begin_install` issues a fresh token (the kickstart URL carries it); the `finished` event ends the
install, sets the boot action back to os and clears the token, so a replayed request is refused.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rocks.inventory.lookup import host_row
from rocks.inventory.schema import HostRow

STAGES = ("fetched-kickstart", "pre", "packages", "post", "finished", "failed")


def begin_install(session: Session, host: str, *, now: datetime | None = None) -> str:
    """Set the host's boot action to install with a new one-time token; return the token."""
    row = host_row(session, host)
    row.boot = "install"
    row.install_token = secrets.token_urlsafe(24)
    row.install_started = now or datetime.now(UTC)
    session.flush()
    return row.install_token


def end_install(session: Session, host: str) -> None:
    """Boot the local disk from now on; the token is spent."""
    row = host_row(session, host)
    row.boot = "os"
    row.install_token = None
    session.flush()


def begin_install_many(session: Session, hosts: list[str]) -> dict[str, str]:
    now = datetime.now(UTC)
    return {h: begin_install(session, h, now=now) for h in hosts}


def tokens(session: Session, hosts: list[str] | None = None) -> dict[str, str]:
    """Current install tokens by host name (hosts not installing are absent)."""
    q = select(HostRow.name, HostRow.install_token).where(HostRow.install_token.is_not(None))
    if hosts is not None:
        q = q.where(HostRow.name.in_(hosts))
    return {n: t for n, t in session.execute(q).all() if t}


def clear_tokens(session: Session, hosts: list[str]) -> None:
    session.execute(update(HostRow).where(HostRow.name.in_(hosts)).values(install_token=None))


def issue_missing_tokens(session: Session) -> list[str]:
    """Hosts set to install without a token (set by other means than `rocks set host boot`)
    get one now; returns their names."""
    missing = list(session.scalars(select(HostRow.name).where(
        HostRow.boot == "install", HostRow.install_token.is_(None))))
    for name in missing:
        begin_install(session, name)
    return missing
