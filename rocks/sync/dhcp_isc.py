"""ISC dhcpd: `etc/dhcp/dhcpd.conf` for the PXE networks, one fixed-address `host` per interface
with a MAC, and the boot-loader choice by client architecture for kickstartable appliances.
"""

from __future__ import annotations

import re

from rocks.sync import bootloaders
from rocks.sync.inputs import HEADER, SHARED, BiosLoader, DesiredFile, Frontend, Service
from rocks.sync.segments import Entry, Segments
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


def _host_lines(nic: Nic, ident: str, indent: str) -> list[str]:
    return [
        f"{indent}host {ident} {{",
        f"{indent}  hardware ethernet {nic.iface.mac};",
        f"{indent}  fixed-address {nic.ip};",
        f'{indent}  option host-name "{nic.name}";',
        f"{indent}}}",
    ]


def _ident(nic: Nic) -> str:
    return _safe_ident(f"{nic.host.name}-{nic.iface.device or 'if'}")


def boots(site: Site, nic: Nic) -> bool:
    """Whether the interface gets the boot file: a kickstartable host's, not its BMC."""
    return site.kickstartable(nic.host) and not nic.iface.bmc


def segment(network: str, booting: bool) -> str:
    return f"dhcp:{network}:{'pxe' if booting else 'other'}"


def bmc_segment(network: str) -> str:
    """BMCs with a MAC on a network (no text): DHCP serves that network for them."""
    return f"bmc:{network}"


def entries(site: Site, nic: Nic) -> list[Entry]:
    """What one interface adds to dhcpd.conf (and which networks DHCP serves)."""
    if not nic.iface.mac:
        return []
    name = nic.net.network.name
    booting = boots(site, nic)
    ident = _ident(nic)
    text = "\n".join(_host_lines(nic, ident, "    " if booting else "  "))
    out = [Entry(segment(name, booting), nic.ip_int, nic.host.name, text, ident)]
    if nic.iface.bmc:
        out.append(Entry(bmc_segment(name), nic.ip_int, nic.host.name, ""))
    return out


def served(site: Site, segs: Segments) -> set[str]:
    """Networks DHCP serves: PXE networks, and those where BMCs get their addresses (the
    segments' form of Site.dhcp_networks)."""
    return {n for n, net in site.nets.items() if net.network.pxe or segs.size(bmc_segment(n))}


def _deduped(texts: list[str], idents: list[str], used: set[str]) -> list[str]:
    """The host blocks with each identifier made unique in file order (a host "a-b" with
    device "c" and a host "a" with device "b-c" both make "a-b-c": the second gets "-2")."""
    out = []
    for text, ident in zip(texts, idents, strict=True):
        base, n, unique = ident, 1, ident
        while unique in used:
            n += 1
            unique = f"{base}-{n}"
        used.add(unique)
        out.append(text if unique == ident else
                   text.replace(f"host {ident} {{", f"host {unique} {{", 1))
    return out


def collisions(site: Site, segs: Segments) -> bool:
    """Whether two host blocks of the served networks share an identifier."""
    seen: set[str] = set()
    count = 0
    for name in served(site, segs):
        for booting in (True, False):
            seg = segs[segment(name, booting)]
            if len(seg):
                part = seg.name_text().split("\0")
                seen.update(part)
                count += len(part)
    return len(seen) != count


def render(site: Site) -> str:
    return render_from(site, Segments.build(e for nic in site.nics for e in entries(site, nic)))


def render_from(site: Site, segs: Segments) -> str:
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
    disc = site.discovery
    serving = served(site, segs)
    used: set[str] | None = set() if collisions(site, segs) else None
    for name in sorted(site.nets):
        net = site.nets[name]
        network = net.network
        if name not in serving:
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
        # BMCs get their address like any interface, never a boot file
        for booting in (True, False):
            seg = segs[segment(name, booting)]
            if not len(seg):
                continue
            if used is None and not (booting and inp.host_frontends):
                texts = [seg.joined("\n")]  # (as stored: no split)
            elif used is None:
                texts = seg.text_list()
            else:
                texts = _deduped(seg.text_list(), seg.name_text().split("\0"), used)
            if not booting:
                out += texts
                continue
            # one group per frontend that serves some of them (the head node's first)
            groups: dict[Frontend, list[str]] = {fe: texts}
            if inp.host_frontends:
                groups = {fe: []}
                for owner, text in zip(seg.owners, texts, strict=True):
                    groups.setdefault(inp.frontend_for(owner), []).append(text)
            for fe_of, members in groups.items():
                if not members:
                    continue
                via = "" if fe_of == fe else f" from frontend {_safe_ident(fe_of.name)}"
                out += [f"  group {{  # kickstartable appliances boot from the network{via}",
                        *boot_block(site, "    ", fe_of), *members, "  }"]
        out.append("}")
    out.append("")
    return "\n".join(out)


def isc_files(site: Site, segs: Segments | None = None) -> list[DesiredFile]:
    text = render(site) if segs is None else render_from(site, segs)
    return [DesiredFile(PATH, text.encode(), 0o644, Service.DHCPD, SHARED)]
