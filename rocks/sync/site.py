"""The validated view every generator reads: networks with parsed prefixes, hosts that are safe
to write, and their network interfaces with parsed addresses.

A host with a problem (no MAC on a PXE network, an address outside its network, an address
another host also has, a name DHCP or DNS cannot carry) is reported and left out whole, so that
no file ever holds half of it.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from rocks.errors import Diagnostic, RocksError
from rocks.model.attrtypes import check_value
from rocks.model.inventory import Appliance, BootAction, Host, Interface, Network
from rocks.sync.inputs import Discovery, Frontend, SyncInput

_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class Net:
    network: Network
    address: int
    mask: int
    prefix: int
    broadcast: int

    def contains(self, ip: int) -> bool:
        return ip & self.mask == self.address


class Nic(NamedTuple):
    """One interface of a valid host, with its address parsed and its network resolved (a
    named tuple: ten thousand of these are built per sync)."""

    host: Host
    iface: Interface
    ip: str
    ip_int: int
    net: Net
    name: str  # DNS name on that network: the interface's name or the host's

    @property
    def hexip(self) -> str:
        return f"{self.ip_int:08X}"


@dataclass(frozen=True, slots=True)
class Site:
    inp: SyncInput
    nets: dict[str, Net]
    hosts: tuple[Host, ...]  # valid hosts, by name
    nics: tuple[Nic, ...]  # interfaces of valid hosts that have an address, by address
    nics_by_host: dict[str, tuple[Nic, ...]]
    appliances: dict[str, Appliance]
    actions: dict[str, BootAction]
    problems: tuple[Diagnostic, ...]
    discovery: Discovery | None = None  # the input's, when it is valid
    # some host was left out for what another host claims (a shared address or MAC)
    crosshost: bool = False
    # the problems found in each host on its own (also in `problems`)
    host_problems: dict[str, tuple[Diagnostic, ...]] = field(default_factory=dict)
    # the hosts left out for what another host claims, and those problems (also in `problems`)
    clashing: frozenset[str] = frozenset()
    cross_problems: tuple[Diagnostic, ...] = ()

    def dhcp_networks(self) -> set[str]:
        """Networks DHCP serves: PXE networks, and those where BMCs get their addresses."""
        return {n for n, net in self.nets.items() if net.network.pxe} | {
            nic.net.network.name for nic in self.nics if nic.iface.bmc and nic.iface.mac}

    def kickstartable(self, host: Host) -> bool:
        app = self.appliances.get(host.appliance)
        return app.kickstartable if app is not None else False


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)


def ip_to_int(text: str) -> int:
    """Strict dotted quad to int (ValueError otherwise); a regex plus inet_aton is several
    times faster than ipaddress, which matters at ten thousand hosts."""
    if not _DOTTED.fullmatch(text):
        raise ValueError(f"{text!r} is not a dotted-quad IPv4 address")
    a, b, c, d = text.split(".")
    return int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)


def int_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def parse_net(network: Network) -> Net:
    parsed = ipaddress.IPv4Network(f"{network.subnet}/{network.netmask}", strict=True)
    return Net(network, int(parsed.network_address), int(parsed.netmask), parsed.prefixlen,
               int(parsed.broadcast_address))


def _fail(problems: list[Diagnostic], bad: set[str], host: Host, iface: Interface, code: str,
          message: str, hint: str = "") -> None:
    where = f"host {host.name} interface {iface.device or '?'}"
    problems.append(Diagnostic(code, f"{where}: {message}", None, hint))
    bad.add(host.name)


def _diag(code: str, message: str, hint: str = "") -> Diagnostic:
    return Diagnostic(code, message, None, hint)


def zone_problem(zone: str) -> str | None:
    """Why `zone` cannot name a DNS zone (it ends up in dhcpd.conf, Kea, zone files and their
    file names, /etc/hosts), or None."""
    return check_value("domain", zone)


_FRONTEND_FACTS = (
    # (field, type, attribute that sets it)
    ("private_ip", "ipv4", "Kickstart_PrivateKickstartHost"),
    ("http_base", "url", "Kickstart_FrontendURL"),
    ("dns_domain", "domain", "Kickstart_PrivateDNSDomain"),
)


def check_frontend(inp: SyncInput) -> None:
    """Refuse frontend facts no generator can write safely: they go into every file (a
    service frontend's, into the files of the hosts it serves)."""
    fe: Frontend = inp.frontend
    problems: list[Diagnostic] = []

    def bad(what: str, value: str, why: str) -> None:
        problems.append(_diag("sync.bad-frontend", f"{what} {value!r}: {why}",
                              "fix it (rocks set attr …) and sync again"))

    distinct: dict[Frontend, str] = {}
    for host, other in inp.host_frontends.items():
        distinct.setdefault(other, host)
    for other, host in distinct.items():
        for fieldname, type_name, attr in _FRONTEND_FACTS[:2]:
            value = getattr(other, fieldname)
            why = "it is empty" if not value else check_value(type_name, value)
            if why:
                bad(f"host {host}'s {attr}", value, why)

    if not _LABEL.match(fe.name):
        bad("frontend name (Kickstart_PrivateHostname)", fe.name,
            "not a DNS label (letters, digits and '-')")
    for fieldname, type_name, attr in _FRONTEND_FACTS:
        value = getattr(fe, fieldname)
        why = "it is empty" if not value else check_value(type_name, value)
        if why:
            bad(attr, value, why)
    for attr, values in (("Kickstart_PrivateDNSServers", fe.dns_servers),
                         ("NTP servers", fe.ntp_servers)):
        for value in values:
            if not _DOTTED.fullmatch(value):
                bad(attr, value, "not a dotted-quad IPv4 address")
    if inp.boot_files_url:
        why = check_value("url", inp.boot_files_url)
        if why:
            bad("boot files URL", inp.boot_files_url, why)
    for iface in inp.dhcp_interfaces:
        why = check_value("word", iface)
        if why:
            bad("sync_dhcp_interfaces", iface, why)
    if problems:
        raise RocksError(*problems)


def _checked_network(network: Network, problems: list[Diagnostic]) -> Network:
    """The network with a zone and gateway the generators can write (a bad one is reported
    and left out) and its subnet and netmask spelled canonically."""
    parsed = ipaddress.IPv4Network(f"{network.subnet}/{network.netmask}", strict=True)
    subnet, netmask = str(parsed.network_address), str(parsed.netmask)
    zone, gateway = network.zone, network.gateway
    if zone and zone_problem(zone):
        problems.append(_diag("sync.bad-zone", f"network {network.name}: zone {zone!r} is not "
                              "a DNS name; no DNS zone or domain option is written for it",
                              "rocks set network … zone=cluster.local"))
        zone = ""
    if gateway and not (_DOTTED.fullmatch(gateway) and ip_to_int(gateway) in parsed_ints(parsed)):
        problems.append(_diag("sync.bad-gateway", f"network {network.name}: gateway "
                              f"{gateway!r} is not an address inside the network; it is left "
                              "out"))
        gateway = ""
    if (subnet, netmask, zone, gateway) == (network.subnet, network.netmask, network.zone,
                                            network.gateway):
        return network
    return replace(network, subnet=subnet, netmask=netmask, zone=zone, gateway=gateway)


def parsed_ints(net: ipaddress.IPv4Network) -> range:
    return range(int(net.network_address), int(net.broadcast_address) + 1)


class HostCheck(NamedTuple):
    """One host checked on its own: its addressed interfaces (interface, address, network),
    the MACs and addresses it claims (what other hosts must not also claim: collected up to the
    first bad interface, as the checks go), and its problems (any problem leaves it out)."""

    pending: list[tuple[Interface, int, Net]]
    macs: list[tuple[str, Interface]]
    ips: list[tuple[int, Interface]]
    problems: list[Diagnostic]


def check_host(host: Host, nets: dict[str, Net]) -> HostCheck:
    """The checks a host passes or fails on its own (rocks.sync.incremental checks a changed
    host with this, as build_site checks every host)."""
    problems: list[Diagnostic] = []
    bad: set[str] = set()
    pending: list[tuple[Interface, int, Net]] = []
    macs: list[tuple[str, Interface]] = []
    ips: list[tuple[int, Interface]] = []
    if not _LABEL.match(host.name):
        problems.append(_diag("sync.bad-name", f"host {host.name!r}: not a valid DNS label",
                              "host names are letters, digits and '-'"))
        return HostCheck(pending, macs, ips, problems)
    for iface in host.interfaces:
        net = nets.get(iface.network) if iface.network else None
        if iface.network and net is None:
            _fail(problems, bad, host, iface, "sync.unknown-network",
                  f"unknown network {iface.network!r}")
            continue
        if iface.mac and not _MAC.match(iface.mac):
            _fail(problems, bad, host, iface, "sync.bad-mac", f"bad MAC {iface.mac!r}",
                  "MACs are lower-case aa:bb:cc:dd:ee:ff")
            continue
        if net is not None and net.network.pxe and not iface.mac:
            _fail(problems, bad, host, iface, "sync.no-mac",
                  f"no MAC on PXE network {net.network.name}",
                  f"set it with `rocks set host interface mac {host.name} {iface.device} "
                  "mac=…`")
            continue
        if iface.bmc and not iface.name and not _LABEL.match(f"{host.name}-{iface.device}"):
            _fail(problems, bad, host, iface, "sync.bad-name",
                  f"BMC name {host.name}-{iface.device} is not a valid DNS label",
                  f"name it: rocks set host interface name {host.name} {iface.device} …")
            continue
        if iface.name and not _LABEL.match(iface.name):
            _fail(problems, bad, host, iface, "sync.bad-name",
                  f"name {iface.name!r} is not a valid DNS label")
            continue
        if iface.mac:
            macs.append((iface.mac, iface))
        if not iface.ip or net is None:
            continue
        try:
            ip = ip_to_int(iface.ip)
        except ValueError:
            _fail(problems, bad, host, iface, "sync.bad-ip",
                  f"bad IPv4 address {iface.ip!r}")
            continue
        if ip & net.mask != net.address or ip == net.address or ip == net.broadcast:
            _fail(problems, bad, host, iface, "sync.ip-outside",
                  f"{iface.ip} is not a host address of network {net.network.name} "
                  f"({net.network.subnet}/{net.prefix})")
            continue
        ips.append((ip, iface))
        pending.append((iface, ip, net))
    return HostCheck(pending, macs, ips, problems)


def check_networks(inp: SyncInput, problems: list[Diagnostic]) -> dict[str, Net]:
    nets: dict[str, Net] = {}
    for network in inp.networks:
        try:
            nets[network.name] = parse_net(_checked_network(network, problems))
        except ValueError as exc:
            problems.append(_diag("sync.bad-network", f"network {network.name}: {exc}",
                                  "fix the subnet and netmask with `rocks set network`"))
    return nets


def nic_of(host: Host, iface: Interface, ip: int, net: Net) -> Nic:
    return Nic(host, iface, iface.ip, ip, net,
               iface.name or (f"{host.name}-{iface.device}" if iface.bmc else host.name))


def build_site(inp: SyncInput) -> Site:
    check_frontend(inp)
    problems: list[Diagnostic] = []
    nets = check_networks(inp, problems)
    bad: set[str] = set()
    pending: list[tuple[Host, Interface, int, Net]] = []
    by_ip: dict[int, list[tuple[Host, Interface]]] = defaultdict(list)
    by_mac: dict[str, list[tuple[Host, Interface]]] = defaultdict(list)
    host_problems: dict[str, tuple[Diagnostic, ...]] = {}
    for host in inp.hosts:
        checked = check_host(host, nets)
        if checked.problems:
            problems += checked.problems
            bad.add(host.name)
            host_problems[host.name] = tuple(checked.problems)
        for mac, iface in checked.macs:
            by_mac[mac].append((host, iface))
        for ip, iface in checked.ips:
            by_ip[ip].append((host, iface))
        pending.extend((host, i, ip, net) for i, ip, net in checked.pending)
    fe = inp.frontend
    fe_ip = ip_to_int(fe.private_ip)
    alone = set(bad)
    first_cross = len(problems)
    clashes = sorted(ip for ip, users in by_ip.items()
                     if len(users) > 1 or (ip == fe_ip and users[0][0].name != fe.name))
    for ip in clashes:
        users = by_ip[ip]
        foreign = ip == fe_ip and any(h.name != fe.name for h, _ in users)
        who = ", ".join(f"{h.name} {i.device}" for h, i in users)
        extra = f" (the frontend {fe.name}'s private address)" if foreign else ""
        problems.append(_diag("sync.duplicate-ip", f"{int_to_ip(ip)}{extra} is used by {who}",
                              "give each interface its own address"))
        # the frontend's own address is a fact; whoever else claims it is the one in error
        bad.update(h.name for h, _ in users if ip != fe_ip or h.name != fe.name)
    for mac, users in sorted(by_mac.items()):
        if len(users) > 1:
            who = ", ".join(f"{h.name} {i.device}" for h, i in users)
            problems.append(_diag("sync.duplicate-mac", f"MAC {mac} is used by {who}"))
            bad.update(h.name for h, _ in users)
    cross = problems[first_cross:]
    nics = [nic_of(h, i, ip, net) for h, i, ip, net in pending if h.name not in bad]
    nics.sort(key=lambda n: (n.ip_int, n.host.name))
    hosts = tuple(sorted((h for h in inp.hosts if h.name not in bad), key=lambda h: h.name))
    discovery = _check_discovery(inp.discovery, nets, problems)
    clashing = frozenset(bad - alone) | frozenset(
        h.name for ip in clashes for h, _ in by_ip[ip]) | frozenset(
        h.name for users in by_mac.values() if len(users) > 1 for h, _ in users)
    return site_of(inp, nets, hosts, nics, problems, discovery,
                   crosshost=bool(cross), host_problems=host_problems,
                   clashing=clashing, cross_problems=tuple(cross))


def site_of(inp: SyncInput, nets: dict[str, Net], hosts: tuple[Host, ...], nics: list[Nic],
            problems: list[Diagnostic], discovery: Discovery | None, *,
            crosshost: bool = False,
            host_problems: dict[str, tuple[Diagnostic, ...]] | None = None,
            clashing: frozenset[str] = frozenset(),
            cross_problems: tuple[Diagnostic, ...] = ()) -> Site:
    per_host: dict[str, list[Nic]] = defaultdict(list)
    for nic in nics:
        per_host[nic.host.name].append(nic)
    return Site(
        inp=inp, nets=nets, hosts=hosts, nics=tuple(nics),
        nics_by_host={k: tuple(v) for k, v in per_host.items()},
        appliances={a.name: a for a in inp.appliances},
        actions={a.name: a for a in inp.boot_actions},
        problems=tuple(problems), discovery=discovery, crosshost=crosshost,
        host_problems=host_problems or {}, clashing=clashing, cross_problems=cross_problems,
    )


def check_discovery(inp: SyncInput, nets: dict[str, Net],
                    problems: list[Diagnostic]) -> Discovery | None:
    return _check_discovery(inp.discovery, nets, problems)


def _check_discovery(
    disc: Discovery | None, nets: dict[str, Net], problems: list[Diagnostic]
) -> Discovery | None:
    if disc is None:
        return None
    net = nets.get(disc.network)
    try:
        start, end = ip_to_int(disc.start), ip_to_int(disc.end)
    except ValueError:
        start = end = -1
    if net is None or not (net.contains(start) and net.contains(end) and start <= end):
        problems.append(_diag(
            "sync.bad-discovery-range",
            f"discovery range {disc.start}-{disc.end} is not inside network {disc.network}",
            "discovery is off until the range is fixed"))
        return None
    return disc
