"""The server's in-memory view of the inventory: who a request comes from, and what it may get.

A `Snapshot` maps IP → host, MAC → host, token → host, and holds each host's compile inputs, so
the request path runs no SQL. `Indexer` builds snapshots and tells when the inventory changed:
on SQLite `PRAGMA data_version` (free: it moves only when another connection commits) gates a
content fingerprint of the tables a kickstart depends on (hosts, interfaces, attributes,
appliances, rolls, networks); on PostgreSQL a notification does (triggers on those tables,
server/notify.py), so nothing is read while nothing changes. Events
do not enter the fingerprint, so the install traffic itself causes no rebuilds.

The graph comes from rocks.profiles.cluster_graph, the one place that builds it; the digest of
its inputs (every graph file of the bundled rolls, the store's enabled rolls and the site graph,
and the enabled set) is part of the fingerprint, so an edit of <state>/site is served within a
refresh, without a restart. An appliance whose new compile fails keeps being served from the
last graph it compiled with (`last_good`), and the failure is kept in `problems`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
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
    BootActionRow,
    HostRow,
    InterfaceRow,
    NetworkRow,
    RollRow,
)
from rocks.profiles import (
    ClusterSource,
    GraphInputs,
    GraphOptions,
    HostView,
    ProfileService,
    compiler_for,
    graph_inputs,
    profile_service,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.compiler.graph import ConfigGraph
    from rocks.inventory import Inventory
    from rocks.model.inventory import Host
    from rocks.sync.inputs import SyncInput

log = logging.getLogger("rocks.server")
MASK = "********"
_FINGERPRINTED = (HostRow, InterfaceRow, AttributeRow, ApplianceRow, RollRow, NetworkRow,
                  BootActionRow)


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
    rack: int = 0
    rank: int = 0

    @property
    def installing(self) -> bool:
        return self.boot == "install"

    def attrs(self) -> dict[str, str]:
        """The values its kickstart is compiled from, with its install token."""
        assert self.view is not None
        return {**self.view.attrs, "install_token": self.token or ""}

    def redact(self, text: str) -> str:
        """`text` with the host's secret values and install token masked, whole and word by
        word (an error message may quote part of a value)."""
        if self.view is None and not self.token:
            return text
        values = {self.token or ""}
        if self.view is not None:
            for name in self.view.secret:
                value = self.view.attrs.get(name, "")
                values.add(value)
                values.update(value.split())
        for value in sorted((v for v in values if len(v) >= 4), key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

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
    # what /boot/ipxe renders from: the sync input and its hosts by name (None: not built)
    boot: SyncInput | None = None
    boot_hosts: dict[str, Host] = field(default_factory=dict)
    ipxe: dict[str, str] = field(default_factory=dict)  # rendered scripts, filled on demand


def _inputs(root: str, attrs: dict[str, str], graph: str) -> str:
    return hashlib.sha256(repr((root, sorted(attrs.items()), graph)).encode()).hexdigest()


class Indexer:
    """Builds snapshots from the inventory; owns the ProfileService (rebuilt when rolls change).

    Not thread-safe: the server calls it from its single compiler thread only.
    """

    def __init__(self, inventory: Inventory, release: str = "el9",
                 state: Path | None = None) -> None:
        self.inventory = inventory
        self.release = release
        self.source = ClusterSource(state) if state is not None else None
        self.service: ProfileService | None = None
        self.provenance: ProfileService | None = None
        # appliance -> the service whose graph last compiled it, and why the current one fails
        self.last_good: dict[str, ProfileService] = {}
        self.problems: dict[str, str] = {}
        self._graph_digest = ""
        self._inputs: GraphInputs | None = None
        self._db_fp = ""
        self._raw: Any = None
        self._data_version: int | None = None

    def changed(self, known: str, notified: bool = True) -> str | None:
        """The new fingerprint if the inventory or the graph's inputs changed since `known`.
        `notified`: PostgreSQL told of a change to the inventory's tables (rocks_inventory,
        server/notify.py); when it did not, the tables are not read."""
        db_fp = self._db_fp
        moved = True
        if self.inventory.dialect == "postgresql":
            moved = notified or not known or self._inputs is None
        elif self.inventory.dialect == "sqlite":
            if self._raw is None:
                self._raw = self.inventory.engine.raw_connection()
            version = int(self._raw.execute("PRAGMA data_version").fetchone()[0])
            moved = version != self._data_version or not known or self._inputs is None
            self._data_version = version
        if moved:
            with self.inventory.transaction(readonly=True) as s:
                db_fp = fingerprint(s)
                self._inputs = graph_inputs(s, self.source, GraphOptions(self.release))
        assert self._inputs is not None
        fp = f"{db_fp}:{self._inputs.digest()}"
        return None if fp == known else fp

    def build(self) -> Snapshot:
        with self.inventory.transaction(readonly=True) as s:
            db_fp = fingerprint(s)
            self._db_fp = db_fp
            self._inputs = graph_inputs(s, self.source, GraphOptions(self.release))
            digest = self._inputs.digest()
            fp = f"{db_fp}:{digest}"
            svc = self._service(s, digest)
            resolved = q.resolve_attrs_many(s)
            rows = s.execute(select(HostRow.id, HostRow.name, HostRow.boot, HostRow.install_token,
                                    HostRow.install_started, HostRow.install_action,
                                    HostRow.run_action, HostRow.rack, HostRow.rank)).all()
            ifaces = s.execute(select(InterfaceRow.host_id, InterfaceRow.ip, InterfaceRow.mac,
                                      InterfaceRow.network_id)
                               .where(InterfaceRow.bmc.is_(None))).all()  # a BMC is not the node
            nets = {i: _network(sub, mask) for i, sub, mask in s.execute(
                select(NetworkRow.id, NetworkRow.subnet, NetworkRow.netmask))}
            appliances = {a.name: a.node for a in q.list_appliances(s)}
            boot_input = _boot_input(s, rows, self.source, svc.graph)
        svc.roots = dict(appliances)
        ips: dict[int, list[str]] = {}
        macs: dict[int, list[str]] = {}
        served: dict[int, list[str]] = {}
        for hid, ip, mac, net in ifaces:
            if ip:
                ips.setdefault(hid, []).append(ip)
                if net is not None and _served(ip, nets.get(net)):
                    served.setdefault(hid, []).append(ip)
            if mac:
                macs.setdefault(hid, []).append(mac.lower())
        snap = Snapshot(appliances=appliances, fingerprint=fp, boot=boot_input,
                        boot_hosts={h.name: h for h in boot_input.hosts} if boot_input else {})
        shared: set[str] = set()
        for hid, name, boot, token, started, _, _, rack, rank in rows:
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
                              _inputs(view.root if view else "", attrs, svc.graph.digest),
                              rack=rack, rank=rank)
            snap.hosts[name] = entry
            for ip in served.get(hid, ()):
                if snap.by_ip.setdefault(ip, entry) is not entry:
                    shared.add(ip)
            for mac in entry.macs:
                snap.by_mac[mac] = entry
            if token:
                snap.by_token[token] = entry
        for ip in shared:  # an address two hosts claim identifies neither
            log.warning("address %s belongs to more than one host; it identifies none", ip)
            del snap.by_ip[ip]
        return snap

    def _service(self, s: Session, digest: str) -> ProfileService:
        """The cluster's ProfileService, rebuilt when the graph's inputs moved. A graph that
        cannot be used at all (an order cycle, a roll given twice) keeps the previous one."""
        if self.service is not None and digest == self._graph_digest:
            return self.service
        try:
            svc = profile_service(s, self.source, GraphOptions(self.release))
        except RocksError as exc:
            if self.service is None:
                raise
            self._graph_digest = digest
            self.problems["*"] = str(exc)
            log.error("graph error=%r: still serving the previous graph", str(exc))
            return self.service
        self.service, self.provenance, self._graph_digest = svc, None, digest
        self.problems = {}
        self._check_appliances(s, svc)
        return svc

    def _check_appliances(self, s: Session, svc: ProfileService) -> None:
        """Compile each kickstartable appliance with the new graph: record failures, and the
        service each one last compiled with (served from while the new graph fails it)."""
        for app in q.list_appliances(s):
            if not app.kickstartable or app.name not in svc.roots:
                continue
            try:
                svc.compiler.compile(svc.roots[app.name], svc.preview(app.name, s))
            except RocksError as exc:
                self.problems[app.name] = str(exc)
                kept = "; serving its last validated profile" if app.name in self.last_good \
                    else ""
                log.error("appliance %s: compile failed%s error=%r", app.name, kept,
                          str(exc).splitlines()[0])
                continue
            self.last_good[app.name] = svc

    def render(self, entry: HostEntry) -> str:
        """The host's kickstart; when the current graph fails its appliance, from the graph
        that last compiled it (the failure stays in `problems`)."""
        assert self.service is not None and entry.view is not None
        attrs = entry.attrs()
        secret = entry.view.secret
        try:
            return self.service.compiler.render(entry.view.root, attrs, host=entry.name,
                                                secret=secret)
        except RocksError as exc:
            good = self.last_good.get(entry.appliance)
            if good is None or good is self.service:
                raise
            self.problems.setdefault(entry.appliance, str(exc))
            return good.compiler.render(entry.view.root, attrs, host=entry.name, secret=secret)

    def provenance_service(self) -> ProfileService:
        """A second compiler over the same graph that annotates every line with its origin."""
        assert self.service is not None
        base = self.service
        if self.provenance is None and base.cluster is not None:
            self.provenance = ProfileService(base.graph,
                                             compiler_for(base.cluster, provenance=True),
                                             base.roots, base.cluster)
        assert self.provenance is not None
        self.provenance.roots = self.service.roots
        return self.provenance

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def _network(subnet: str, netmask: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(f"{subnet}/{netmask}", strict=False)
    except ValueError:
        return None


def _served(ip: str, net: ipaddress.IPv4Network | None) -> bool:
    """An interface address identifies its host only inside its network's subnet."""
    if net is None:
        return False
    try:
        return ipaddress.IPv4Address(ip) in net
    except ValueError:
        return False


def _boot_input(s: Session, rows: Any, source: ClusterSource | None,
                graph: ConfigGraph) -> SyncInput | None:
    """What iPXE scripts are rendered from: the sync input, with hosts reduced to what a boot
    script reads (name, boot state, actions)."""
    from rocks.model.inventory import BootState, Host
    from rocks.siteconfig import global_settings, sync_input

    hosts = tuple(Host(name, "", install_action=install, run_action=run, boot=BootState(boot))
                  for _, name, boot, _, _, install, run, _, _ in rows)
    try:
        return sync_input(s, source, global_settings(s, source, graph), hosts=hosts)
    except (RocksError, ValueError) as exc:  # a bad setting: /boot/ipxe says so, kickstarts go on
        log.error("cannot build the network-boot input: %s", exc)
        return None


def fingerprint(s: Session) -> str:
    """A digest of every row a kickstart or an identity depends on."""
    h = hashlib.sha256()
    for table in _FINGERPRINTED:
        t: Any = table.__table__
        for row in s.execute(select(*t.columns).order_by(*t.primary_key.columns)):
            h.update(repr(tuple(row)).encode())
        h.update(b"|")
    return h.hexdigest()
