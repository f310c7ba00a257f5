"""The install lifecycle of a host: boot action install → one-time token → events → finished.

`begin_install` issues a fresh token (the kickstart URL carries it); the `finished` event ends the
install, sets the boot action back to os and clears the token, so a replayed request is refused.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from rocks.inventory.lookup import host_row
from rocks.inventory.schema import HostRow
from rocks.model.inventory import STATELESS

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


def spend_token(session: Session, host_id: int, token: str) -> bool:
    """End the install `token` opened, atomically: True if this call spent it.

    One UPDATE guarded by the token and the boot state, so two frontends (or two workers) that
    receive the same `finished` cannot both accept it: the database decides, not a process.
    """
    result = session.execute(
        update(HostRow)
        .where(HostRow.id == host_id, HostRow.install_token == token, HostRow.boot == "install")
        .values(boot="os", install_token=None)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


# The same rule as current_tokens, for readers with a plain DB-API connection (the frontend's
# token ledger on SQLite): hosts whose token opens something now.
TOKEN_HOLDERS_SQL = ("install_token IS NOT NULL AND (boot = 'install' OR "
                     f"(boot = 'os' AND run_action = '{STATELESS}'))")


def current_tokens(session: Session, host_ids: list[int]) -> dict[int, str]:
    """The token of each of these hosts that is installing, or stateless (the token its image
    fetches its state with); others are absent."""
    t = HostRow.__table__.c  # Core on the session's connection: the frontend asks per moment
    rows = session.connection().execute(select(t.id, t.install_token).where(
        t.id.in_(host_ids),
        or_(t.boot == "install", and_(t.boot == "os", t.run_action == STATELESS)),
        t.install_token.is_not(None)))
    return {i: tok for i, tok in rows if tok}


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
