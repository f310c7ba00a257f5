"""`rocks sync config`, the reports of what it would write, and discovery of new nodes."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from rocks.commands import Context, Result, Text, command, keyword, positional
from rocks.commands._hosts import expand_hosts
from rocks.commands._inventory import cluster_source, inventory_core, session
from rocks.commands._sync import reload_services, report_problems, sync_input, sync_root
from rocks.errors import RocksError

ROOT = keyword("root", default="", help="write under this directory instead of / "
                                        "(default: ROCKS_SYNC_ROOT, or <ROCKS_STATE>/root)")


def _root(ctx: Context, args: dict[str, Any]) -> Path:
    return Path(args["root"]) if args["root"] else sync_root(ctx)


@command(keyword("dry-run", bool, default=False, help="print the diff, write nothing"),
         keyword("loaders", bool, default=True,
                 help="copy boot loaders (pxelinux, GRUB, iPXE) from this system's packages"),
         keyword("full", bool, default=False,
                 help="plan every host, even those that did not change since the last sync"),
         ROOT,
         examples=("rocks sync config", "rocks sync config dry-run=yes"))
def sync_config(ctx: Context, args: dict[str, Any]) -> Result:
    """Make DHCP, DNS, /etc/hosts and the network-boot tree agree with the inventory.

    Only files whose content changed are written (temp file, fsync, rename); files of removed
    hosts are removed; only services whose files changed are reloaded. Hosts with problems (no
    MAC, an address outside its network, a duplicate) are reported and left out, never
    half-written. An explicit Kickstart_Private*/Public* attribute that disagrees with its
    network is a warning (the explicit value wins).

    Only the hosts that changed since the last sync are planned again (and the shared files
    they appear in); a change to the networks, appliances, boot actions or frontend settings
    replans everything, and so does full=yes. Every file sync manages is checked first: one
    edited or removed by hand is written again.
    """
    from rocks.commands._inventory import distro_dir, inventory_core
    from rocks.commands._progress import Progress
    from rocks.inventory.core import kea_hosts_in_database
    from rocks.siteconfig import global_settings, installer_files, network_warnings, sync_files
    from rocks.sync.inputs import BOOT_OWNER, DesiredFile, SyncInput

    db = inventory_core(ctx)
    root = _root(ctx, args)
    source = cluster_source(ctx)

    def extra(inp: SyncInput) -> tuple[list[DesiredFile], list[Any]]:
        from rocks.sync.bootloaders import bootloader_files

        files, problems = (bootloader_files(inp, Path("/")) if args["loaders"] else ([], []))
        return [*files, *installer_files(inp, distro_dir(ctx))], problems

    with Progress(ctx) as bar:
        bar.step("reading the inventory")
        settings = global_settings(db, source)
        ctx.report(network_warnings(db, settings))
        kea_db = kea_hosts_in_database(settings) and not args["dry-run"]
        if kea_db:
            _kea_database(ctx, session(ctx), settings, bar)  # before Kea is pointed at it
        bar.step("planning")
        done = sync_files(db, source, root, full=args["full"], extra=extra,
                          extra_owners=(BOOT_OWNER,), settings=settings, verify=True,
                          dry_run=args["dry-run"], progress=bar.callback())
        report_problems(ctx, done.plan)
        if kea_db:
            from rocks.dhcpdb import reconcile

            s = session(ctx)  # (core.connect leaves this site on the ORM path: Db.of(s))
            added, gone = reconcile(s, sync_input(s, source, settings))
            ctx.stderr.write(f"kea reservations in the database: {added} written, {gone} "
                             "removed\n")
    result = done.result
    if args["dry-run"]:
        return Text(result.diff)
    reload_services(ctx, root, result.services_to_reload)
    ctx.stderr.write(f"sync: {len(result.changed)} written, {len(result.removed)} removed, "
                     f"{done.unchanged} unchanged under {root}\n")
    return None


def _kea_database(ctx: Context, s: Any, settings: dict[str, str], bar: Any) -> None:
    """sync_kea_hosts=database: Kea's schema and role in the inventory's database, once."""
    from rocks.dhcpdb import prepare

    bar.step("Kea's host database")
    for line in prepare(s, settings):
        ctx.stderr.write(line + "\n")


def _report(ctx: Context, args: dict[str, Any], pick: str) -> Result:
    """Print the files sync would write whose path matches `pick` (hosts narrow the PXE part)."""
    from rocks.sync.apply import disk_reader
    from rocks.sync.plan import plan

    s = inventory_core(ctx)
    inp = sync_input(s, cluster_source(ctx))
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


_LEASE = re.compile(r"lease\s+([\d.]+)\s*\{([^}]*)\}", re.S)
_HW = re.compile(r"hardware ethernet\s+([0-9a-fA-F:]{17});")
_STARTS = re.compile(r"starts\s+([^;]*);")


def lease_entries(leases: Path) -> list[tuple[str, str, str]]:
    """(mac, address, when) of every lease in an ISC dhcpd leases file or a Kea memfile CSV, in
    file order; `when` is the lease's start (ISC) or expiry (Kea), so a new request for the same
    address is a new entry."""
    try:
        text = leases.read_text(errors="replace")
    except OSError:
        return []
    found: list[tuple[str, str, str]] = []
    for m in _LEASE.finditer(text):
        hw, starts = _HW.search(m.group(2)), _STARTS.search(m.group(2))
        if hw:
            found.append((hw.group(1).lower(), m.group(1), starts.group(1) if starts else ""))
    if text.startswith("address,"):
        import csv
        import io

        for row in csv.DictReader(io.StringIO(text)):
            mac = (row.get("hwaddr") or "").lower()
            if re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac):
                found.append((mac, row.get("address") or "", row.get("expire") or ""))
    return found


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
         keyword("reload-command", default="", metavar="COMMAND",
                 help="run this to reload the DHCP server after its configuration changed "
                      "(default: systemctl reload-or-restart, when writing under /)"),
         ROOT, examples=("rocks discover appliance=compute rack=0",
                         "rocks discover appliance=compute rack=1 max=16 duration=1800"))
def discover(ctx: Context, args: dict[str, Any]) -> Result:
    """Turn DHCP requests from unknown MACs into new hosts (Rocks' insert-ethers).

    For `duration` seconds (or until `max` hosts, or Ctrl-C) the DHCP server hands dynamic
    addresses to unknown machines; each MAC that asks for an address after discover started
    becomes host <appliance>-<rack>-<rank> with the next free address, set to install, and its
    boot files are written. MACs already in the leases file when it started are left alone.
    The DHCP server is reloaded when the range opens, after each new host, and when the range
    is withdrawn at the end. Progress goes to stderr; the new host names to stdout.
    """
    import ipaddress

    from rocks.commands._inventory import open_session_factory
    from rocks.inventory import queries as q
    from rocks.inventory.install import begin_install
    from rocks.model.inventory import Host, Interface
    from rocks.sync.inputs import Discovery

    root = _root(ctx, args)
    factory = open_session_factory(ctx)
    with factory() as s:
        net = q.get_network(s, args["network"])
        q.get_appliance(s, args["appliance"])
        flavour = sync_input(s, cluster_source(ctx)).dhcp.value
    first, last = _range(args["range"], ipaddress.ip_network(f"{net.subnet}/{net.netmask}"))
    discovery = Discovery(net.name, first, last)
    leases = Path(args["leases"]) if args["leases"] else _default_leases(flavour)
    say = ctx.stderr

    def resync(disc: Discovery | None) -> None:
        import dataclasses

        from rocks.sync.apply import apply, disk_reader
        from rocks.sync.plan import plan

        with factory() as s:
            inp = dataclasses.replace(sync_input(s, cluster_source(ctx)), discovery=disc)
            result = apply(plan(inp, previous=disk_reader(root)), root)
        for message in _reload(result.services_to_reload, root, args["reload-command"]):
            say.write(message + "\n")

    baseline = set(lease_entries(leases))  # what was asked before we started: not ours
    resync(discovery)
    limit = f" or {args['max']} hosts" if args["max"] else ""
    say.write(f"discover: listening on {leases} for new MACs on network {net.name} "
              f"(dynamic range {first}-{last}); new hosts: {args['appliance']}-{args['rack']}-N"
              f"; for {args['duration']:g} s{limit}, Ctrl-C to stop\n")
    say.flush()
    added: list[str] = []
    deadline = time.monotonic() + args["duration"]
    stopped = "time is up"
    try:
        while not (args["max"] and len(added) >= args["max"]):
            if time.monotonic() >= deadline:
                break
            entries = lease_entries(leases)
            fresh = [mac for mac, _, _ in dict.fromkeys(e for e in entries if e not in baseline)]
            baseline.update(entries)
            new_now = []
            if fresh:
                with factory() as s:
                    known = {i.mac for i in q.list_interfaces(s) if i.mac}
                    for mac in dict.fromkeys(fresh):
                        if mac in known or (args["max"] and len(added) >= args["max"]):
                            continue
                        rank = q.next_rank(s, args["appliance"], args["rack"])
                        name = f"{args['appliance']}-{args['rack']}-{rank}"
                        ip = q.next_ip(s, net.name)
                        q.add_host(s, Host(name, args["appliance"], args["rack"], rank,
                                           interfaces=(Interface(name, "eth0", mac, ip,
                                                                 net.name),)))
                        begin_install(s, name)
                        added.append(name)
                        new_now.append(f"discovered {mac}: {name} {ip} ({len(added)} new)")
                        known.add(mac)
            for line in new_now:
                say.write(line + "\n")
            if new_now:
                resync(discovery)
            say.flush()
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        else:
            stopped = f"{args['max']} new hosts"
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        resync(None)
    say.write(f"discover: {stopped}; {len(added)} new host(s)"
              f"{': ' + ', '.join(added) if added else ''}; dynamic range withdrawn\n")
    return Text("".join(f"{n}\n" for n in added))


def _reload(services: Any, root: Path, command: str) -> list[str]:
    """Reload the services whose files changed: the DHCP server with `command` when given,
    others (and DHCP without one) with systemd when the files are this machine's own (root /);
    a trial's files under another root are only reported."""
    from rocks.sync.apply import reload

    wanted = sorted(set(services))
    dhcp = [w for w in wanted if w in ("dhcpd", "kea")]
    messages = []
    if command and dhcp:
        wanted = [w for w in wanted if w not in dhcp]
        messages.append(_run_reload(command, dhcp))
    if not wanted:
        return messages
    if root.resolve() != Path("/"):
        return [*messages, f"configuration written under {root}; not reloading "
                f"{', '.join(wanted)} (reload-command= reloads the DHCP server that reads it)"]
    return [*messages, *reload(wanted)]


def _run_reload(command: str, wanted: list[str]) -> str:
    import shlex
    import subprocess

    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return f"reload command failed: {exc}"
    if done.returncode:
        return f"reload command exited {done.returncode}: {done.stderr.strip()[:200]}"
    return f"reloaded {', '.join(wanted)} ({command})"


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
