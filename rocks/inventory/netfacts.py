"""The network facts a Rocks frontend install wrote as `Kickstart_Private*`/`Kickstart_Public*`
global attributes, derived here from the networks and the frontend host instead.

This is the one place that decides them. Resolution for a host (`attrs.resolve_attrs_many`), the
frontend's own settings (`siteconfig.global_settings`, hence DHCP's next-server and the DNS
domain of sync), `list attr` and `list host attr` all read `derive()`'s output, with the same
precedence: a roll's declared default < the value derived from the networks (source "network",
letter N) < an explicit attribute at global, os, appliance or host scope.

The private network is the network named "private", else the first PXE network by name; the
public one is the network named "public". The frontend is the frontend-appliance host with an
address on that network (the one owning an explicit global `Kickstart_PrivateKickstartHost`
address if several have one, else the first by name that no `frontend` attribute names):
the head node.

A host served by another frontend (a service frontend sharing the database) says so with the
attribute `frontend` (rack, appliance or host scope; empty: the head node). `served_facts`
decides what that changes — the kickstart host, `Kickstart_FrontendURL` and
`Kickstart_DistroURL`, from that frontend's address on the host's PXE network (else on the
private network) — and attribute resolution applies them at the scope that set `frontend`, so
an explicit value at a more specific scope still wins. DHCP's next-server and the boot files'
URLs of the host are read from the same resolved values (rocks.siteconfig).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rocks.errors import Diagnostic, Severity
from rocks.inventory.core import FRONTEND_ATTR, SERVED
from rocks.model.attrtypes import check_value
from rocks.model.inventory import Attribute, Network, ResolvedAttributes, Scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.inventory.core import Db

NETWORK = "network"  # the source of a derived value, as `resolve_attrs` reports it
PRIVATE = "private"
PUBLIC = "public"
FRONTEND_APPLIANCE = "frontend"
FRONTEND_PORT = 8080  # `rocks start frontend`'s default port
DISTRO_PATH = "/install/distro"
# FRONTEND_ATTR: the frontend host that serves a host (empty: the head node); SERVED: the facts
# a host's own frontend decides (the others — DNS, NTP, NFS, gateway — stay the head's). Defined
# in rocks.inventory.core, whose plain-SQL path checks for them without importing this module.


@dataclass(frozen=True, slots=True)
class FrontendNic:
    """An addressed interface of a frontend-appliance host."""

    host: str
    device: str
    ip: str
    network: str
    name: str = ""  # the host's name on that network ("" = the host's name)
    service: bool = False  # a `frontend` attribute names this host: a service frontend


@dataclass(frozen=True, slots=True)
class Fact:
    value: str
    origin: str  # e.g. "network private", "frontend fe on network private"


def private_network(networks: Sequence[Network]) -> Network | None:
    by_name = {n.name: n for n in networks}
    if PRIVATE in by_name:
        return by_name[PRIVATE]
    return next((n for n in sorted(networks, key=lambda n: n.name) if n.pxe), None)


def _shape(prefix: str, net: Network, origin: str) -> dict[str, Fact]:
    parsed = ipaddress.ip_network(f"{net.subnet}/{net.netmask}", strict=False)
    out = {
        f"Kickstart_{prefix}Network": str(parsed.network_address),
        f"Kickstart_{prefix}Netmask": str(parsed.netmask),
        f"Kickstart_{prefix}NetmaskCIDR": str(parsed.prefixlen),
        f"Kickstart_{prefix}Broadcast": str(parsed.broadcast_address),
        f"Kickstart_{prefix}MTU": str(net.mtu),
    }
    if net.zone and check_value("domain", net.zone) is None:  # a bad zone stays out: sync
        out[f"Kickstart_{prefix}DNSDomain"] = net.zone      # reports it as bad-zone
    if net.gateway:
        out[f"Kickstart_{prefix}Gateway"] = net.gateway
    return {k: Fact(v, origin) for k, v in out.items()}


def _frontend_on(nics: Sequence[FrontendNic], network: str, prefer: str) -> FrontendNic | None:
    """The head node's interface on `network`: the one with the `prefer` address, else the
    first frontend host that no `frontend` attribute names (a service frontend is named)."""
    on = sorted((n for n in nics if n.network == network),
                key=lambda n: (n.service, n.host, n.device))
    return next((n for n in on if n.ip == prefer), on[0] if on else None)


def derive(networks: Sequence[Network], nics: Sequence[FrontendNic],
           explicit: Mapping[str, str]) -> dict[str, Fact]:
    """The derived facts. `explicit` is the global attributes: an explicit
    `Kickstart_PrivateKickstartHost` picks the frontend among several, and an explicit
    `Kickstart_FrontendURL` is what `Kickstart_DistroURL` is derived from."""
    facts: dict[str, Fact] = {}
    private = private_network(networks)
    if private is not None:
        where = f"network {private.name}"
        facts.update(_shape("Private", private, where))
        fe = _frontend_on(nics, private.name, explicit.get("Kickstart_PrivateKickstartHost", ""))
        if fe is not None:
            by = f"frontend {fe.host} on {where}"
            url = f"http://{_url_host(fe.ip)}:{FRONTEND_PORT}"
            for name, value in {
                "Kickstart_PrivateAddress": fe.ip,
                "Kickstart_PrivateHostname": fe.name or fe.host,
                "Kickstart_PrivateInterface": fe.device,
                "Kickstart_PrivateKickstartHost": fe.ip,
                "Kickstart_PrivateDNSServers": fe.ip,
                "Kickstart_PrivateNTPHost": fe.ip,
                "Kickstart_PrivateSyslogHost": fe.ip,
                "Kickstart_FrontendURL": url,
                "nfs_server": fe.ip,
            }.items():
                facts[name] = Fact(value, by)
            # the frontend routes for the nodes unless the network names its own gateway
            facts.setdefault("Kickstart_PrivateGateway", Fact(fe.ip, by))
        base = explicit.get("Kickstart_FrontendURL") or (
            facts["Kickstart_FrontendURL"].value if "Kickstart_FrontendURL" in facts else "")
        if base:
            origin = ("global Kickstart_FrontendURL" if explicit.get("Kickstart_FrontendURL")
                      else facts["Kickstart_FrontendURL"].origin)
            facts["Kickstart_DistroURL"] = Fact(base.rstrip("/") + DISTRO_PATH, origin)
    public = next((n for n in networks if n.name == PUBLIC), None)
    if public is not None:
        where = f"network {public.name}"
        facts.update(_shape("Public", public, where))
        fe = _frontend_on(nics, public.name, "")
        if fe is not None:
            by = f"frontend {fe.host} on {where}"
            short = fe.name or fe.host
            for name, value in {
                "Kickstart_PublicAddress": fe.ip,
                "Kickstart_PublicHostname": f"{short}.{public.zone}" if public.zone else short,
                "Kickstart_PublicInterface": fe.device,
                "Kickstart_PublicKickstartHost": fe.ip,
            }.items():
                facts[name] = Fact(value, by)
    return facts


def _url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def serving_nic(nics: Sequence[FrontendNic], frontend: str,
                networks: Sequence[str]) -> FrontendNic | None:
    """Where a host reaches frontend host `frontend`: its address on the first of `networks`
    (the host's PXE network, then the private network) it has one on; None if none."""
    mine = sorted((n for n in nics if n.host == frontend), key=lambda n: n.device)
    for net in networks:
        for nic in mine:
            if nic.network == net:
                return nic
    return None


def served_facts(nic: FrontendNic) -> dict[str, Fact]:
    """The SERVED facts of a host whose frontend is reached at `nic`."""
    by = f"frontend {nic.host} on network {nic.network}"
    url = f"http://{_url_host(nic.ip)}:{FRONTEND_PORT}"
    return {"Kickstart_PrivateKickstartHost": Fact(nic.ip, by),
            "Kickstart_FrontendURL": Fact(url, by),
            "Kickstart_DistroURL": Fact(url + DISTRO_PATH, by)}


class Served:
    """The per-host frontend decision over one inventory read: `facts(frontend, networks)` is
    what attribute `frontend` = `frontend` gives a host on `networks` (the head's facts for an
    empty value; None when that frontend has no address the host can reach: the head then
    serves, and `conflicts` says so)."""

    def __init__(self, networks: Sequence[Network], nics: Sequence[FrontendNic],
                 head: Mapping[str, Fact]) -> None:
        private = private_network(networks)
        self.private = private.name if private is not None else ""
        self.nics = nics
        self.head = {k: head[k] for k in SERVED if k in head}
        self._cache: dict[tuple[str, tuple[str, ...]], dict[str, Fact] | None] = {}

    def facts(self, frontend: str, networks: Sequence[str] = ()) -> dict[str, Fact] | None:
        if not frontend:
            return self.head
        key = (frontend, tuple(networks))
        if key not in self._cache:
            nic = serving_nic(self.nics, frontend, [*networks, self.private])
            self._cache[key] = served_facts(nic) if nic is not None else None
        return self._cache[key]


def frontend_nics(session: Session | Db) -> list[FrontendNic]:
    from rocks.inventory import core

    db = core.Db.of(session)
    rows = core.frontend_interfaces(db)
    named = core.attribute_values(db, FRONTEND_ATTR) if len({r[0] for r in rows}) > 1 \
        else set()
    return [FrontendNic(h, d, ip, n, name, h in named) for h, d, ip, n, name in rows]


def network_facts(session: Session | Db, explicit: Mapping[str, str]) -> dict[str, Fact]:
    """derive() over the inventory; `explicit` = the global attributes (name → value)."""
    from rocks.inventory import core

    return derive(core.networks(core.Db.of(session)), frontend_nics(session), explicit)


def resolve_global(session: Session | Db) -> ResolvedAttributes:
    """The cluster-wide values without roll defaults: derived facts < global attributes
    (plain SQL: `rocks sync` reads them without the ORM)."""
    from rocks.inventory import core

    rows = [Attribute(n, v, Scope.GLOBAL, "", secret)
            for n, v, secret in core.global_attributes(core.Db.of(session))]
    explicit = {a.name: a.value for a in rows}
    values: dict[str, str] = {}
    sources: dict[str, Scope | str] = {}
    for name, fact in network_facts(session, explicit).items():
        values[name] = fact.value
        sources[name] = NETWORK
    for a in rows:
        values[a.name] = a.value
        sources[a.name] = Scope.GLOBAL
    return ResolvedAttributes(values, sources, frozenset(a.name for a in rows if a.secret))


def conflicts(session: Session | Db,
              effective: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """Warnings where an explicit attribute (any scope) disagrees with what the networks say,
    and where a frontend fact the networks cannot give (no frontend host on the private
    network) lies outside that network. `effective`: the global values in force (roll defaults
    < derived < global), for the second check."""
    from rocks.inventory import core

    db = core.Db.of(session)
    explicit = {n: v for n, v, _ in core.global_attributes(db)}
    networks = core.networks(db)
    facts = derive(networks, frontend_nics(db), explicit)
    rows = core.attributes_named(db, [*facts, FRONTEND_ATTR])
    out: list[Diagnostic] = []
    for a in rows:
        fact = facts.get(a.name)
        if fact is None or _same(a.name, a.value, fact.value):
            continue
        where = "global" if a.scope is Scope.GLOBAL else f"{a.scope} {a.target}"
        remove = "attr" if a.scope is Scope.GLOBAL else f"{a.scope} attr {a.target}"
        shown = "********" if a.secret else repr(a.value)
        field = _FIELDS.get(a.name.replace("Public", "Private"))
        net = fact.origin.rpartition("network ")[2]
        fix = (f"rocks set network {net} {field}={a.value}" if field and not a.secret
               else "rocks set network …, or the frontend's interface")
        out.append(Diagnostic(
            "network-fact-overridden",
            f"attribute {a.name} = {shown} ({where}) disagrees with {fact.origin}, which "
            f"gives {fact.value!r}; the explicit value wins",
            None,
            f"drop it (rocks remove {remove} {a.name}), or if it is right: {fix}",
            Severity.WARNING,
        ))
    fe_hosts = {n.host for n in frontend_nics(session)}
    for a in rows:
        if a.name == FRONTEND_ATTR and a.value.strip() and a.value.strip() not in fe_hosts:
            where = "global" if a.scope is Scope.GLOBAL else f"{a.scope} {a.target}"
            out.append(Diagnostic(
                "unknown-frontend",
                f"attribute {FRONTEND_ATTR} = {a.value!r} ({where}) names no frontend host "
                "with an address: the head node serves those hosts",
                None,
                f"add it: rocks add host {a.value.strip()} appliance=frontend; rocks add host "
                f"interface {a.value.strip()} eth0 ip=… network=…",
                Severity.WARNING,
            ))
    private = private_network(networks)
    if private is not None and effective is not None:
        prefix = ipaddress.ip_network(f"{private.subnet}/{private.netmask}", strict=False)
        for name in ("Kickstart_PrivateKickstartHost", "Kickstart_PrivateGateway",
                     "Kickstart_PrivateDNSServers"):
            if name in facts or name in explicit:
                continue
            outside = [v for v in effective.get(name, "").split(",")
                       if v and not _inside(v, prefix)]
            if outside:
                out.append(Diagnostic(
                    "network-fact-missing",
                    f"{name} is {effective[name]!r} (a roll default), outside network "
                    f"{private.name} ({prefix}): no frontend host has an address on it",
                    None,
                    "add the frontend: rocks add host <name> appliance=frontend; rocks add host "
                    f"interface <name> eth0 ip=<address in {prefix}> network={private.name}",
                    Severity.WARNING,
                ))
    return out


# attribute → the `rocks set network` field that changes the derived value
_FIELDS = {"Kickstart_PrivateNetwork": "subnet", "Kickstart_PrivateNetmask": "netmask",
           "Kickstart_PrivateDNSDomain": "zone", "Kickstart_PrivateGateway": "gateway",
           "Kickstart_PrivateMTU": "mtu"}


def _inside(value: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(value.strip()) in net
    except ValueError:
        return True  # a name, not an address: nothing to say


def _same(name: str, a: str, b: str) -> bool:
    if name.endswith("URL"):
        return a.rstrip("/") == b.rstrip("/")
    if name.endswith("DNSDomain") or name.endswith("Hostname"):
        return a.lower().rstrip(".") == b.lower().rstrip(".")
    if name.endswith("DNSServers"):
        return [x.strip() for x in a.split(",")] == [x.strip() for x in b.split(",")]
    return a.strip() == b.strip()
