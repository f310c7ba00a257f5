"""Kea: `etc/kea/kea-dhcp4.conf` with the same meaning as the ISC file — one subnet per PXE
network, one reservation per interface with a MAC, and client classes on the user class (iPXE)
and option 93 (client architecture) choosing the boot file.

Kea's classes are global, so every PXE client on a served network is offered the loader; only
hosts whose firmware network-boots take it. The JSON is built as text, one reservation a line,
because `json.dumps` of ten thousand reservations is the slowest part of a sync.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rocks.sync import bootloaders, dhcp_isc
from rocks.sync.dhcp_isc import router_for
from rocks.sync.inputs import SHARED, BiosLoader, DesiredFile, Service
from rocks.sync.segments import Entry, Segments
from rocks.sync.site import Nic, Site, int_to_ip

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


def _reservation(nic: Nic) -> str:
    return (f'{{"hw-address": "{nic.iface.mac}", "ip-address": "{nic.ip}", '
            f'"hostname": {_j(nic.name)}}}')


def segment(network: str) -> str:
    return f"kea:{network}"


def entries(site: Site, nic: Nic) -> list[Entry]:
    """What one interface adds to kea-dhcp4.conf: its reservation."""
    if not nic.iface.mac:
        return []
    name = nic.net.network.name
    out = [Entry(segment(name), nic.ip_int, nic.host.name, _reservation(nic))]
    if nic.iface.bmc:
        out.append(Entry(dhcp_isc.bmc_segment(name), nic.ip_int, nic.host.name, ""))
    return out


def render(site: Site, interfaces: Sequence[str] | None = None) -> str:
    segs = Segments.build(e for nic in site.nics for e in entries(site, nic))
    return render_from(site, segs, interfaces)


def render_from(site: Site, segs: Segments, interfaces: Sequence[str] | None = None) -> str:
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
        rows = segs.joined(segment(name), ",\n      ")
        # the network address is a stable subnet id: leases survive adding other networks
        subnets.append(
            "    {\n"
            f'     "id": {net.address or 1},\n'
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
        f' "valid-lifetime": {inp.lease_time},',
        f' "option-def": {_j(option_def)},',
        f' "option-data": {_j(option_data)},',
        ' "client-classes": [\n  ' + ",\n  ".join(_j(c) for c in _classes(site)) + "\n ],",
        ' "subnet4": [',
    ]
    return "\n".join(head) + "\n" + ",\n".join(subnets) + "\n ]\n}\n}\n"


def kea_files(site: Site, segs: Segments | None = None,
              interfaces: Sequence[str] | None = None) -> list[DesiredFile]:
    text = render(site, interfaces) if segs is None else render_from(site, segs, interfaces)
    return [DesiredFile(PATH, text.encode(), 0o644, Service.KEA, SHARED)]
