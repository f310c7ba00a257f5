"""Host commands: add, remove, list and change hosts, their boot state and their interfaces.

Each command is one inventory transaction; every check happens before the first write, and any
error rolls the whole command back. Host arguments expand like Rocks (see `_hosts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Rows, Text, _power, command, keyword, positional
from rocks.commands._hosts import expand_hosts
from rocks.commands._inventory import inventory_core, session
from rocks.commands._lookup import need_appliance, need_bootaction, need_network
from rocks.errors import RocksError
from rocks.model.inventory import BootChoice

if TYPE_CHECKING:
    from rocks.inventory.core import Db
    from rocks.inventory.db import Session

HOSTS = positional("hosts", many=True, metavar="HOST",
                   help="host names, appliance names, rackN or globs")
SOME_HOSTS = positional("hosts", many=True, default=(), metavar="HOST",
                        help="host names, appliance names, rackN or globs (none: all hosts)")
ONE_HOST = positional("host", help="a host name")
IFACE = keyword("iface", positional_ok=True, metavar="DEVICE", help="interface device, e.g. eth0")
SYNC = keyword("sync", bool, default=True,
               help="make the host's DHCP, DNS and /etc/hosts entries and boot files follow "
                    "now (no: not until `rocks sync config`)")


def _one_host(s: Session | Db, word: str) -> str:
    """Exactly one existing host (no appliance names, racks or globs)."""
    names = expand_hosts(s, [word])
    if names != [word]:
        raise RocksError.of(
            "one-host", f'"{word}" names {len(names)} hosts; this command takes one host name',
            hint="give a single host name (rocks list host)")
    return word


# ---------------------------------------------------------------------------- hosts


@command(
    positional("host", default="", help="new host name (none: <appliance>-<rack>-<next rank>)"),
    keyword("appliance", default="", help="the host's appliance (default: from the name)"),
    keyword("rack", int, default=None, help="rack number (default: from the name, else 0)"),
    keyword("rank", int, default=None,
            help="rank in the rack (default: from the name, else the next free one)"),
    keyword("os", default="linux", help="operating system"),
    keyword("installaction", default="install", help="boot action used to install"),
    keyword("runaction", default="os", help="boot action used to run"),
    keyword("comment", default="", help="free text"),
    examples=("rocks add host compute-0-0",
              "rocks add host node7 appliance=compute rack=1 rank=7",
              "rocks add host appliance=compute rack=0"),
)
def add_host(ctx: Context, args: dict[str, Any]) -> Result:
    """Add a host.

    A name of the form <appliance>-<rack>-<rank> gives the appliance, rack and rank when they
    are not given. Without a name, the host gets the next free rank in its rack and is named
    <appliance>-<rack>-<rank>; the new name is printed.
    """
    from rocks.inventory.hostedit import new_host

    added = new_host(inventory_core(ctx), args["host"], appliance=args["appliance"],
                     rack=args["rack"], rank=args["rank"], os=args["os"],
                     install_action=args["installaction"], run_action=args["runaction"],
                     comment=args["comment"])
    return None if args["host"] else Text(f"{added}\n")


@command(HOSTS,
         keyword("sync", bool, default=True,
                 help="rewrite DHCP, DNS, /etc/hosts and the hosts' boot files now "
                      "(no: leave them, and say that `rocks sync config` is needed)"),
         examples=("rocks remove host compute-0-0", "rocks remove host rack1",
                   "rocks remove host rack1 sync=no"))
def remove_host(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove hosts, with their interfaces, attributes, install events and profiles.

    As in Rocks, the frontend's files follow at once: the DHCP configuration, DNS zones and
    /etc/hosts are rewritten without the hosts, and their network-boot files are removed, in
    the same transaction (if writing fails, nothing is removed). sync=no only changes the
    inventory and says that a sync is needed.
    """
    from rocks.commands._progress import Progress, plural
    from rocks.commands._sync import boot_where, reload_services
    from rocks.hostops import remove_hosts

    s = session(ctx)
    names = expand_hosts(s, args["hosts"])
    where = boot_where(ctx)
    with Progress(ctx, enabled=len(names) > 1) as progress:
        change = remove_hosts(s, where, names, ctx.warn, sync=args["sync"], steps=progress)
    if not args["sync"]:
        return Text(f"{plural(len(names), 'host')} removed (not synced: DHCP, DNS, "
                    "/etc/hosts and boot files still name them until `rocks sync config`)\n")
    reload_services(ctx, where.sync_root, change.reload)
    written = change.written - change.removed
    return Text(f"{plural(len(names), 'host')} removed (sync: "
                f"{plural(written, 'file')} written, {change.removed} removed)\n")


_HOST_COLUMNS = ("host", "appliance", "rack", "rank", "os", "boot", "installaction", "runaction",
                 "comment")


@command(SOME_HOSTS, tabular=True, examples=("rocks list host", "rocks list host compute"))
def list_host(ctx: Context, args: dict[str, Any]) -> Result:
    """List hosts: appliance, rack, rank, os, boot state, boot actions and comment."""
    from rocks.inventory import core

    db = inventory_core(ctx)
    rows = core.host_table(db)
    if args["hosts"]:
        wanted = set(expand_hosts(db, args["hosts"]))
        rows = [r for r in rows if r[0] in wanted]
    return Rows(_HOST_COLUMNS, ((*r[:8], r[8] or None) for r in rows))


def _update_each(ctx: Context, args: dict[str, Any], **fields: Any) -> list[str]:
    """Set the same fields on every named host: one UPDATE, whatever their number."""
    from rocks.inventory.bootstate import update_hosts

    s = session(ctx)
    names = expand_hosts(s, args["hosts"])
    if "appliance" in fields:
        from rocks.inventory.lookup import appliance_id

        fields["appliance_id"] = appliance_id(s, fields.pop("appliance"))
    update_hosts(s, names, **fields)
    return names


@command(HOSTS, keyword("rack", int, positional_ok=True, help="the new rack"),
         examples=("rocks set host rack compute-0-0 rack=1",))
def set_host_rack(ctx: Context, args: dict[str, Any]) -> Result:
    """Move hosts to another rack."""
    _update_each(ctx, args, rack=args["rack"])
    return None


@command(HOSTS, keyword("rank", int, positional_ok=True, help="the new rank"),
         examples=("rocks set host rank compute-0-0 rank=4",))
def set_host_rank(ctx: Context, args: dict[str, Any]) -> Result:
    """Set hosts' rank within their rack."""
    _update_each(ctx, args, rank=args["rank"])
    return None


@command(HOSTS,
         keyword("appliance", positional_ok=True, help="an appliance (rocks list appliance)"),
         examples=("rocks set host appliance compute-0-0 appliance=login",))
def set_host_appliance(ctx: Context, args: dict[str, Any]) -> Result:
    """Change hosts' appliance."""
    need_appliance(session(ctx), args["appliance"])
    _update_each(ctx, args, appliance=args["appliance"])
    return None


@command(HOSTS, keyword("comment", positional_ok=True, help="free text ('' clears it)"),
         examples=('rocks set host comment compute-0-0 comment="bad fan"',))
def set_host_comment(ctx: Context, args: dict[str, Any]) -> Result:
    """Set hosts' comment."""
    _update_each(ctx, args, comment=args["comment"])
    return None


@command(HOSTS, keyword("action", positional_ok=True, help="a boot action (rocks list bootaction)"),
         examples=("rocks set host installaction compute-0-0 action=install",))
def set_host_installaction(ctx: Context, args: dict[str, Any]) -> Result:
    """Set the boot action hosts use when they install."""
    need_bootaction(session(ctx), args["action"])
    _update_each(ctx, args, install_action=args["action"])
    return None


@command(HOSTS, keyword("action", positional_ok=True, help="a boot action (rocks list bootaction)"),
         examples=("rocks set host runaction compute-0-0 action=os",))
def set_host_runaction(ctx: Context, args: dict[str, Any]) -> Result:
    """Set the boot action hosts use when they run their installed system."""
    need_bootaction(session(ctx), args["action"])
    _update_each(ctx, args, run_action=args["action"])
    return None


@command(ONE_HOST, keyword("name", positional_ok=True, help="the new host name"),
         examples=("rocks set host name compute-0-0 name=gpu-0-0",))
def set_host_name(ctx: Context, args: dict[str, Any]) -> Result:
    """Rename a host; its interfaces, attributes and history stay with it."""
    from rocks.inventory.hosts import rename_host

    s = session(ctx)
    rename_host(s, _one_host(s, args["host"]), args["name"])
    return None


@command(HOSTS, keyword("action", BootChoice, positional_ok=True,
                        help="install: reinstall at next boot; os: boot the installed system; "
                             "stateless: boot the appliance's image (rocks create image)"),
         keyword("force", bool, default=False,
                 help="install even if the packages check against the distribution fails"),
         keyword("reboot", bool, default=False,
                 help="then, through each host's BMC, set its next boot to PXE and power-cycle"),
         _power.TIMEOUT, _power.THREADS,
         examples=("rocks set host boot compute-0-0 action=install",
                   "rocks set host boot rack3 action=install reboot=yes",
                   "rocks set host boot rack0 action=os",
                   "rocks set host boot compute action=stateless"))
def set_host_boot(ctx: Context, args: dict[str, Any]) -> Result:
    """Choose what hosts do at their next PXE boot: install, boot their os, or run stateless.

    install: each host gets a new one-time token for its kickstart, and its %packages are first
    depsolved against the distribution (refused with the reasons if that fails; force=yes
    overrides). os: the token is spent. stateless: each host boots its appliance's newest
    image (rocks create image) over the network and runs from memory; a token each identifies
    it when the image fetches the host's own state; install or os later go back to the disk.
    reboot=yes: once the boot action is saved, each host's BMC is told to boot from the network
    next and the host is power-cycled (switched on when off) — a rack reinstalls with this one
    command. Power results are reported like `rocks set host power`; the boot action stays set
    for hosts whose BMC failed (exit status 2), so a rerun or a manual reboot completes them.
    """
    from rocks.commands._progress import Progress, plural
    from rocks.commands._sync import boot_where, reload_services
    from rocks.hostops import needs_package_check, set_boot

    if args["reboot"]:
        _power.check_limits(args)
    action = BootChoice(args["action"])
    where = boot_where(ctx)
    # the package check compiles the hosts' profiles (the ORM session and the compiler);
    # without one, the inventory is read and written in plain SQL
    s: Any = session(ctx) if needs_package_check(where, action, args["force"]) or \
        args["reboot"] else inventory_core(ctx)
    names = expand_hosts(s, args["hosts"])
    with Progress(ctx, enabled=len(names) > 1) as progress:
        # one statement (tokens issued or spent), the package check, one batch of boot files
        change = set_boot(s, where, names, action, force=args["force"], warn=ctx.warn,
                          steps=progress)
    reload_services(ctx, where.sync_root, change.reload)
    if args["reboot"]:
        from rocks.power.model import Action, NextBoot

        s.commit()  # the frontend must see the install before the node asks for it
        bmcs, missing = _power.bmc_targets(s, names)
        s.commit()  # hold no transaction while BMCs are talked to
        _power.finish(ctx, _power.run(bmcs, missing, Action.CYCLE, NextBoot.PXE, args))
    return Text(f"{plural(len(names), 'host')} set to {action.value}\n")


@command(SOME_HOSTS, tabular=True, examples=("rocks list host boot",))
def list_host_boot(ctx: Context, args: dict[str, Any]) -> Result:
    """List what each host does at its next PXE boot (install or os)."""
    from rocks.inventory.names import host_boots

    s = session(ctx)
    rows = host_boots(s)
    if args["hosts"]:
        wanted = set(expand_hosts(s, args["hosts"]))
        rows = [r for r in rows if r[0] in wanted]
    return Rows(("host", "action"), (tuple(r) for r in rows))


# ---------------------------------------------------------------------------- interfaces


def _vlan(raw: str) -> int | None:
    if raw.strip().lower() in ("", "none"):
        return None
    try:
        value = int(raw, 10)
    except ValueError:
        raise ValueError(f'"{raw}" is not a VLAN id (1-4094, or none)') from None
    if not 1 <= value <= 4094:
        raise ValueError(f'"{raw}" is not a VLAN id (1-4094, or none)')
    return value


def _cleared(value: str) -> str:
    """`none` (Rocks' way of saying NULL) and '' clear a field."""
    return "" if value.strip().lower() in ("", "none", "null") else value


def _network_for(s: Session | Db, host: str, device: str, ip: str) -> str:
    """The one network whose subnet holds `ip` (when ip= is given without network=)."""
    from rocks.inventory import core
    from rocks.inventory.validate import parse_ip, parse_network

    address = parse_ip(ip, host)
    nets = [n.name for n in core.networks(core.Db.of(s))
            if address in parse_network(n.name, n.subnet, n.netmask)]
    if len(nets) != 1:
        found = "no network holds it" if not nets else "networks " + ", ".join(nets) + " hold it"
        raise RocksError.of("missing-network",
                            f"host {host} {device}: ip {address} needs network= ({found})",
                            hint="see `rocks list network`")
    return nets[0]


@command(
    ONE_HOST, IFACE,
    keyword("ip", default="", help="address on network="),
    keyword("mac", default="", help="Ethernet address"),
    keyword("network", default="", help="a network (default: the one holding ip=)"),
    keyword("name", default="", help="host name on that network (default: the host's)"),
    keyword("module", default="", help="driver module"),
    keyword("vlan", _vlan, default=None, metavar="integer", help="VLAN id"),
    keyword("options", default="", help="driver or bonding options"),
    keyword("default", bool, default=False, help="the interface with the default route"),
    keyword("bmc", default=None, choices=("ipmi", "redfish"),
            help="this interface is the host's BMC, spoken to with this protocol"),
    SYNC,
    examples=("rocks add host interface compute-0-0 eth0 ip=10.1.255.254 "
              "mac=52:54:00:00:00:01 network=private",
              "rocks add host interface compute-0-0 ipmi ip=10.2.0.10 mac=52:54:00:00:01:01 "
              "network=ipmi bmc=ipmi"),
)
def add_host_interface(ctx: Context, args: dict[str, Any]) -> Result:
    """Add a network interface to a host.

    bmc=ipmi|redfish makes it the host's baseboard management controller (one per host): it
    gets its DHCP reservation and DNS name (<host>-<device> unless name= says otherwise) but is
    never the host's own address; power and console commands reach the host through it, with
    the credentials of the bmc_username and bmc_password attributes.

    The host's DHCP, DNS and /etc/hosts entries and boot files follow at once (sync=no: not
    until `rocks sync config`).
    """
    from rocks.inventory import core
    from rocks.model.inventory import Interface

    s = inventory_core(ctx)
    host, device = _one_host(s, args["host"]), args["iface"]
    network = args["network"]
    if network:
        need_network(s, network)
    elif args["ip"]:
        network = _network_for(s, host, device, args["ip"])
    if args["bmc"]:
        other = [i.device for i in core.interfaces_of(s, host) if i.bmc]
        if other:
            raise RocksError.of("duplicate-bmc", f"host {host} already has a BMC ({other[0]})",
                                hint=f"rocks remove host interface {host} {other[0]}")
    core.add_interface(s, Interface(host, device, args["mac"], args["ip"], network,
                                    name=args["name"], module=args["module"],
                                    vlan=args["vlan"], options=args["options"],
                                    default_gateway=args["default"], bmc=args["bmc"] or ""))
    _live(ctx, s, [host], args)
    return None


@command(ONE_HOST, IFACE, SYNC,
         examples=("rocks remove host interface compute-0-0 eth1",))
def remove_host_interface(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove an interface from a host (its DHCP, DNS and boot entries go at once; sync=no:
    not until `rocks sync config`)."""
    from rocks.inventory import core

    s = inventory_core(ctx)
    host = _one_host(s, args["host"])
    core.remove_interface(s, host, args["iface"])
    _live(ctx, s, [host], args)
    return None


_IFACE_COLUMNS = ("host", "device", "mac", "ip", "network", "name", "module", "vlan", "options",
                  "bmc")


@command(SOME_HOSTS, tabular=True,
         examples=("rocks list host interface", "rocks list host interface compute-0-0"))
def list_host_interface(ctx: Context, args: dict[str, Any]) -> Result:
    """List hosts' interfaces: device, MAC, IP, network, name, module, VLAN and options."""
    from rocks.inventory import queries as q

    s = session(ctx)
    interfaces = q.list_interfaces(s)
    if args["hosts"]:
        wanted = set(expand_hosts(s, args["hosts"]))
        interfaces = [i for i in interfaces if i.host in wanted]
    return Rows(_IFACE_COLUMNS, (
        (i.host, i.device, i.mac or None, i.ip or None, i.network or None, i.name or None,
         i.module or None, i.vlan, i.options or None, i.bmc or None) for i in interfaces))


def _live(ctx: Context, s: Any, hosts: Sequence[str], args: dict[str, Any]) -> None:
    """Make the hosts' files follow the change now (Rocks synced on change): theirs and the
    shared files they appear in, incrementally (rocks.hostops.write_boot_files)."""
    if not args.get("sync", True):
        return
    from rocks.commands._sync import write_host_boot_files

    # an interface added or changed before its MAC is known (Rocks' discovery fills it in) is
    # no news; `rocks sync config` and `set host boot` still say so
    write_host_boot_files(ctx, s, hosts, quiet=("sync.no-mac",))


def _set_interface(ctx: Context, args: dict[str, Any], hosts: Sequence[str], device: str,
                   **change: Any) -> None:
    from rocks.inventory import core

    s = inventory_core(ctx)
    for host in hosts:
        core.update_interface(s, host, device, **change)
    if {"mac", "ip", "network", "new_device"} & set(change):  # what sync writes
        _live(ctx, s, hosts, args)


def _set_one(ctx: Context, args: dict[str, Any], **change: Any) -> None:
    s = inventory_core(ctx)
    _set_interface(ctx, args, [_one_host(s, args["host"])], args["iface"], **change)


def _set_many(ctx: Context, args: dict[str, Any], **change: Any) -> None:
    """Several hosts: change those that have the interface (at least one must)."""
    from rocks.inventory import core

    s = inventory_core(ctx)
    hosts = expand_hosts(s, args["hosts"])
    if len(hosts) > 1:
        having = core.hosts_with_interface(s, hosts, args["iface"])
        hosts = [h for h in hosts if h in having] or hosts[:1]
    _set_interface(ctx, args, hosts, args["iface"], **change)


@command(ONE_HOST, IFACE, keyword("ip", positional_ok=True, help="the address (none: clear)"),
         SYNC,
         examples=("rocks set host interface ip compute-0-0 eth0 10.1.255.250",
                   "rocks set host interface ip compute-0-0 iface=eth0 ip=10.1.255.250"))
def set_host_interface_ip(ctx: Context, args: dict[str, Any]) -> Result:
    """Set an interface's IP address (inside its network, unused there); DHCP, DNS,
    /etc/hosts and the boot files follow at once (sync=no: not until `rocks sync config`)."""
    _set_one(ctx, args, ip=_cleared(args["ip"]))
    return None


@command(ONE_HOST, IFACE, keyword("mac", positional_ok=True, help="the MAC (none: clear)"),
         SYNC,
         examples=("rocks set host interface mac compute-0-0 eth0 52:54:00:00:00:02",))
def set_host_interface_mac(ctx: Context, args: dict[str, Any]) -> Result:
    """Set an interface's MAC address; DHCP and the boot files follow at once (sync=no: not
    until `rocks sync config`)."""
    _set_one(ctx, args, mac=_cleared(args["mac"]))
    return None


@command(HOSTS, IFACE,
         keyword("network", positional_ok=True, help="a network (rocks list network; none: clear)"),
         SYNC,
         examples=("rocks set host interface network compute-0-0 eth1 ipmi",))
def set_host_interface_network(ctx: Context, args: dict[str, Any]) -> Result:
    """Move interfaces to another network (their address must be inside it)."""
    network = _cleared(args["network"])
    if network:
        need_network(inventory_core(ctx), network)
    _set_many(ctx, args, network=network)
    return None


@command(ONE_HOST,
         keyword("iface", positional_ok=True, metavar="DEVICE", help="the new device name"),
         keyword("mac", positional_ok=True, help="the MAC of the interface to rename"),
         SYNC,
         examples=("rocks set host interface iface compute-0-0 iface=eth1 "
                   "mac=52:54:00:00:00:01",))
def set_host_interface_iface(ctx: Context, args: dict[str, Any]) -> Result:
    """Rename the device of the interface with MAC mac= (Rocks' way of naming a found NIC)."""
    from rocks.inventory import core
    from rocks.inventory.validate import normalise_mac

    s = inventory_core(ctx)
    host = _one_host(s, args["host"])
    mac = normalise_mac(args["mac"], host)
    match = [i for i in core.interfaces_of(s, host) if i.mac == mac]
    if not match:
        raise RocksError.of("unknown-interface", f"host {host} has no interface with MAC {mac}",
                            hint=f"see `rocks list host interface {host}`")
    _set_interface(ctx, args, [host], match[0].device, new_device=args["iface"])
    return None


@command(HOSTS, IFACE, keyword("module", positional_ok=True, help="driver module (none: clear)"),
         examples=("rocks set host interface module compute eth0 e1000",))
def set_host_interface_module(ctx: Context, args: dict[str, Any]) -> Result:
    """Set interfaces' driver module."""
    _set_many(ctx, args, module=_cleared(args["module"]))
    return None


@command(HOSTS, IFACE, keyword("vlan", _vlan, positional_ok=True, metavar="integer|none",
                               help="VLAN id (none: clear)"),
         examples=("rocks set host interface vlan compute-0-0 eth1 7",))
def set_host_interface_vlan(ctx: Context, args: dict[str, Any]) -> Result:
    """Set interfaces' VLAN id."""
    _set_many(ctx, args, vlan=args["vlan"])
    return None


@command(HOSTS, IFACE, keyword("options", positional_ok=True, help="options (none: clear)"),
         examples=('rocks set host interface options compute-0-0 eth0 options="mode=4"',))
def set_host_interface_options(ctx: Context, args: dict[str, Any]) -> Result:
    """Set interfaces' driver or bonding options."""
    _set_many(ctx, args, options=_cleared(args["options"]))
    return None
