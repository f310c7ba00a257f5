"""The inventory's tables as typed SQLAlchemy ORM classes (the one source of the schema).

Constraints live here, in the database, not only in code: unique names, MACs and per-network
addresses, foreign keys with cascades, and CHECKs on closed sets. Alembic migrations must produce
exactly this metadata (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rocks.model.inventory import BMC_PROTOCOLS

# Stable constraint names, so migrations can refer to them and errors can be recognised.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SCOPES = ("global", "os", "appliance", "rack", "host")
BOOT_STATES = ("install", "os")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the inventory stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Which target column a scope sets (the others are NULL; global rows carry os = '').
ATTRIBUTE_TARGET = (
    "(scope = 'global' AND os = '' AND appliance_id IS NULL AND host_id IS NULL"
    " AND rack IS NULL)"
    " OR (scope = 'os' AND os <> '' AND appliance_id IS NULL AND host_id IS NULL"
    " AND rack IS NULL)"
    " OR (scope = 'appliance' AND os IS NULL AND appliance_id IS NOT NULL AND host_id IS NULL"
    " AND rack IS NULL)"
    " OR (scope = 'rack' AND os IS NULL AND appliance_id IS NULL AND host_id IS NULL"
    " AND rack IS NOT NULL)"
    " OR (scope = 'host' AND os IS NULL AND appliance_id IS NULL AND host_id IS NOT NULL"
    " AND rack IS NULL)"
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ApplianceRow(Base):
    __tablename__ = "appliances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    node: Mapped[str] = mapped_column(String(128))
    kickstartable: Mapped[bool] = mapped_column(Boolean, default=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    graph: Mapped[str] = mapped_column(String(64), default="default")


class NetworkRow(Base):
    __tablename__ = "networks"
    __table_args__ = (CheckConstraint("mtu > 0", name="mtu_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    subnet: Mapped[str] = mapped_column(String(45))
    netmask: Mapped[str] = mapped_column(String(45))
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    zone: Mapped[str] = mapped_column(String(255), default="")
    servedns: Mapped[bool] = mapped_column(Boolean, default=False)
    pxe: Mapped[bool] = mapped_column(Boolean, default=False)
    gateway: Mapped[str] = mapped_column(String(45), default="")


class HostRow(Base):
    __tablename__ = "hosts"
    __table_args__ = (
        CheckConstraint(_in("boot", BOOT_STATES), name="boot_state"),
        Index("uq_hosts_install_token", "install_token", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    appliance_id: Mapped[int] = mapped_column(
        ForeignKey("appliances.id", ondelete="RESTRICT"), index=True
    )
    rack: Mapped[int] = mapped_column(Integer, default=0)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    os: Mapped[str] = mapped_column(String(32), default="linux")
    install_action: Mapped[str] = mapped_column(String(64), default="install")
    run_action: Mapped[str] = mapped_column(String(64), default="os")
    boot: Mapped[str] = mapped_column(String(16), default="os")
    comment: Mapped[str] = mapped_column(Text, default="")
    # One-time token of the current install (None when not installing); see inventory/install.py
    install_token: Mapped[str | None] = mapped_column(String(64))
    install_started: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InterfaceRow(Base):
    __tablename__ = "interfaces"
    __table_args__ = (
        UniqueConstraint("host_id", "device"),
        # NULL addresses are distinct from each other, so only real addresses must be unique.
        UniqueConstraint("network_id", "ip"),
        CheckConstraint(f"bmc IS NULL OR {_in('bmc', BMC_PROTOCOLS)}", name="bmc_protocol"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(32))
    mac: Mapped[str | None] = mapped_column(String(17), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    network_id: Mapped[int | None] = mapped_column(
        ForeignKey("networks.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), default="")
    module: Mapped[str] = mapped_column(String(64), default="")
    vlan: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[str] = mapped_column(Text, default="")
    default_gateway: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set on the interface that is the host's BMC: its protocol (see BMC_PROTOCOLS).
    bmc: Mapped[str | None] = mapped_column(String(16))


class AttributeRow(Base):
    """One attribute. Its target is `os` (an os name, or '' for global scope), `appliance_id`,
    `rack` (a rack number) or `host_id`; CHECK `target` ties the set column to the scope."""

    __tablename__ = "attributes"
    __table_args__ = (
        CheckConstraint(_in("scope", SCOPES), name="scope"),
        CheckConstraint(ATTRIBUTE_TARGET, name="target"),
        # One value per (scope, target, name). Unused target columns are NULL, and NULLs are
        # distinct in unique indexes, so each scope's index only ever sees its own rows. Global
        # rows carry os = '' (never a real os name) so that (os, name) covers them too without a
        # partial index, whose dialect options would cost every CLI call a PostgreSQL import.
        Index("uq_attributes_os", "os", "name", unique=True),
        Index("uq_attributes_appliance", "appliance_id", "name", unique=True),
        Index("uq_attributes_host", "host_id", "name", unique=True),
        Index("uq_attributes_rack", "rack", "name", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str] = mapped_column(String(16))
    os: Mapped[str | None] = mapped_column(String(32))
    appliance_id: Mapped[int | None] = mapped_column(
        ForeignKey("appliances.id", ondelete="CASCADE")
    )
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    rack: Mapped[int | None] = mapped_column(Integer)


class BootActionRow(Base):
    __tablename__ = "boot_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kernel: Mapped[str] = mapped_column(String(255))
    initrd: Mapped[str] = mapped_column(String(255), default="")
    args: Mapped[str] = mapped_column(Text, default="")


class RollRow(Base):
    __tablename__ = "rolls"
    __table_args__ = (UniqueConstraint("name", "version", "arch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    arch: Mapped[str] = mapped_column(String(16))
    os: Mapped[str] = mapped_column(String(32), default="linux")
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)


class InstallEventRow(Base):
    __tablename__ = "install_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    stage: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(45), default="")
    frontend: Mapped[str | None] = mapped_column(String(64))  # the frontend that stored it


class HostProfileRow(Base):
    __tablename__ = "host_profiles"

    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    hash: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    time: Mapped[datetime] = mapped_column(UTCDateTime())


class HostStatusRow(Base):
    """What was last learnt about a running host (by a probe or `rocks run host`), and since
    when it has been in that state; see rocks/remote/status.py."""

    __tablename__ = "host_status"

    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    checked: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))
    last_run: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HostVersionRow(Base):
    """A random number that changes whenever anything sync writes for a host may have changed
    (its row, its interfaces, its attributes): set by triggers (migration 0006), never by rocks
    itself, so every writer — any command, the frontend, another frontend on the same database,
    plain SQL — is seen. `rocks sync` compares them with those it last planned from
    (rocks/sync/incremental.py) and replans only the hosts whose number moved."""

    __tablename__ = "host_versions"

    host_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class FrontendRow(Base):
    """A frontend server sharing this inventory (`rocks start frontend`): the head node and
    every service frontend register here and keep `last_seen` fresh while they serve, so any
    of them can show the whole site (rocks/server/registry.py)."""

    __tablename__ = "frontends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(255), default="")  # where nodes reach it
    started: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)  # left cleanly
    distro: Mapped[str] = mapped_column(String(64), default="")  # repomd.xml sha256 it serves


class DistroRow(Base):
    """The distribution the site installs from, as `rocks create distro` last built it: the
    sha256 of its repomd.xml and where it is served. Service frontends mirror it from there
    when the checksum moves (rocks/packages/mirror.py)."""

    __tablename__ = "distros"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    checksum: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(255))
    updated: Mapped[datetime] = mapped_column(UTCDateTime())


class DhcpPendingRow(Base):
    """Hosts whose DHCP reservations must be rewritten before the transaction that changed
    them commits (PostgreSQL triggers fill it; rocks/inventory/dhcpdb.py empties it). A NULL
    host_id: every host (a network, or a `frontend` attribute above host scope, changed)."""

    __tablename__ = "dhcp_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int | None] = mapped_column(Integer)
