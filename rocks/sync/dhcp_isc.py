"""ISC dhcpd: `etc/dhcp/dhcpd.conf` for the PXE networks, one fixed-address `host` per interface
with a MAC, and the boot-loader choice by client architecture for kickstartable appliances.
"""

from __future__ import annotations

import re

from rocks.sync import bootloaders
from rocks.sync.inputs import HEADER, SHARED, BiosLoader, DesiredFile, Frontend, Service
from rocks.sync.site import Net, Nic, Site, int_to_ip, ip_to_int

PATH = "etc/dhcp/dhcpd.conf"


_UNSAFE = re.compile(r"[^A-Za-z0-9-]")


def _safe_ident(text: str) -> str:
    return _UNSAFE.sub("-", text)


def boot_block(site: Site, indent: str, fe: Frontend | None = None) -> list[str]:
    """The if/elsif chain that picks a boot file: iPXE gets its HTTP script, UEFI x86-64
    (arch 7 or 9) and BIOS (arch 0) their loader over TFTP — from `fe` (default: the head)."""
    inp = site.inp
    fe = fe or inp.frontend
    script = bootloaders.ipxe_script_url(inp, fe)
    i2 = indent + "  "
    if inp.bios_loader is BiosLoader.PXELINUX:
        # A BIOS client gets pxelinux.0 even when its ROM is iPXE (as qemu's is): pxelinux then
        # reads its per-host file by TFTP. Only UEFI iPXE is sent to the HTTP script.
        i3 = i2 + "  "
        return [
            f"{indent}next-server {fe.private_ip};",
            f"{indent}if option arch = 00:07 or option arch = 00:09 {{",
            f'{i2}if exists user-class and option user-class = "iPXE" {{',
            f'{i3}filename "{script}";',
            f"{i2}}} else {{",
            f'{i3}filename "{bootloaders.uefi_filename(inp)}";',
            f"{i2}}}",
            f"{indent}}} elsif option arch = 00:00 {{",
            f'{i2}filename "{bootloaders.bios_filename(inp)}";',
            f"{indent}}}",
        ]
    return [
        f"{indent}next-server {fe.private_ip};",
        f'{indent}if exists user-class and option user-class = "iPXE" {{',
        f'{i2}filename "{script}";',
        f"{indent}}} elsif option arch = 00:07 or option arch = 00:09 {{",
        f'{i2}filename "{bootloaders.uefi_filename(inp)}";',
        f"{indent}}} elsif option arch = 00:00 {{",
        f'{i2}filename "{bootloaders.bios_filename(inp)}";',
        f"{indent}}}",
    ]


def router_for(site: Site, net: Net) -> str:
    if net.network.gateway:
        return net.network.gateway
    fe = ip_to_int(site.inp.frontend.private_ip)
    return site.inp.frontend.private_ip if net.contains(fe) else ""


def _host_lines(nic: Nic, used: set[str], indent: str) -> list[str]:
    ident = _safe_ident(f"{nic.host.name}-{nic.iface.device or 'if'}")
    base, n = ident, 1
    while ident in used:
        n += 1
        ident = f"{base}-{n}"
    used.add(ident)
    return [
        f"{indent}host {ident} {{",
        f"{indent}  hardware ethernet {nic.iface.mac};",
        f"{indent}  fixed-address {nic.ip};",
        f'{indent}  option host-name "{nic.name}";',
        f"{indent}}}",
    ]


def render(site: Site) -> str:
    inp = site.inp
    fe = inp.frontend
    out = [
        f"# {HEADER}",
        "authoritative;",
        "ddns-update-style none;",
        f"default-lease-time {inp.lease_time};",
        f"max-lease-time {inp.lease_time};",
        "",
        "option arch code 93 = unsigned integer 16;  # RFC 4578 client system architecture",
        "# iPXE waits for ProxyDHCP offers unless told there are none (175.176 no-pxedhcp)",
        "option space ipxe;",
        "option ipxe-encap-opts code 175 = encapsulate ipxe;",
        "option ipxe.no-pxedhcp code 176 = unsigned integer 8;",
        "option ipxe.no-pxedhcp 1;",
    ]
    by_net: dict[str, list[Nic]] = {}
    for nic in site.nics:
        if nic.iface.mac:
            by_net.setdefault(nic.net.network.name, []).append(nic)
    used: set[str] = set()
    disc = site.discovery
    served = site.dhcp_networks()
    for name in sorted(site.nets):
        net = site.nets[name]
        network = net.network
        if name not in served:
            continue
        out += ["", f"subnet {network.subnet} netmask {network.netmask} {{",
                f"  option subnet-mask {network.netmask};",
                f"  option broadcast-address {int_to_ip(net.broadcast)};"]
        router = router_for(site, net)
        if router:
            out.append(f"  option routers {router};")
        if network.zone:
            out.append(f'  option domain-name "{network.zone}";')
        out.append(f"  option domain-name-servers {', '.join(fe.resolvers)};")
        if fe.ntp_servers:
            out.append(f"  option ntp-servers {', '.join(fe.ntp_servers)};")
        out.append(f"  option interface-mtu {network.mtu};")
        if disc is not None and disc.network == name:
            out += ["  pool {", f"    range {disc.start} {disc.end};", *boot_block(site, "    "),
                    "  }"]
        nics = by_net.get(name, [])
        # BMCs get their address like any interface, never a boot file
        pxe_hosts = [n for n in nics if site.kickstartable(n.host) and not n.iface.bmc]
        others = [n for n in nics if not site.kickstartable(n.host) or n.iface.bmc]
        # one group per frontend that serves some of them (the head node's first)
        groups: dict[Frontend, list[Nic]] = {inp.frontend: []} if pxe_hosts else {}
        for nic in pxe_hosts:
            groups.setdefault(inp.frontend_for(nic.host.name), []).append(nic)
        for fe_of, members in groups.items():
            if not members:
                continue
            via = "" if fe_of == inp.frontend else f" from frontend {_safe_ident(fe_of.name)}"
            out += [f"  group {{  # kickstartable appliances boot from the network{via}",
                    *boot_block(site, "    ", fe_of)]
            for nic in members:
                out += _host_lines(nic, used, "    ")
            out.append("  }")
        for nic in others:
            out += _host_lines(nic, used, "  ")
        out.append("}")
    out.append("")
    return "\n".join(out)


def isc_files(site: Site) -> list[DesiredFile]:
    return [DesiredFile(PATH, render(site).encode(), 0o644, Service.DHCPD, SHARED)]
