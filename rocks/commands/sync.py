"""`rocks sync config`, the reports of what it would write, and discovery of new nodes."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from rocks.commands import Context, Result, Text, command, keyword, positional
from rocks.commands._hosts import expand_hosts
from rocks.commands._inventory import session
from rocks.commands._sync import reload_services, report_problems, sync_input, sync_root
from rocks.errors import RocksError

ROOT = keyword("root", default="", help="write under this directory instead of / "
                                        "(default: ROCKS_SYNC_ROOT, or <ROCKS_STATE>/root)")


def _root(ctx: Context, args: dict[str, Any]) -> Path:
    return Path(args["root"]) if args["root"] else sync_root(ctx)


@command(keyword("dry-run", bool, default=False, help="print the diff, write nothing"),
         keyword("loaders", bool, default=True,
                 help="copy boot loaders (pxelinux, GRUB, iPXE) from this system's packages"),
         ROOT,
         examples=("rocks sync config", "rocks sync config dry-run=yes"))
def sync_config(ctx: Context, args: dict[str, Any]) -> Result:
    """Make DHCP, DNS, /etc/hosts and the network-boot tree agree with the inventory.

    Only files whose content changed are written (temp file, fsync, rename); files of removed
    hosts are removed; only services whose files changed are reloaded. Hosts with problems (no
    MAC, an address outside its network, a duplicate) are reported and left out, never
    half-written. An explicit Kickstart_Private*/Public* attribute that disagrees with its
    network is a warning (the explicit value wins).
    """
    from rocks.commands._inventory import distro_dir
    from rocks.commands._progress import Progress
    from rocks.siteconfig import global_settings, installer_files, network_warnings
    from rocks.sync.apply import apply, disk_reader
    from rocks.sync.plan import plan

    s = session(ctx)
    root = _root(ctx, args)
    with Progress(ctx) as bar:
        bar.step("reading the inventory")
        settings = global_settings(s)
        inp = sync_input(s, settings)
        ctx.report(network_warnings(s, settings))
        bar.step(f"planning ({len(inp.hosts)} hosts)")
        p = plan(inp, previous=disk_reader(root),
                 sysroot=Path("/") if args["loaders"] else None)
        p = p.extended(installer_files(inp, distro_dir(ctx)))
        report_problems(ctx, p)
        result = apply(p, root, dry_run=args["dry-run"], progress=bar.callback())
    if args["dry-run"]:
        return Text(result.diff)
    reload_services(ctx, root, result.services_to_reload)
    ctx.stderr.write(f"sync: {len(result.changed)} written, {len(result.removed)} removed, "
                     f"{result.unchanged} unchanged under {root}\n")
    return None


def _report(ctx: Context, args: dict[str, Any], pick: str) -> Result:
    """Print the files sync would write whose path matches `pick` (hosts narrow the PXE part)."""
    from rocks.sync.apply import disk_reader
    from rocks.sync.plan import plan

    s = session(ctx)
    inp = sync_input(s)
    owners = set(expand_hosts(s, args["hosts"])) if args.get("hosts") else None
    if owners is not None and pick != "tftpboot":
        import dataclasses

        # the shared files as they would be written for these hosts alone
        inp = dataclasses.replace(inp, hosts=tuple(h for h in inp.hosts if h.name in owners))
    p = plan(inp, previous=disk_reader(_root(ctx, args)))
    report_problems(ctx, p)
    out = []
    for f in sorted(p.files, key=lambda f: f.path):
        if not re.search(pick, f.path):
            continue
        if owners is not None and f.owner and f.owner not in owners:
            continue
        out.append(f"# {f.path}\n{f.content.decode()}")
        if not out[-1].endswith("\n"):
            out[-1] += "\n"
    if pick == "tftpboot" and owners is not None:
        from rocks.sync.pxe import ipxe_script

        for h in inp.hosts:
            if h.name in owners:
                out.append(f"# iPXE script for {h.name} (/boot/ipxe?mac=...)\n"
                           f"{ipxe_script(inp, h)}")
    return Text("".join(out))


HOSTS = positional("hosts", many=True, default=(), metavar="HOST",
                   help="host names, appliance names, rackN or globs (none: all hosts)")


@command(HOSTS, ROOT, examples=("rocks report host dhcpd", "rocks report host dhcpd compute-0-0"))
def report_host_dhcpd(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the DHCP server configuration (ISC dhcpd or Kea, per attribute sync_dhcp); with
    hosts, the configuration as it would be with those hosts alone."""
    return _report(ctx, args, r"^etc/(dhcp|kea)/")


@command(HOSTS, ROOT, examples=("rocks report host dns", "rocks report host dns rack0"))
def report_host_dns(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the DNS zone files and the named.conf fragment sync would write; with hosts, the
    zones as they would be with those hosts alone."""
    return _report(ctx, args, r"^(var/named|etc/named)/")


@command(HOSTS, ROOT, examples=("rocks report host hosts", "rocks report host hosts compute"))
def report_host_hosts(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the /etc/hosts sync would write (with etc/hosts.local appended); with hosts, only
    their lines."""
    return _report(ctx, args, r"^etc/hosts$")


@command(HOSTS, ROOT, examples=("rocks report host pxe compute-0-0",))
def report_host_pxe(ctx: Context, args: dict[str, Any]) -> Result:
    """Print hosts' network-boot files (pxelinux, GRUB) and iPXE scripts."""
    return _report(ctx, args, "tftpboot")


_LEASE = re.compile(r"lease\s+([\d.]+)\s*\{[^}]*?hardware ethernet\s+([0-9a-fA-F:]+);", re.S)
_KEA_LEASE = re.compile(r"^([\d.]+),([0-9a-fA-F:]{17}),", re.M)


def seen_macs(leases: Path) -> list[str]:
    """MACs that asked for an address, from an ISC dhcpd leases file or a Kea memfile CSV."""
    try:
        text = leases.read_text()
    except OSError:
        return []
    found = [m.group(2) for m in _LEASE.finditer(text)] + [m.group(2) for m in
                                                          _KEA_LEASE.finditer(text)]
    return list(dict.fromkeys(mac.lower() for mac in found))


@command(keyword("appliance", help="appliance of the new hosts"),
         keyword("rack", int, default=0, help="rack of the new hosts"),
         keyword("network", default="private", help="the network new hosts boot on"),
         keyword("range", default="", metavar="FIRST-LAST",
                 help="dynamic addresses for unknown machines while discovering "
                      "(default: the 32 lowest host addresses after .10)"),
         keyword("duration", float, default=600.0, help="seconds to listen before stopping"),
         keyword("leases", default="",
                 help="DHCP leases file to watch (default: /var/lib/dhcp/dhcpd.leases, or "
                      "/var/lib/kea/kea-leases4.csv with Kea)"),
         keyword("max", int, default=0, help="stop after this many new hosts (0: no limit)"),
         ROOT, examples=("rocks discover appliance=compute rack=0",))
def discover(ctx: Context, args: dict[str, Any]) -> Result:
    """Turn DHCP requests from unknown MACs into new hosts (Rocks' insert-ethers).

    For `duration` seconds the DHCP server hands dynamic addresses to unknown machines; each new
    MAC becomes host <appliance>-<rack>-<rank> with the next free address, set to install, and
    its boot files are written. Afterwards the dynamic range is withdrawn.
    """
    import ipaddress

    from rocks.commands._inventory import open_session_factory
    from rocks.inventory import queries as q
    from rocks.inventory.install import begin_install
    from rocks.model.inventory import Host, Interface
    from rocks.sync.apply import apply, disk_reader
    from rocks.sync.inputs import Discovery
    from rocks.sync.plan import plan

    root = _root(ctx, args)
    with open_session_factory(ctx)() as s:
        net = q.get_network(s, args["network"])
        q.get_appliance(s, args["appliance"])
    first, last = _range(args["range"], ipaddress.ip_network(f"{net.subnet}/{net.netmask}"))
    discovery = Discovery(net.name, first, last)

    def resync(disc: Discovery | None) -> None:
        import dataclasses

        with open_session_factory(ctx)() as s:
            inp = dataclasses.replace(sync_input(s), discovery=disc)
            apply(plan(inp, previous=disk_reader(root)), root)

    resync(discovery)
    leases = Path(args["leases"]) if args["leases"] else None
    added: list[str] = []
    deadline = time.monotonic() + args["duration"]
    try:
        while time.monotonic() < deadline and not (args["max"] and len(added) >= args["max"]):
            with open_session_factory(ctx)() as s:
                if leases is None:
                    leases = _default_leases(sync_input(s).dhcp.value)
                known = {i.mac for i in q.list_interfaces(s) if i.mac}
                for mac in seen_macs(leases):
                    if mac in known or (args["max"] and len(added) >= args["max"]):
                        continue
                    rank = q.next_rank(s, args["appliance"], args["rack"])
                    name = f"{args['appliance']}-{args['rack']}-{rank}"
                    ip = q.next_ip(s, net.name)
                    q.add_host(s, Host(name, args["appliance"], args["rack"], rank,
                                       interfaces=(Interface(name, "eth0", mac, ip, net.name),)))
                    begin_install(s, name)
                    added.append(name)
                    ctx.stderr.write(f"discovered {mac}: {name} {ip}\n")
                    known.add(mac)
            if added:
                resync(discovery)
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    finally:
        resync(None)
    return Text("".join(f"{n}\n" for n in added))


def _default_leases(flavour: str) -> Path:
    if flavour == "kea":
        return Path("/var/lib/kea/kea-leases4.csv")
    return Path("/var/lib/dhcp/dhcpd.leases")


def _range(text: str, net: Any) -> tuple[str, str]:
    import ipaddress

    if text:
        try:
            a, b = (ipaddress.IPv4Address(x.strip()) for x in text.split("-", 1))
        except ValueError:
            raise RocksError.of("bad-range", f'range "{text}" is not FIRST-LAST',
                                hint="e.g. range=10.1.200.1-10.1.200.50") from None
        if a not in net or b not in net or a > b:
            raise RocksError.of("bad-range", f"range {text} is not inside {net}")
        return str(a), str(b)
    hosts = list(net.hosts())
    return str(hosts[10]), str(hosts[41])
