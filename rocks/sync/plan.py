"""Planning `rocks sync`: from a `SyncInput` to every file that should exist, plus the problems
that kept hosts out. Pure apart from two injected reads: the previous zone files (for SOA
serials) and, when asked, the boot-loader binaries under a system root.

`plan_hosts` is the incremental form: the shared files in full, and the per-host files of the
named hosts only; the applier then leaves every other host's files alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rocks.errors import Diagnostic
from rocks.sync import bootloaders, dhcp_isc, dhcp_kea, dns, hosts, local, pxe
from rocks.sync.dns import PreviousReader
from rocks.sync.inputs import (
    SHARED,
    BiosLoader,
    DesiredFile,
    DhcpFlavour,
    Discovery,
    Frontend,
    SyncInput,
    UefiLoader,
)
from rocks.sync.segments import Entry, Segments
from rocks.sync.site import Nic, Site, build_site

__all__ = [
    "BiosLoader", "DesiredFile", "DhcpFlavour", "Discovery", "Frontend", "Plan", "SyncInput",
    "UefiLoader", "plan", "plan_hosts", "shared_files",
]


@dataclass(frozen=True, slots=True)
class Plan:
    files: tuple[DesiredFile, ...]
    problems: tuple[Diagnostic, ...]
    # None: a full plan (anything managed and not desired goes). Otherwise the owners that were
    # re-planned (each of their files not in the plan goes)…
    scope: frozenset[str] | None = None
    # … and whether every shared file is in the plan: an incremental plan names only the
    # shared files that changed (rocks.sync.incremental)
    shared: bool = True

    def extended(self, files: Iterable[DesiredFile], problems: Iterable[Diagnostic] = (),
                 owners: Iterable[str] = ()) -> Plan:
        """With more files (and, for a partial plan, the owners they complete)."""
        scope = None if self.scope is None else self.scope | frozenset(owners)
        return Plan((*self.files, *files), (*self.problems, *problems), scope, self.shared)

    def in_scope(self, owner: str) -> bool:
        return self.scope is None or (owner == SHARED and self.shared) or owner in self.scope


def nic_entries(site: Site, nic: Nic) -> list[Entry]:
    """Every fragment one interface contributes to the shared files."""
    dhcp = dhcp_isc if site.inp.dhcp is DhcpFlavour.ISC else dhcp_kea
    return [*dhcp.entries(site, nic), *dns.entries(site, nic), *hosts.entries(site, nic)]


def segments(site: Site) -> Segments:
    """The host-dependent parts of the shared files, from every interface of the site."""
    return Segments.build(e for nic in site.nics for e in nic_entries(site, nic))


def shared_files(site: Site, previous: PreviousReader | None = None,
                 segs: Segments | None = None,
                 only: Callable[[str], bool] | None = None) -> list[DesiredFile]:
    """The shared files, assembled from `segs` (default: the site's own interfaces); `only`
    picks which of them to build (by path)."""
    if segs is None:
        segs = segments(site)
    files: list[DesiredFile] = []

    def want(path: str) -> bool:
        return only is None or only(path)

    if site.inp.dhcp is DhcpFlavour.ISC:
        if want(dhcp_isc.PATH):
            files += dhcp_isc.isc_files(site, segs)
    elif want(dhcp_kea.PATH):
        files += dhcp_kea.kea_files(site, segs)
    if only is None or any(want(p) for p in dns.zone_paths(site)):
        files += [f for f in dns.dns_files(site, previous, segs) if want(f.path)]
    if want(hosts.PATH):
        files += hosts.hosts_files(site, segs)
    files += [f for f in pxe.default_files(site) if want(f.path)]
    return local.merged(files, previous)  # etc/hosts.local, etc/dhcp/dhcpd.conf.local


def plan(
    inp: SyncInput, *, previous: PreviousReader | None = None, sysroot: Path | None = None
) -> Plan:
    """Every desired file. With `sysroot`, the boot loaders found under it are copied too."""
    site = build_site(inp)
    files = shared_files(site, previous)
    problems = [*site.problems, *local.warnings(inp.dhcp, previous)]
    for host in site.hosts:
        host_files, host_problems = pxe.plan_host(site, host)
        files += host_files
        problems += host_problems
    if sysroot is not None:
        boot, boot_problems = bootloaders.bootloader_files(inp, sysroot)
        files += boot
        problems += boot_problems
    return Plan(tuple(files), tuple(problems), None)


def plan_hosts(
    inp: SyncInput, names: Iterable[str], *, previous: PreviousReader | None = None
) -> Plan:
    """The shared files plus the per-host files of `names` (hosts may have been removed)."""
    site = build_site(inp)
    wanted = frozenset(names)
    files = shared_files(site, previous)
    problems = [*site.problems, *local.warnings(inp.dhcp, previous)]
    for host in site.hosts:
        if host.name in wanted:
            host_files, host_problems = pxe.plan_host(site, host)
            files += host_files
            problems += host_problems
    return Plan(tuple(files), tuple(problems), wanted)
