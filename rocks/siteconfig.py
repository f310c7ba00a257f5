"""The inventory as the frontend's configuration: global settings and the input of `rocks.sync`.

Shared by the CLI (`rocks sync config`, `set host boot`) and the frontend server (`/boot/ipxe`),
so it sits beside the layers it joins. Frontend facts come from global attributes over the
facts derived from the networks (the frontend's address, the DNS domain) over the rolls'
declared defaults. Everything here reads the inventory in plain SQL (rocks.inventory.core), on
a connection of its own or on an ORM Session's: `rocks sync config` and the one-host changes
never import the ORM, and read only the hosts that changed (rocks.sync.incremental).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

    from rocks.compiler.graph import ConfigGraph
    from rocks.errors import Diagnostic
    from rocks.inventory.core import Db
    from rocks.model.inventory import Host
    from rocks.profiles import ClusterSource
    from rocks.sync.apply import ApplyResult, Progress
    from rocks.sync.incremental import HostRow, Update
    from rocks.sync.inputs import DesiredFile, Frontend, SyncInput
    from rocks.sync.plan import Plan


def global_settings(s: Session | Db, source: ClusterSource | None,
                    graph: ConfigGraph | None = None) -> dict[str, str]:
    """Global attributes over the facts derived from the networks over the cluster's rolls'
    defaults (the precedence hosts resolve with: rocks/inventory/netfacts.py). `graph`: the
    cluster's graph when the caller holds it already, as the frontend does; else the rolls'
    defaults are read from their cache (rocks.profiles.roll_defaults: the graph is loaded only
    when it changed)."""
    from rocks.inventory.netfacts import resolve_global

    if graph is not None:
        from rocks.compiler.service import global_defaults

        values = global_defaults(graph)
    else:
        from rocks.profiles import roll_defaults

        values = roll_defaults(s, source)
    values.update(resolve_global(s).values)
    return values


def network_warnings(s: Session | Db, settings: dict[str, str]) -> list[Diagnostic]:
    """Explicit attributes that disagree with their network, and frontend facts outside it."""
    from rocks.inventory.netfacts import conflicts

    return conflicts(s, settings)


def _frontend(g: dict[str, str], owner: str | None) -> Frontend:
    """The head node's facts from the global settings `g`; `owner`: the frontend-appliance
    host that owns the frontend address (None: Kickstart_PrivateHostname names it)."""
    from rocks.sync.inputs import Frontend

    return Frontend(
        name=owner or g.get("Kickstart_PrivateHostname", "frontend"),
        private_ip=g.get("Kickstart_PrivateKickstartHost", "10.1.1.1"),
        http_base=g.get("Kickstart_FrontendURL", "http://10.1.1.1:8080").rstrip("/"),
        dns_domain=g.get("Kickstart_PrivateDNSDomain", "local"),
        dns_servers=tuple(x for x in g.get("Kickstart_PrivateDNSServers", "").split(",") if x),
    )


def head_frontend(g: dict[str, str], hosts: tuple[Host, ...]) -> Frontend:
    """The head node's facts from the global settings `g` (its name: the frontend-appliance
    host among `hosts` that owns the frontend address)."""
    private_ip = g.get("Kickstart_PrivateKickstartHost", "10.1.1.1")
    owner = next((h.name for h in hosts if h.appliance == "frontend"
                  for i in h.interfaces if i.ip == private_ip), None)
    return _frontend(g, owner)


def _orm(s: Session | Db) -> Session:
    """The ORM Session behind `s`, for what only the ORM code reads (the per-host frontend
    facts, Kea's database URL). rocks.inventory.core.connect() leaves a command that may need
    it on the ORM path; a Db without one means those settings appeared while it ran."""
    from rocks.errors import RocksError
    from rocks.inventory import core

    session = s.session if isinstance(s, core.Db) else s
    if session is None:
        raise RocksError.of("inventory-changed", "service frontends or Kea's host database "
                            "were set up while this command ran", hint="run it again")
    return session


def host_frontends(s: Session | Db, head: Frontend, names: list[str] | None = None
                   ) -> dict[str, Frontend]:
    """The hosts another frontend serves, with its facts: each host's resolved
    Kickstart_PrivateKickstartHost and Kickstart_FrontendURL (attribute `frontend`, or those
    set below global scope: rocks.inventory.netfacts decides) where they differ from the
    head's. Nothing is resolved when no such attribute is set (the common case)."""
    from dataclasses import replace

    from rocks.inventory import core
    from rocks.inventory.netfacts import FRONTEND_ATTR, SERVED

    if not core.scoped_attr_exists(core.Db.of(s), (FRONTEND_ATTR, *SERVED)):
        return {}
    from rocks.inventory import attrs  # (the ORM: only where other frontends serve hosts)

    session = _orm(s)
    out: dict[str, Frontend] = {}
    for name, r in attrs.resolve_attrs_many(session, names,
                                            only=(FRONTEND_ATTR, *SERVED)).items():
        ip = r.values.get("Kickstart_PrivateKickstartHost") or head.private_ip
        url = (r.values.get("Kickstart_FrontendURL") or head.http_base).rstrip("/")
        if (ip, url) != (head.private_ip, head.http_base):
            out[name] = replace(head, name=r.values.get(FRONTEND_ATTR) or head.name,
                                private_ip=ip, http_base=url)
    return out


def base_input(s: Session | Db, g: dict[str, str]) -> SyncInput:
    """The sync input without its hosts: the frontend's facts from the global settings `g`,
    the hosts other frontends serve, networks, appliances, boot actions and the sync
    choices."""
    from rocks.inventory import core
    from rocks.sync.inputs import BiosLoader, DhcpFlavour, SyncInput, UefiLoader

    db = core.Db.of(s)
    private_ip = g.get("Kickstart_PrivateKickstartHost", "10.1.1.1")
    frontend = _frontend(g, core.frontend_owner(db, private_ip))
    kea_db = None
    if core.kea_hosts_in_database(g):
        from rocks.dhcpdb import kea_database

        kea_db = kea_database(_orm(s), g)
    return SyncInput(
        frontend=frontend,
        host_frontends=host_frontends(s, frontend),
        kea_hosts_database=kea_db,
        networks=tuple(core.networks(db)),
        appliances=tuple(core.appliances(db)),
        hosts=(),
        boot_actions=tuple(core.bootactions(db)),
        dhcp=DhcpFlavour(g.get("sync_dhcp", "isc")),
        bios_loader=BiosLoader(g.get("sync_bios_loader", "pxelinux")),
        uefi_loader=UefiLoader(g.get("sync_uefi_loader", "grub")),
        dhcp_interfaces=tuple(x for x in g.get("sync_dhcp_interfaces", "").split(",") if x),
        # the boot file names the loaders try before the ones sync writes (rocks.sync.pxe)
        pxe_mac_names=g.get("sync_pxe_mac_names", "no").strip().lower() in
        ("yes", "true", "on", "1", "y"),
    )


def sync_input(s: Session | Db, source: ClusterSource | None,
               settings: dict[str, str] | None = None,
               hosts: tuple[Host, ...] | None = None,
               install_tokens: Mapping[str, str] | None = None) -> SyncInput:
    """`hosts` and `install_tokens` replace the inventory's (the frontend's /boot/ipxe passes
    none, and adds the one host a script is for: reading 10,000 hosts whole costs seconds)."""
    import dataclasses

    from rocks.inventory import core

    db = core.Db.of(s)
    g = settings if settings is not None else global_settings(db, source)
    if hosts is None:
        rows = core.hosts_by_id(db)
        hosts = tuple(h for _, h, _ in rows)
        tokens: Mapping[str, str] = {h.name: t for _, h, t in rows if t}
    else:
        tokens = core.install_tokens(db) if install_tokens is None else install_tokens
    if install_tokens is not None:
        tokens = install_tokens
    return dataclasses.replace(base_input(s, g), hosts=hosts, tokens=tokens)


class InventoryView:
    """What rocks.sync.incremental reads, from the inventory (plain SQL)."""

    def __init__(self, s: Session | Db, source: ClusterSource | None,
                 settings: dict[str, str] | None = None) -> None:
        from rocks.inventory import core

        self.db = core.Db.of(s)
        self.source = source
        self.settings = settings
        self._base: SyncInput | None = None

    def base(self) -> SyncInput:
        if self._base is None:
            if self.settings is None:
                self.settings = global_settings(self.db, self.source)
            self._base = base_input(self.db, self.settings)
        return self._base

    def tracking(self) -> bool:
        from rocks.inventory import core

        return core.tracks_versions(self.db)

    def version_sums(self) -> tuple[int, int, int]:
        from rocks.inventory import core

        return core.version_sums(self.db)

    def versions(self) -> dict[int, int]:
        from rocks.inventory import core

        return core.host_versions(self.db)

    def versions_of(self, ids: Collection[int]) -> dict[int, int]:
        from rocks.inventory import core

        return core.versions_of(self.db, ids)

    def hosts(self, ids: Collection[int] | None) -> list[HostRow]:
        from rocks.inventory import core

        return core.hosts_by_id(self.db, ids)

    def others_claim(self, ids: Sequence[int], ips: Iterable[str],
                     macs: Iterable[str]) -> bool:
        from rocks.inventory import core

        return core.others_claim(self.db, ids, ips, macs)


Extra = Callable[["SyncInput"], tuple[list["DesiredFile"], list["Diagnostic"]]]


@dataclass(frozen=True, slots=True)
class Synced:
    update: Update
    plan: Plan  # the update's, with the extra files
    result: ApplyResult
    managed: int  # files sync manages under the root now

    @property
    def unchanged(self) -> int:
        return self.managed - len(self.result.changed)


def sync_files(s: Session | Db, source: ClusterSource | None, root: Path, *,
               hint: Collection[int] = (), full: bool = False,
               extra: Extra | None = None, extra_owners: Collection[str] = (),
               settings: dict[str, str] | None = None, verify: bool = False,
               dry_run: bool = False, progress: Progress | None = None) -> Synced:
    """Make the files under `root` agree with the inventory: the hosts that changed since the
    last sync and the shared files they appear in (rocks.sync.incremental; everything when
    that cannot decide, or `full`). `hint`: ids of hosts the caller changed. `extra`: more
    files and problems (boot loaders, installer images) whose owners `extra_owners` they
    complete. `verify`: first check every managed file on disk (by its stamp; by its content
    when that moved) and replan the owners of any that were changed by hand. One sync at a
    time per root (a lock file beside the state)."""
    from rocks.sync import incremental, state
    from rocks.sync.apply import apply, disk_reader
    from rocks.sync.apply import verify as check_disk
    from rocks.sync.inputs import BOOT_OWNER, SHARED

    view = InventoryView(s, source, settings)
    with _locked(root, dry_run):
        loaded = state.load(root)
        broken: set[str] = set()
        if verify:
            broken, _ = check_disk(root, loaded)
        update = incremental.plan_update(
            view, loaded.cache, previous=disk_reader(root), hint=hint,
            full=full or SHARED in broken, force=broken - {SHARED, *extra_owners})
        plan = update.plan
        if extra is not None:
            files, problems = extra(view.base())
            plan = plan.extended(files, problems, owners=extra_owners)
        elif plan.scope is None:
            # a full plan without the boot loaders and installer images (a one-host command):
            # everything else it decides, their files stay as the last `sync config` left them
            import dataclasses

            owners = loaded.files.owners() | {f.owner for f in plan.files}
            plan = dataclasses.replace(plan, scope=frozenset(owners - {BOOT_OWNER, SHARED}))
        result = apply(plan, root, dry_run=dry_run, progress=progress, cache=update.cache,
                       loaded=loaded)
    return Synced(update, plan, result, len(loaded.files))


@contextmanager
def _locked(root: Path, dry_run: bool) -> Iterator[None]:
    """An exclusive lock on `root`'s sync state for the whole plan-and-apply (two frontends
    sharing a PostgreSQL inventory may sync the same tree; SQLite serialises them anyway)."""
    import fcntl
    import os

    from rocks.sync.state import STATE

    lock = root / (STATE + ".lock")
    if dry_run and not lock.parent.is_dir():
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
