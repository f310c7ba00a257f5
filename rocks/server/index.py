"""The server's in-memory view of the inventory: who a request comes from, and what it may get.

A `Snapshot` maps IP → host, MAC → host, token → host, and holds each host's compile inputs, so
the request path runs no SQL. `Indexer` builds snapshots and tells when the inventory changed:
on SQLite `PRAGMA data_version` (free: it moves only when another connection commits) gates a
content fingerprint of the tables a kickstart depends on (hosts, interfaces, attributes,
appliances, rolls, networks); on PostgreSQL the fingerprint is taken every interval. Events
do not enter the fingerprint, so the install traffic itself causes no rebuilds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from rocks.errors import RocksError
from rocks.inventory import queries as q
from rocks.inventory.schema import (
    ApplianceRow,
    AttributeRow,
    HostRow,
    InterfaceRow,
    NetworkRow,
    RollRow,
)
from rocks.profiles import HostView, ProfileService, profile_service

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.inventory import Inventory

MASK = "********"
_FINGERPRINTED = (HostRow, InterfaceRow, AttributeRow, ApplianceRow, RollRow, NetworkRow)


@dataclass(frozen=True, slots=True)
class HostEntry:
    id: int
    name: str
    appliance: str
    boot: str
    token: str | None
    install_started: datetime | None
    ips: tuple[str, ...]
    macs: tuple[str, ...]
    view: HostView | None  # None when the host cannot be compiled (error says why)
    error: str
    inputs: str  # digest of everything its kickstart depends on

    @property
    def installing(self) -> bool:
        return self.boot == "install"

    def attrs(self) -> dict[str, str]:
        """The values its kickstart is compiled from, with its install token."""
        assert self.view is not None
        return {**self.view.attrs, "install_token": self.token or ""}

    def public_attrs(self) -> dict[str, str]:
        """Attributes safe to show: secrets masked, the install token left out."""
        if self.view is None:
            return {}
        return {k: (MASK if k in self.view.secret else v)
                for k, v in sorted(self.view.attrs.items()) if k != "install_token"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    hosts: dict[str, HostEntry] = field(default_factory=dict)
    by_ip: dict[str, HostEntry] = field(default_factory=dict)
    by_mac: dict[str, HostEntry] = field(default_factory=dict)
    by_token: dict[str, HostEntry] = field(default_factory=dict)
    appliances: dict[str, str] = field(default_factory=dict)  # name -> root node
    fingerprint: str = ""


def _inputs(root: str, attrs: dict[str, str]) -> str:
    return hashlib.sha256(repr((root, sorted(attrs.items()))).encode()).hexdigest()


class Indexer:
    """Builds snapshots from the inventory; owns the ProfileService (rebuilt when rolls change).

    Not thread-safe: the server calls it from its single compiler thread only.
    """

    def __init__(self, inventory: Inventory, release: str = "el9",
                 store: Path | None = None) -> None:
        self.inventory = inventory
        self.release = release
        self.store = store
        self.service: ProfileService | None = None
        self.provenance: ProfileService | None = None
        self._rolls_key: object = None
        self._raw: Any = None
        self._data_version: int | None = None

    def changed(self, known: str) -> str | None:
        """The new fingerprint if the inventory changed since `known`, else None."""
        if self.inventory.dialect == "sqlite":
            if self._raw is None:
                self._raw = self.inventory.engine.raw_connection()
            version = int(self._raw.execute("PRAGMA data_version").fetchone()[0])
            if version == self._data_version and known:
                return None
            self._data_version = version
        with self.inventory.transaction(readonly=True) as s:
            fp = fingerprint(s)
        return None if fp == known else fp

    def build(self) -> Snapshot:
        with self.inventory.transaction(readonly=True) as s:
            fp = fingerprint(s)
            svc = self._service(s)
            resolved = q.resolve_attrs_many(s)
            rows = s.execute(select(HostRow.id, HostRow.name, HostRow.boot, HostRow.install_token,
                                    HostRow.install_started)).all()
            ifaces = s.execute(select(InterfaceRow.host_id, InterfaceRow.ip,
                                      InterfaceRow.mac)).all()
            appliances = {a.name: a.node for a in q.list_appliances(s)}
        svc.roots = dict(appliances)
        ips: dict[int, list[str]] = {}
        macs: dict[int, list[str]] = {}
        for hid, ip, mac in ifaces:
            if ip:
                ips.setdefault(hid, []).append(ip)
            if mac:
                macs.setdefault(hid, []).append(mac.lower())
        snap = Snapshot(appliances=appliances, fingerprint=fp)
        for hid, name, boot, token, started in rows:
            res = resolved[name]
            view: HostView | None = None
            error = ""
            try:
                view = svc.view(res)
            except RocksError as exc:
                error = str(exc)
            attrs = {} if view is None else {**view.attrs, "install_token": token or ""}
            entry = HostEntry(hid, name, res.values.get("appliance", ""), boot, token, started,
                              tuple(ips.get(hid, ())), tuple(macs.get(hid, ())), view, error,
                              _inputs(view.root if view else "", attrs))
            snap.hosts[name] = entry
            for ip in entry.ips:
                snap.by_ip.setdefault(ip, entry)
            for mac in entry.macs:
                snap.by_mac[mac] = entry
            if token:
                snap.by_token[token] = entry
        return snap

    def _service(self, s: Session) -> ProfileService:
        rolls = tuple((r.name, r.version, r.enabled, r.trusted) for r in q.list_rolls(s))
        if self.service is None or rolls != self._rolls_key:
            self.service = profile_service(s, release=self.release, store=self.store)
            self.provenance = None
            self._rolls_key = rolls
        return self.service

    def provenance_service(self) -> ProfileService:
        """A second compiler over the same graph that annotates every line with its origin."""
        from rocks.compiler.service import Compiler

        assert self.service is not None
        if self.provenance is None:
            base = self.service
            compiler = Compiler(base.graph, release=base.compiler.release,
                                eval_mode=base.compiler.eval_mode, provenance=True)
            self.provenance = ProfileService(base.graph, compiler, base.roots)
        self.provenance.roots = self.service.roots
        return self.provenance

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def fingerprint(s: Session) -> str:
    """A digest of every row a kickstart or an identity depends on."""
    h = hashlib.sha256()
    for table in _FINGERPRINTED:
        t: Any = table.__table__
        for row in s.execute(select(*t.columns).order_by(*t.primary_key.columns)):
            h.update(repr(tuple(row)).encode())
        h.update(b"|")
    return h.hexdigest()
