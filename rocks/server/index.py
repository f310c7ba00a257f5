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
import itertools
import logging
import time
from dataclasses import dataclass, field
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
    ProfileService,
    compiler_for,
    graph_inputs,
    profile_service,
)
from rocks.server.cache import ByteLru
from rocks.server.hosttable import (
    HOST_MARK,
    Extra,
    HostEntry,
    HostTable,
    Layer,
    TableBuilder,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.compiler.graph import ConfigGraph
    from rocks.inventory import Inventory
    from rocks.sync.inputs import SyncInput

log = logging.getLogger("rocks.server")
IPXE_CACHE_BYTES = 2 << 20  # rendered iPXE scripts kept per snapshot (a few hundred bytes each)
_FINGERPRINTED = (HostRow, InterfaceRow, AttributeRow, ApplianceRow, RollRow, NetworkRow,
                  BootActionRow)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The inventory as the request path reads it: hosts (hosttable.py: columns, a HostEntry
    made per lookup) by name, address, MAC and token; appliances; the network-boot input."""

    hosts: HostTable = field(default_factory=HostTable)
    appliances: dict[str, str] = field(default_factory=dict)  # name -> root node
    fingerprint: str = ""
    # what /boot/ipxe renders from: the sync input without hosts or tokens (None: not built)
    boot: SyncInput | None = None
    # rendered iPXE scripts, filled on demand and bounded (boot.py)
    ipxe: ByteLru[str, str] = field(default_factory=lambda: ByteLru(IPXE_CACHE_BYTES, len))

    @property
    def generation(self) -> int:
        return self.hosts.generation

    @property
    def by_ip(self) -> Any:
        return self.hosts.by_ip

    @property
    def by_mac(self) -> Any:
        return self.hosts.by_mac

    @property
    def by_token(self) -> Any:
        return self.hosts.by_token


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
        self._read_took = 0.0  # the last full read of the inventory's tables (fingerprint)
        self._read_end = float("-inf")
        self.generation = 0  # of the snapshots built (a rendered kickstart names its own)

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
            # data_version moves at every commit of another connection, the event writer's
            # too: while nodes install, every check would read every table again (at 100,000
            # hosts a second or more of the GIL, every second, and the request path starved).
            # The tables are read again once nine times the last read has passed: the
            # refresher's share of the CPU stays at a tenth, and a change shows within a
            # second up to ~10,000 hosts, within ten or so at 100,000.
            if moved and known and self._inputs is not None \
                    and time.monotonic() < self._read_end + 9 * self._read_took:
                return None
            self._data_version = version
        if moved:
            t0 = time.monotonic()
            with self.inventory.transaction(readonly=True) as s:
                db_fp = fingerprint(s)
                self._inputs = graph_inputs(s, self.source, GraphOptions(self.release))
            self._read_end = time.monotonic()
            self._read_took = self._read_end - t0
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
            appliances = {a.name: a.node for a in q.list_appliances(s)}
            svc.roots = dict(appliances)
            self.generation += 1
            table = host_table(s, svc, self.generation)
            boot_input = _boot_input(s, self.source, svc.graph)
        for ip in table.shared_ips:  # an address two hosts claim identifies neither
            log.warning("address %s belongs to more than one host; it identifies none", ip)
        return Snapshot(table, appliances, fp, boot_input)

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
        # the new graph's problems are known before it serves anything (a reader never sees
        # the new graph with the problems of none)
        problems: dict[str, str] = {}
        self._check_appliances(s, svc, problems)
        self.service, self.provenance, self._graph_digest = svc, None, digest
        self.problems = problems
        return svc

    def _check_appliances(self, s: Session, svc: ProfileService,
                          problems: dict[str, str]) -> None:
        """Compile each kickstartable appliance with the new graph: record failures in
        `problems`, and the service each one last compiled with (served from while the new
        graph fails it)."""
        for app in q.list_appliances(s):
            if not app.kickstartable or app.name not in svc.roots:
                continue
            try:
                svc.compiler.compile(svc.roots[app.name], svc.preview(app.name, s))
            except RocksError as exc:
                problems[app.name] = str(exc)
                kept = "; serving its last validated profile" if app.name in self.last_good \
                    else ""
                log.error("appliance %s: compile failed%s error=%r", app.name, kept,
                          str(exc).splitlines()[0])
                continue
            self.last_good[app.name] = svc

    def render(self, entry: HostEntry) -> str:
        """The host's kickstart; when the current graph fails its appliance, from the graph
        that last compiled it (the failure stays in `problems`). Compiler thread only."""
        view = entry.view
        assert self.service is not None and view is not None
        attrs = {**view.attrs, "install_token": entry.token or ""}
        try:
            return self.service.compiler.render(view.root, attrs, host=entry.name,
                                                secret=view.secret)
        except RocksError as exc:
            good = self.last_good.get(entry.appliance)
            if good is None or good is self.service:
                raise
            self.problems.setdefault(entry.appliance, str(exc))
            return good.compiler.render(view.root, attrs, host=entry.name, secret=view.secret)

    def render_quick(self, entry: HostEntry) -> str | None:
        """The host's kickstart if the current graph has its profile compiled and its values
        need no pykickstart run; None otherwise, or on any error (then `render`, on the
        compiler thread, decides). Never compiles: callable from the event loop while the
        compiler thread works (it only reads the compile cache)."""
        svc = self.service
        view = entry.view
        if svc is None or view is None:
            return None
        attrs = {**view.attrs, "install_token": entry.token or ""}
        try:
            return svc.compiler.render_cached(view.root, attrs, host=entry.name,
                                              secret=view.secret)
        except RocksError:
            return None

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


def host_table(s: Session, svc: ProfileService, generation: int = 0) -> HostTable:
    """Every host of the inventory as a HostTable: hosts grouped by what they share (appliance,
    os, and rack when the rack has attributes), one Layer per group resolved as
    rocks.inventory.attrs.resolve_attrs_many resolves a host (intrinsics < network facts <
    global < os < appliance < rack < host < its interface) and merged as ProfileService.view
    merges it; each host's own values on top when it is read. Plain Core queries, rows
    streamed: no ORM objects and no per-host dictionaries."""
    from rocks.inventory.netfacts import NETWORK, network_facts
    from rocks.model.inventory import ResolvedAttributes, Scope

    conn = s.connection()
    hosts: Any = HostRow.__table__
    ifaces: Any = InterfaceRow.__table__
    attrs: Any = AttributeRow.__table__
    nets_t: Any = NetworkRow.__table__
    apps: Any = ApplianceRow.__table__
    stream = {"stream_results": True, "max_row_buffer": 2000}
    builder = TableBuilder(generation)
    app_names = {i: n for i, n in conn.execute(select(apps.c.id, apps.c.name))}
    # every attribute but host scope, keyed as resolution keys them
    scoped: dict[str, dict[Any, list[tuple[str, str, bool]]]] = {
        "global": {}, "os": {}, "appliance": {}, "rack": {}}
    for scope, os_name, aid, rack, name, value, secret in conn.execute(
            select(attrs.c.scope, attrs.c.os, attrs.c.appliance_id, attrs.c.rack, attrs.c.name,
                   attrs.c.value, attrs.c.secret)
            .where(attrs.c.scope != "host").order_by(attrs.c.name)):
        slot = {"global": "", "os": os_name, "appliance": aid, "rack": rack}[scope]
        scoped[scope].setdefault(slot, []).append((name, value, bool(secret)))
    explicit = {n: v for n, v, _ in scoped["global"].get("", ())}
    any_host = conn.execute(select(hosts.c.id).limit(1)).first() is not None
    facts = {k: f.value for k, f in network_facts(s, explicit).items()} if any_host else {}
    declared = svc.compiler.declared_secret
    release = svc.compiler.release
    graph_digest = svc.graph.digest
    groups: dict[tuple[str, int, int | None], int] = {}

    def layer(os_name: str, aid: int, rack: int | None) -> Layer:
        appliance = app_names.get(aid, "")
        values: dict[str, str] = {"appliance": appliance, "os": os_name}
        sources: dict[str, Scope | str] = {"appliance": "intrinsic", "os": "intrinsic"}
        if rack is not None:
            values["rack"] = str(rack)
            sources["rack"] = "intrinsic"
        over: set[str] = set()
        for key, value in facts.items():
            values[key] = value
            sources[key] = NETWORK
            over.add(key)
        secret: set[str] = set()
        for scope, slot in (("global", ""), ("os", os_name), ("appliance", aid),
                            ("rack", rack)):
            for name, value, flagged in scoped[scope].get(slot, ()) if slot is not None else ():
                values[name] = value
                sources[name] = Scope(scope)
                over.add(name)
                if flagged:
                    secret.add(name)
                else:
                    secret.discard(name)
        shadow = frozenset(over & {"hostname", "rank", "rack"})
        resolved = ResolvedAttributes(values, sources, frozenset(secret))
        try:
            view = svc.view(resolved)
        except RocksError:
            try:  # the same error as for each host: its name marked, filled in per host
                svc.view(ResolvedAttributes({**values, "hostname": HOST_MARK}, sources))
                error = f"host {HOST_MARK}: cannot be compiled"
            except RocksError as exc:
                error = str(exc)
            return Layer(appliance, "", {}, {}, frozenset(secret), declared, shadow,
                         rack is not None, release, error)
        merged = dict(view.attrs)
        digest = hashlib.sha256(repr((view.root, sorted(merged.items()), sorted(secret),
                                      graph_digest)).encode()).digest()
        return Layer(appliance, view.root, merged, {k: str(v) for k, v in view.sources.items()},
                     frozenset(secret), declared, shadow, rack is not None, release, "", digest)

    def group(os_name: str, aid: int, rack: int) -> int:
        key = (os_name, aid, rack if rack in scoped["rack"] else None)
        found = groups.get(key)
        if found is None:
            found = groups[key] = builder.layer(layer(*key))
        return found

    for hid, name, boot, token, started, install, run, rack, rank, os_name, aid in conn.execute(
            select(hosts.c.id, hosts.c.name, hosts.c.boot, hosts.c.install_token,
                   hosts.c.install_started, hosts.c.install_action, hosts.c.run_action,
                   hosts.c.rack, hosts.c.rank, hosts.c.os, hosts.c.appliance_id)
            .order_by(hosts.c.id).execution_options(**stream)):
        builder.host(hid, name, boot, token, started, install, run, rack, rank,
                     group(os_name, aid, rack))
    nets = {i: (_network(sub, mask), bool(pxe)) for i, sub, mask, pxe in conn.execute(
        select(nets_t.c.id, nets_t.c.subnet, nets_t.c.netmask, nets_t.c.pxe))}
    for hid, ip, mac, net in conn.execute(
            select(ifaces.c.host_id, ifaces.c.ip, ifaces.c.mac, ifaces.c.network_id)
            .where(ifaces.c.bmc.is_(None))  # a BMC is not the node
            .order_by(ifaces.c.host_id, ifaces.c.device).execution_options(**stream)):
        network, pxe = nets.get(net, (None, False)) if net is not None else (None, False)
        builder.interface(hid, ip or "", mac or "", served=bool(ip) and _served(ip, network),
                          pxe=pxe)
    rows = conn.execute(
        select(attrs.c.host_id, attrs.c.name, attrs.c.value, attrs.c.secret)
        .where(attrs.c.scope == "host").order_by(attrs.c.host_id, attrs.c.name)
        .execution_options(**stream))
    for hid, group_rows in itertools.groupby(rows, key=lambda r: r[0]):
        own: dict[str, str] = {}
        flagged: set[str] = set()
        plain: set[str] = set()
        for _, name, value, secret in group_rows:
            own[name] = value
            (flagged if secret else plain).add(name)
        builder.extra(hid, Extra(own, frozenset(flagged), frozenset(plain)))
    return builder.build()


def _boot_input(s: Session, source: ClusterSource | None, graph: ConfigGraph
                ) -> SyncInput | None:
    """What iPXE scripts are rendered from: the sync input without hosts or tokens (boot.py
    adds the requesting host and its token)."""
    from rocks.siteconfig import global_settings, sync_input

    try:
        return sync_input(s, source, global_settings(s, source, graph), hosts=(),
                          install_tokens={})
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
