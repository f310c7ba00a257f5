"""The inventory as `rocks.sync` input, and where sync writes.

The output root is ROCKS_SYNC_ROOT; when unset it is `<ROCKS_STATE>/root` if a state directory
was given (a test or trial setup must never rewrite this machine's /etc), else `/`.
Frontend facts come from global attributes, over the rolls' declared defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rocks.commands import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.sync.inputs import SyncInput
    from rocks.sync.plan import Plan


def sync_root(ctx: Context) -> Path:
    if ctx.env.get("ROCKS_SYNC_ROOT"):
        return Path(ctx.env["ROCKS_SYNC_ROOT"])
    if ctx.env.get("ROCKS_STATE"):
        return Path(ctx.env["ROCKS_STATE"]) / "root"
    return Path("/")


def global_settings(s: Session) -> dict[str, str]:
    """Global attributes over the bundled rolls' defaults."""
    from rocks.compiler.service import load_graph
    from rocks.inventory import queries as q

    values: dict[str, str] = {}
    for roll in load_graph().rolls:
        for a in roll.attributes:
            if not a.appliance:
                values.setdefault(a.name, a.value)
    values.update({a.name: a.value for a in q.list_attrs(s, "global")})
    return values


def sync_input(s: Session, settings: dict[str, str] | None = None) -> SyncInput:
    from rocks.inventory import queries as q
    from rocks.inventory.install import tokens
    from rocks.sync.inputs import BiosLoader, DhcpFlavour, Frontend, SyncInput, UefiLoader

    g = settings if settings is not None else global_settings(s)
    hosts = tuple(q.list_hosts(s))
    private_ip = g.get("Kickstart_PrivateKickstartHost", "10.1.1.1")
    # the frontend is the host that owns the frontend address, whatever its name
    owner = next((h.name for h in hosts if h.appliance == "frontend"
                  for i in h.interfaces if i.ip == private_ip), None)
    frontend = Frontend(
        name=owner or g.get("Kickstart_PrivateHostname", "frontend"),
        private_ip=private_ip,
        http_base=g.get("Kickstart_FrontendURL", "http://10.1.1.1:8080").rstrip("/"),
        dns_domain=g.get("Kickstart_PrivateDNSDomain", "local"),
        dns_servers=tuple(x for x in g.get("Kickstart_PrivateDNSServers", "").split(",") if x),
    )
    return SyncInput(
        frontend=frontend,
        networks=tuple(q.list_networks(s)),
        appliances=tuple(q.list_appliances(s)),
        hosts=hosts,
        boot_actions=tuple(q.list_bootactions(s)),
        tokens=tokens(s),
        dhcp=DhcpFlavour(g.get("sync_dhcp", "isc")),
        bios_loader=BiosLoader(g.get("sync_bios_loader", "pxelinux")),
        uefi_loader=UefiLoader(g.get("sync_uefi_loader", "grub")),
    )


def write_host_boot_files(ctx: Context, s: Session, hosts: Sequence[str]) -> None:
    """Plan the named hosts' boot files (and the shared files they appear in) and apply now."""
    from rocks.sync.apply import apply, disk_reader, reload
    from rocks.sync.plan import plan_hosts

    s.flush()
    root = sync_root(ctx)
    plan = plan_hosts(sync_input(s), hosts, previous=disk_reader(root))
    report_problems(ctx, plan)
    result = apply(plan, root)
    for message in reload(result.services_to_reload):
        ctx.stderr.write(message + "\n")


def report_problems(ctx: Context, plan: Plan) -> None:
    for d in plan.problems:
        ctx.warn(d.message, d.hint)
