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
from dataclasses import dataclass

from rocks.errors import Diagnostic
from rocks.model.inventory import Appliance, BootAction, Host, Interface, Network
from rocks.sync.inputs import SyncInput

_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class Net:
    network: Network
    address: int
    mask: int
    prefix: int

    @property
    def broadcast(self) -> int:
        return self.address | (~self.mask & 0xFFFFFFFF)

    def contains(self, ip: int) -> bool:
        return ip & self.mask == self.address


@dataclass(frozen=True, slots=True)
class Nic:
    """One interface of a valid host, with its address parsed and its network resolved."""

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
    appliances: dict[str, Appliance]
    actions: dict[str, BootAction]
    problems: tuple[Diagnostic, ...]

    def kickstartable(self, host: Host) -> bool:
        app = self.appliances.get(host.appliance)
        return app.kickstartable if app is not None else False


def ip_to_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def int_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def parse_net(network: Network) -> Net:
    parsed = ipaddress.IPv4Network(f"{network.subnet}/{network.netmask}", strict=True)
    return Net(network, int(parsed.network_address), int(parsed.netmask), parsed.prefixlen)


def _diag(code: str, message: str, hint: str = "") -> Diagnostic:
    return Diagnostic(code, message, None, hint)


def build_site(inp: SyncInput) -> Site:
    problems: list[Diagnostic] = []
    nets: dict[str, Net] = {}
    for network in inp.networks:
        try:
            nets[network.name] = parse_net(network)
        except ValueError as exc:
            problems.append(_diag("sync.bad-network", f"network {network.name}: {exc}",
                                  "fix the subnet and netmask with `rocks set network`"))
    bad: set[str] = set()
    pending: list[tuple[Host, Interface, int, Net]] = []
    by_ip: dict[int, list[tuple[Host, Interface]]] = defaultdict(list)
    by_mac: dict[str, list[tuple[Host, Interface]]] = defaultdict(list)
    for host in inp.hosts:
        if not _LABEL.match(host.name):
            problems.append(_diag("sync.bad-name", f"host {host.name!r}: not a valid DNS label",
                                  "host names are letters, digits and '-'"))
            bad.add(host.name)
            continue
        for iface in host.interfaces:
            where = f"host {host.name} interface {iface.device or '?'}"
            net = nets.get(iface.network) if iface.network else None
            if iface.network and net is None:
                problems.append(_diag("sync.unknown-network",
                                      f"{where}: unknown network {iface.network!r}"))
                bad.add(host.name)
                continue
            if iface.mac and not _MAC.match(iface.mac):
                problems.append(_diag("sync.bad-mac", f"{where}: bad MAC {iface.mac!r}",
                                      "MACs are lower-case aa:bb:cc:dd:ee:ff"))
                bad.add(host.name)
                continue
            if net is not None and net.network.pxe and not iface.mac:
                problems.append(_diag("sync.no-mac",
                                      f"{where}: no MAC on PXE network {net.network.name}",
                                      f"set it with `rocks set host interface mac {host.name} "
                                      f"{iface.device} mac=…`"))
                bad.add(host.name)
                continue
            if iface.name and not _LABEL.match(iface.name):
                problems.append(_diag("sync.bad-name",
                                      f"{where}: name {iface.name!r} is not a valid DNS label"))
                bad.add(host.name)
                continue
            if iface.mac:
                by_mac[iface.mac].append((host, iface))
            if not iface.ip or net is None:
                continue
            try:
                ip = ip_to_int(iface.ip)
            except ValueError:
                problems.append(_diag("sync.bad-ip", f"{where}: bad IPv4 address {iface.ip!r}"))
                bad.add(host.name)
                continue
            if not net.contains(ip) or ip in (net.address, net.broadcast):
                problems.append(_diag(
                    "sync.ip-outside",
                    f"{where}: {iface.ip} is not a host address of network {net.network.name} "
                    f"({net.network.subnet}/{net.prefix})"))
                bad.add(host.name)
                continue
            by_ip[ip].append((host, iface))
            pending.append((host, iface, ip, net))
    fe = inp.frontend
    fe_ip = ip_to_int(fe.private_ip)
    for ip, users in sorted(by_ip.items()):
        owners = {h.name for h, _ in users}
        foreign = ip == fe_ip and owners != {fe.name}
        if len(users) > 1 or foreign:
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
    nics = [
        Nic(h, i, i.ip, ip, net, i.name or h.name)
        for h, i, ip, net in pending if h.name not in bad
    ]
    nics.sort(key=lambda n: (n.ip_int, n.host.name))
    hosts = tuple(sorted((h for h in inp.hosts if h.name not in bad), key=lambda h: h.name))
    return Site(
        inp=inp, nets=nets, hosts=hosts, nics=tuple(nics),
        appliances={a.name: a for a in inp.appliances},
        actions={a.name: a for a in inp.boot_actions},
        problems=tuple(problems),
    )
