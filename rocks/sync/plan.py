"""Planning `rocks sync`: from a `SyncInput` to every file that should exist, plus the problems
that kept hosts out. Pure apart from two injected reads: the previous zone files (for SOA
serials) and, when asked, the boot-loader binaries under a system root.

`plan_hosts` is the incremental form: the shared files in full, and the per-host files of the
named hosts only; the applier then leaves every other host's files alone.
"""

from __future__ import annotations

from collections.abc import Iterable
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
from rocks.sync.site import Site, build_site

__all__ = [
    "BiosLoader", "DesiredFile", "DhcpFlavour", "Discovery", "Frontend", "Plan", "SyncInput",
    "UefiLoader", "plan", "plan_hosts", "shared_files",
]


@dataclass(frozen=True, slots=True)
class Plan:
    files: tuple[DesiredFile, ...]
    problems: tuple[Diagnostic, ...]
    # None: a full plan (anything managed and not desired goes). Otherwise the owners that were
    # re-planned; shared files are always re-planned.
    scope: frozenset[str] | None = None

    def extended(self, files: Iterable[DesiredFile], problems: Iterable[Diagnostic] = ()) -> Plan:
        return Plan((*self.files, *files), (*self.problems, *problems), self.scope)

    def in_scope(self, owner: str) -> bool:
        return self.scope is None or owner == SHARED or owner in self.scope


def shared_files(site: Site, previous: PreviousReader | None = None) -> list[DesiredFile]:
    files: list[DesiredFile] = []
    if site.inp.dhcp is DhcpFlavour.ISC:
        files += dhcp_isc.isc_files(site)
    else:
        files += dhcp_kea.kea_files(site)
    files += dns.dns_files(site, previous)
    files += hosts.hosts_files(site)
    files += pxe.default_files(site)
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
