"""Kea: `etc/kea/kea-dhcp4.conf` with the same meaning as the ISC file — one subnet per PXE
network, one reservation per interface with a MAC, and client classes on the user class (iPXE)
and option 93 (client architecture) choosing the boot file.

`reservations()` decides what each reservation holds, for the file and for Kea's PostgreSQL
host backend alike (`sync_kea_hosts=database`: the file then names the database and holds no
reservation; rocks/dhcpdb.py writes the rows). A host a service frontend serves gets that
frontend as its next-server; the iPXE script URL stays the head node's class option (any
frontend serves any host's script from the shared database).

Kea's classes are global, so every PXE client on a served network is offered the loader; only
hosts whose firmware network-boots take it. The JSON is built as text, one reservation a line,
because `json.dumps` of ten thousand reservations is the slowest part of a sync.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from rocks.sync import bootloaders, dhcp_isc
from rocks.sync.dhcp_isc import router_for
from rocks.sync.inputs import SHARED, BiosLoader, DesiredFile, Service
from rocks.sync.segments import Entry, Segments
from rocks.sync.site import Net, Nic, Site, int_to_ip

PATH = "etc/kea/kea-dhcp4.conf"


def _j(value: object) -> str:
    return json.dumps(value)


def _classes(site: Site) -> list[dict[str, object]]:
    inp = site.inp
    fe = inp.frontend.private_ip
    if inp.bios_loader is BiosLoader.PXELINUX:
        # BIOS clients get pxelinux.0 even from an iPXE ROM; only UEFI iPXE gets the script
        return [
            {"name": "rocks-ipxe",
             "test": "substring(option[77].hex,0,4) == 'iPXE' and "
                     "(option[93].hex == 0x0007 or option[93].hex == 0x0009)",
             "boot-file-name": bootloaders.ipxe_script_url(inp)},
            {"name": "rocks-uefi-x64",
             "test": "not member('rocks-ipxe') and "
                     "(option[93].hex == 0x0007 or option[93].hex == 0x0009)",
             "next-server": fe, "boot-file-name": bootloaders.uefi_filename(inp)},
            {"name": "rocks-bios", "test": "option[93].hex == 0x0000",
             "next-server": fe, "boot-file-name": bootloaders.bios_filename(inp)},
        ]
    return [
        {"name": "rocks-ipxe", "test": "substring(option[77].hex,0,4) == 'iPXE'",
         "boot-file-name": bootloaders.ipxe_script_url(inp)},
        {"name": "rocks-uefi-x64",
         "test": "not member('rocks-ipxe') and "
                 "(option[93].hex == 0x0007 or option[93].hex == 0x0009)",
         "next-server": fe, "boot-file-name": bootloaders.uefi_filename(inp)},
        {"name": "rocks-bios", "test": "not member('rocks-ipxe') and option[93].hex == 0x0000",
         "next-server": fe, "boot-file-name": bootloaders.bios_filename(inp)},
    ]


@dataclass(frozen=True, slots=True)
class Reservation:
    """One Kea host reservation: a MAC's fixed address on a subnet (Kea's subnet id is the
    network's address as a number), its host name, and the next-server when a service
    frontend serves the host (None: the class's, the head node's)."""

    host: str  # the inventory host it belongs to
    network: str
    subnet_id: int
    mac: str
    ip: str
    ip_int: int
    hostname: str
    next_server: str | None = None

    def json(self) -> str:
        extra = f', "next-server": "{self.next_server}"' if self.next_server else ""
        return (f'{{"hw-address": "{self.mac}", "ip-address": "{self.ip}", '
                f'"hostname": {_j(self.hostname)}{extra}}}')


def subnet_id(net: Net) -> int:
    """Kea's id of a subnet: its address, stable when other networks come and go."""
    return net.address or 1


def _reservation(site: Site, nic: Nic) -> Reservation:
    inp = site.inp
    fe = inp.frontend_for(nic.host.name)
    boots = site.kickstartable(nic.host) and not nic.iface.bmc
    return Reservation(nic.host.name, nic.net.network.name, subnet_id(nic.net), nic.iface.mac,
                       nic.ip, nic.ip_int, nic.name,
                       fe.private_ip if boots and fe != inp.frontend else None)


def reservations(site: Site) -> list[Reservation]:
    """Every interface with a MAC on a network DHCP serves, in address order."""
    served = site.dhcp_networks()
    return [_reservation(site, nic) for nic in site.nics
            if nic.iface.mac and nic.net.network.name in served]


def segment(network: str) -> str:
    return f"kea:{network}"


def entries(site: Site, nic: Nic) -> list[Entry]:
    """What one interface adds to kea-dhcp4.conf: its reservation."""
    if not nic.iface.mac:
        return []
    name = nic.net.network.name
    out = [Entry(segment(name), nic.ip_int, nic.host.name, _reservation(site, nic).json())]
    if nic.iface.bmc:
        out.append(Entry(dhcp_isc.bmc_segment(name), nic.ip_int, nic.host.name, ""))
    return out


def render(site: Site, interfaces: Sequence[str] | None = None,
           hosts_database: dict[str, object] | None = None) -> str:
    """The configuration; with `hosts_database` (Kea's "hosts-database" map) reservations
    live in that database and the file holds none."""
    segs = Segments.build(e for nic in site.nics for e in entries(site, nic))
    return render_from(site, segs, interfaces, hosts_database)


def render_from(site: Site, segs: Segments, interfaces: Sequence[str] | None = None,
                hosts_database: dict[str, object] | None = None) -> str:
    inp = site.inp
    fe = inp.frontend
    ifaces = list(inp.dhcp_interfaces if interfaces is None else interfaces)
    subnets: list[str] = []
    served = dhcp_isc.served(site, segs)
    for name in sorted(site.nets):
        net = site.nets[name]
        network = net.network
        if name not in served:
            continue
        options: list[dict[str, str]] = [
            {"name": "broadcast-address", "data": int_to_ip(net.broadcast)},
            {"name": "domain-name-servers", "data": ", ".join(fe.resolvers)},
            {"name": "interface-mtu", "data": str(network.mtu)},
        ]
        router = router_for(site, net)
        if router:
            options.append({"name": "routers", "data": router})
        if network.zone:
            options.append({"name": "domain-name", "data": network.zone})
        if fe.ntp_servers:
            options.append({"name": "ntp-servers", "data": ", ".join(fe.ntp_servers)})
        disc = site.discovery
        pools = ([{"pool": f"{disc.start} - {disc.end}"}]
                 if disc is not None and disc.network == name else [])
        rows = "" if hosts_database else segs.joined(segment(name), ",\n      ")
        # the network address is a stable subnet id: leases survive adding other networks
        subnets.append(
            "    {\n"
            f'     "id": {subnet_id(net)},\n'
            f'     "subnet": "{network.subnet}/{net.prefix}",\n'
            f'     "pools": {_j(pools)},\n'
            f'     "option-data": {_j(options)},\n'
            f'     "reservations": [\n      {rows}\n     ]\n'
            "    }")
    option_def = [
        {"space": "dhcp4", "name": "ipxe-encap-opts", "code": 175, "type": "empty",
         "encapsulate": "ipxe"},
        {"space": "ipxe", "name": "no-pxedhcp", "code": 176, "type": "uint8"},
    ]
    option_data = [
        {"space": "dhcp4", "name": "ipxe-encap-opts", "code": 175},
        {"space": "ipxe", "name": "no-pxedhcp", "code": 176, "data": "1"},
        {"name": "domain-name-servers", "data": ", ".join(fe.resolvers)},
    ]
    head = [
        "{",
        '"Dhcp4": {',
        f' "interfaces-config": {{"interfaces": {_j(ifaces)}}},',
        ' "lease-database": {"type": "memfile", "persist": true, "lfc-interval": 3600},',
        *([f' "hosts-database": {_j(hosts_database)},'] if hosts_database else []),
        f' "valid-lifetime": {inp.lease_time},',
        f' "option-def": {_j(option_def)},',
        f' "option-data": {_j(option_data)},',
        ' "client-classes": [\n  ' + ",\n  ".join(_j(c) for c in _classes(site)) + "\n ],",
        ' "subnet4": [',
    ]
    return "\n".join(head) + "\n" + ",\n".join(subnets) + "\n ]\n}\n}\n"


def kea_files(site: Site, segs: Segments | None = None,
              interfaces: Sequence[str] | None = None) -> list[DesiredFile]:
    db = site.inp.kea_hosts_database
    hosts_database = dict(db) if db else None
    text = render(site, interfaces, hosts_database) if segs is None else \
        render_from(site, segs, interfaces, hosts_database)
    # a database password in the file: readable by root (and Kea's group) only
    mode = 0o640 if db and db.get("password") else 0o644
    return [DesiredFile(PATH, text.encode(), mode, Service.KEA, SHARED)]
