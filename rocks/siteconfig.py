"""The inventory as the frontend's configuration: global settings and the input of `rocks.sync`.

Shared by the CLI (`rocks sync config`, `set host boot`) and the frontend server (`/boot/ipxe`),
so it sits beside the layers it joins. Frontend facts come from global attributes over the
facts derived from the networks (the frontend's address, the DNS domain) over the rolls'
declared defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

    from rocks.compiler.graph import ConfigGraph
    from rocks.errors import Diagnostic
    from rocks.model.inventory import Host
    from rocks.profiles import ClusterSource
    from rocks.sync.inputs import DesiredFile, Frontend, SyncInput


def global_settings(s: Session, source: ClusterSource | None,
                    graph: ConfigGraph | None = None) -> dict[str, str]:
    """Global attributes over the facts derived from the networks over the cluster's rolls'
    defaults (the precedence hosts resolve with: rocks/inventory/netfacts.py). `graph`: the
    cluster's graph when the caller holds it already, as the frontend does."""
    from rocks.compiler.service import global_defaults
    from rocks.inventory.netfacts import resolve_global
    from rocks.profiles import cluster_graph

    if graph is None:
        graph = cluster_graph(s, source).graph
    values = global_defaults(graph)
    values.update(resolve_global(s).values)
    return values


def network_warnings(s: Session, settings: dict[str, str]) -> list[Diagnostic]:
    """Explicit attributes that disagree with their network, and frontend facts outside it."""
    from rocks.inventory.netfacts import conflicts

    return conflicts(s, settings)


def head_frontend(g: dict[str, str], hosts: tuple[Host, ...]) -> Frontend:
    """The head node's facts from the global settings `g`."""
    from rocks.sync.inputs import Frontend

    private_ip = g.get("Kickstart_PrivateKickstartHost", "10.1.1.1")
    # the frontend is the frontend-appliance host that owns the frontend address
    owner = next((h.name for h in hosts if h.appliance == "frontend"
                  for i in h.interfaces if i.ip == private_ip), None)
    return Frontend(
        name=owner or g.get("Kickstart_PrivateHostname", "frontend"),
        private_ip=private_ip,
        http_base=g.get("Kickstart_FrontendURL", "http://10.1.1.1:8080").rstrip("/"),
        dns_domain=g.get("Kickstart_PrivateDNSDomain", "local"),
        dns_servers=tuple(x for x in g.get("Kickstart_PrivateDNSServers", "").split(",") if x),
    )


def host_frontends(s: Session, head: Frontend, names: list[str] | None = None
                   ) -> dict[str, Frontend]:
    """The hosts another frontend serves, with its facts: each host's resolved
    Kickstart_PrivateKickstartHost and Kickstart_FrontendURL (attribute `frontend`, or those
    set below global scope: rocks.inventory.netfacts decides) where they differ from the
    head's. Nothing is resolved when no such attribute is set (the common case)."""
    from dataclasses import replace

    from rocks.inventory import attrs
    from rocks.inventory.netfacts import FRONTEND_ATTR, SERVED

    if not attrs.scoped_attr_exists(s, (FRONTEND_ATTR, *SERVED)):
        return {}
    out: dict[str, Frontend] = {}
    for name, r in attrs.resolve_attrs_many(s, names, only=(FRONTEND_ATTR, *SERVED)).items():
        ip = r.values.get("Kickstart_PrivateKickstartHost") or head.private_ip
        url = (r.values.get("Kickstart_FrontendURL") or head.http_base).rstrip("/")
        if (ip, url) != (head.private_ip, head.http_base):
            out[name] = replace(head, name=r.values.get(FRONTEND_ATTR) or head.name,
                                private_ip=ip, http_base=url)
    return out


def sync_input(s: Session, source: ClusterSource | None,
               settings: dict[str, str] | None = None,
               hosts: tuple[Host, ...] | None = None,
               install_tokens: Mapping[str, str] | None = None) -> SyncInput:
    """`hosts` and `install_tokens` replace the inventory's (the frontend's /boot/ipxe passes
    none, and adds the one host a script is for: reading 10,000 hosts whole costs seconds)."""
    from rocks import dhcpdb
    from rocks.inventory import queries as q
    from rocks.inventory.install import tokens
    from rocks.sync.inputs import BiosLoader, DhcpFlavour, SyncInput, UefiLoader

    g = settings if settings is not None else global_settings(s, source)
    hosts = tuple(q.list_hosts(s)) if hosts is None else hosts
    frontend = head_frontend(g, hosts)
    return SyncInput(
        frontend=frontend,
        host_frontends=host_frontends(s, frontend),
        kea_hosts_database=dhcpdb.kea_database(s, g) if dhcpdb.in_database(g) else None,
        networks=tuple(q.list_networks(s)),
        appliances=tuple(q.list_appliances(s)),
        hosts=hosts,
        boot_actions=tuple(q.list_bootactions(s)),
        tokens=tokens(s) if install_tokens is None else install_tokens,
        dhcp=DhcpFlavour(g.get("sync_dhcp", "isc")),
        bios_loader=BiosLoader(g.get("sync_bios_loader", "pxelinux")),
        uefi_loader=UefiLoader(g.get("sync_uefi_loader", "grub")),
        dhcp_interfaces=tuple(x for x in g.get("sync_dhcp_interfaces", "").split(",") if x),
    )


def installer_files(inp: SyncInput, distro: Path) -> list[DesiredFile]:
    """The install boot action's kernel and initrd for the TFTP tree, from the distribution's
    images/pxeboot (the OS roll's installer images)."""
    from rocks.sync.inputs import DesiredFile

    pxeboot = distro / "images" / "pxeboot"
    out: list[DesiredFile] = []
    for action in inp.boot_actions:
        if action.name != "install":
            continue
        for name in (action.kernel, action.initrd):
            src = pxeboot / Path(name).name
            if name and src.is_file():
                out.append(DesiredFile(f"tftpboot/{Path(name).name}", src.read_bytes(), 0o644,
                                       None, ":boot"))
    return out
