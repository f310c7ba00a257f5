"""Inventory files: `load hostfile`, `load attrfile`, and `dump`, which prints both plus the
site graph and the `rocks` commands a restore runs first. The planning (every row checked, every
bad row reported as file:line, then nothing loaded) is the inventory's: rocks.inventory.hostfile.
load → dump → load is a fixed point.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Text, command, keyword, positional
from rocks.commands._inventory import cluster_source, session
from rocks.inventory.hostfile import (
    HOST_OPTIONAL,
    HOST_REQUIRED,
    IFACE_OPTIONAL,
    plan_attrfile,
    plan_hostfile,
    show_target,
)
from rocks.model.inventory import Attribute, Host, Interface

if TYPE_CHECKING:
    from rocks.inventory.db import Session
    from rocks.profiles import ClusterSource
DRY_RUN = keyword("dry-run", bool, default=False,
                  help="only print what would change; write nothing")


def _summary(noun: str, added: int, changed: int, unchanged: int, dry: bool) -> str:
    note = " (dry run: nothing written)" if dry else ""
    return f"{noun}: {added} added, {changed} changed, {unchanged} unchanged{note}\n"


@command(
    positional("file", metavar="FILE.csv", help="the host file"),
    DRY_RUN,
    examples=("rocks load hostfile hosts.csv dry-run=yes", "rocks load hostfile hosts.csv"),
)
def load_hostfile(ctx: Context, args: dict[str, Any]) -> Result:
    """Add or update hosts and their interfaces from a spreadsheet (CSV) with a header row.

    Required columns: name,appliance,rack,rank,interface,ip,mac,network. Optional: default
    (yes/no: the default-gateway interface), ifname (the host's name on that network), module,
    vlan, options, bmc (ipmi|redfish: this row's interface is the host's BMC, e.g. interface
    ipmi on network ipmi; its credentials are the bmc_username/bmc_password attributes), os,
    installaction, runaction, boot (install|os), comment, and attr:<name> (a host attribute,
    checked against the type its roll declares and stored secret when the roll declares it
    secret; an empty cell sets nothing). Column names are
    case-insensitive; blank lines and lines starting with # are skipped. One row per
    interface: a host's rows must agree on its host columns (an empty cell agrees with
    anything); a host without interfaces has one row with the interface columns empty; mac
    and ip may be empty.

    A host already in the inventory ends up as the file describes it: its host columns are
    set, its interfaces replaced by the file's (those not in the file are removed), attr:
    columns set (other attributes are kept). A column the file lacks keeps the current value.
    The same data changes nothing. Hosts not in the file are left alone.

    Every row is checked first (appliance, network, boot action, IP inside its network, MAC,
    duplicate MACs and IPs in the file and against the inventory) and every bad row reported
    as FILE:LINE; then nothing is loaded. Secret attributes: use `rocks load attrfile`.
    """
    from rocks.commands._attrtypes import declarations
    from rocks.commands._progress import Progress
    from rocks.inventory import queries as q
    from rocks.inventory.bulk import replace_hosts_bulk, set_attrs_bulk

    s = session(ctx)
    with Progress(ctx) as bar:
        bar.step("checking every row")
        plan = plan_hostfile(s, args["file"], declarations(ctx, s))
        changed = len(plan.report) - len(plan.new)
        summary = _summary("hosts", len(plan.new), changed, plan.unchanged, args["dry-run"])
        if args["dry-run"]:
            return Text("".join(f"{line}\n" for line in plan.report) + summary)
        bar.step("loading")
        replace_hosts_bulk(s, plan.replaced)
        q.add_hosts_bulk(s, plan.new, plan.new_attrs)
        set_attrs_bulk(s, plan.changed_attrs)
    return Text(summary)


@command(
    positional("file", metavar="FILE.csv", help="the attribute file"),
    DRY_RUN,
    examples=("rocks load attrfile attrs.csv dry-run=yes", "rocks load attrfile attrs.csv"),
)
def load_attrfile(ctx: Context, args: dict[str, Any]) -> Result:
    """Set attributes from a spreadsheet (CSV): one row per target, one column per attribute.

    Header: target,<attr>,<attr>,… where a column headed secret:<attr> holds secret values
    (listed as ********; an attribute a roll declares secret is stored secret in either kind
    of column). Targets: global, os:<os>, appliance:<appliance>, rack:<number>, a host name
    (or host:<name>). An empty cell sets nothing; attributes not in the file are kept. Values are
    checked against the types the rolls declare (see `rocks set attr help`). Every bad row
    is reported as FILE:LINE and then nothing is loaded.
    """
    from rocks.commands._attrtypes import declarations
    from rocks.inventory.bulk import set_attrs_bulk

    s = session(ctx)
    attrs, report, added, unchanged = plan_attrfile(s, args["file"], declarations(ctx, s))
    summary = _summary("attributes", added, len(attrs) - added, unchanged, args["dry-run"])
    if args["dry-run"]:
        return Text("".join(f"{line}\n" for line in report) + summary)
    set_attrs_bulk(s, attrs)
    return Text(summary)


class Section(enum.StrEnum):
    ALL = "all"
    SITE = "site"
    COMMANDS = "commands"
    HOSTFILE = "hostfile"
    ATTRFILE = "attrfile"


def _csv(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def dump_hostfile(hosts: Sequence[Host]) -> str:
    """The host file of `hosts`; optional columns only when some host needs them."""
    def cells(h: Host, i: Interface | None) -> dict[str, str]:
        row = {"name": h.name, "appliance": h.appliance, "rack": str(h.rack),
               "rank": str(h.rank), "os": h.os, "installaction": h.install_action,
               "runaction": h.run_action, "boot": str(h.boot), "comment": h.comment}
        if i is not None:
            row.update(interface=i.device, ip=i.ip, mac=i.mac, network=i.network,
                       default="yes" if i.default_gateway else "", ifname=i.name,
                       module=i.module, vlan="" if i.vlan is None else str(i.vlan),
                       options=i.options, bmc=i.bmc)
        return row

    rows = [cells(h, i) for h in hosts for i in (h.interfaces or (None,))]
    defaults = {"os": "linux", "installaction": "install", "runaction": "os", "boot": "os"}
    header = [*HOST_REQUIRED, *(c for c in (*IFACE_OPTIONAL, *HOST_OPTIONAL)
                                if any(r.get(c, "") not in ("", defaults.get(c)) for r in rows))]
    return _csv([header, *([r.get(c, "") for c in header] for r in rows)])


def dump_attrfile(ctx: Context, attrs: Sequence[Attribute]) -> str:
    columns = sorted({(a.name, a.secret) for a in attrs if a.value},
                     key=lambda c: (c[0].lower(), c[0], c[1]))
    index = {c: i for i, c in enumerate(columns)}
    rows: dict[str, list[str]] = {}
    for a in attrs:
        if not a.value:
            ctx.warn(f"{show_target((a.scope, a.target))} {a.name}: an empty value is not dumped")
            continue
        row = rows.setdefault(show_target((a.scope, a.target)), [""] * len(columns))
        row[index[(a.name, a.secret)]] = a.value
    header = ["target", *(f"secret:{n}" if secret else n for n, secret in columns)]
    return _csv([header, *([target, *cells] for target, cells in rows.items())])


def dump_site(source: ClusterSource) -> str:
    """A shell script that writes the site graph's XML files into $ROCKS_STATE/site (default:
    this state's directory); empty when the site graph has none."""
    import shlex

    files = sorted(p for p in source.site.rglob("*.xml") if p.is_file()) \
        if source.site.is_dir() else []
    if not files:
        return ""
    out = [f": \"${{ROCKS_STATE:={shlex.quote(str(source.state))}}}\"\n"]
    for path in files:
        rel = path.relative_to(source.site).as_posix()
        text = path.read_text(errors="replace")
        end = "ROCKS_SITE_EOF"
        while end in text:
            end += "_"
        target = f'"$ROCKS_STATE/site/{rel}"'
        out.append(f'mkdir -p "$(dirname {target})"\ncat > {target} <<\'{end}\'\n{text}'
                   f"{'' if text.endswith(chr(10)) else chr(10)}{end}\n")
    return "".join(out)


def _rocks(*words: str) -> str:
    import shlex

    return "rocks " + " ".join(shlex.quote(w) for w in words) + "\n"


def dump_commands(s: Session, source: ClusterSource) -> str:
    """`rocks` commands restoring networks, appliances and boot actions into a new inventory,
    where the graph's appliances and the default boot actions already exist."""
    from rocks.inventory import queries as q
    from rocks.inventory.networks import default_zone
    from rocks.model.inventory import Appliance, BootAction
    from rocks.profiles import cluster_graph

    out: list[str] = []
    for n in q.list_networks(s):
        opts = [f"subnet={n.subnet}", f"netmask={n.netmask}"]
        opts += [f"mtu={n.mtu}"] if n.mtu != 1500 else []
        opts += [f"zone={n.zone}"] if n.zone != default_zone(n.name) else []
        opts += [f"{k}=yes" for k, v in (("servedns", n.servedns), ("pxe", n.pxe)) if v]
        opts += [f"gateway={n.gateway}"] if n.gateway else []
        out.append(_rocks("add", "network", n.name, *opts))
    graph = cluster_graph(None, source).graph  # what a new inventory is seeded with
    seeded = {a.name: Appliance(a.name, a.node, a.kickstartable, a.public)
              for a in graph.appliances.values()}
    have = {a.name: a for a in q.list_appliances(s)}
    for name in sorted(seeded.keys() | have.keys()):
        a = have.get(name)
        if a == seeded.get(name):
            continue
        if name in seeded:
            out.append(_rocks("remove", "appliance", name))
        if a is not None:
            out.append(_rocks("add", "appliance", a.name, f"node={a.node}",
                              f"kickstartable={'yes' if a.kickstartable else 'no'}",
                              f"public={'yes' if a.public else 'no'}"))
    defaults: dict[str, BootAction] = {b.name: b for b in q.DEFAULT_BOOT_ACTIONS}
    actions = {b.name: b for b in q.list_bootactions(s)}
    for name in sorted(defaults.keys() | actions.keys()):
        b = actions.get(name)
        if b == defaults.get(name):
            continue
        if name in defaults:
            out.append(_rocks("remove", "bootaction", name))
        if b is not None:
            out.append(_rocks("add", "bootaction", b.name, f"kernel={b.kernel}",
                              f"initrd={b.initrd}", f"args={b.args}"))
    return "".join(out)


@command(
    keyword("section", Section, default=Section.ALL, help="which part to print"),
    examples=("rocks dump > inventory.txt",
              "rocks dump section=commands > restore.sh",
              "rocks dump section=hostfile > hosts.csv",
              "rocks dump section=attrfile > attrs.csv"),
)
def dump(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the inventory as `rocks` commands, a host file and an attribute file.

    A restore into a new inventory runs the commands (networks, appliances and boot actions
    that differ from what a new inventory starts with), then `rocks load hostfile` and
    `rocks load attrfile`. Host attributes go to the attribute file. Secret attribute values
    ARE printed (in secret:<attr> columns): a restore needs them, so guard the output.
    The site graph (<state>/site) comes first, as a shell script writing its files, when it has
    any. Rolls and install history are not part of the dump.
    section=all prints the parts, each after a `# ---` line; section=site, commands,
    hostfile or attrfile prints that part alone, ready to save as a file.
    """
    from rocks.inventory import queries as q

    s = session(ctx)
    section = Section(args["section"])
    source = cluster_source(ctx)
    site = dump_site(source)
    parts: list[tuple[Section, str, Callable[[], str]]] = [
        *([(Section.SITE, "site: sh, run first (the site graph's files)", lambda: site)]
          if site or section is Section.SITE else []),
        (Section.COMMANDS, "commands: run these first", lambda: dump_commands(s, source)),
        (Section.HOSTFILE, "hostfile: rocks load hostfile FILE",
         lambda: dump_hostfile(q.list_hosts(s))),
        (Section.ATTRFILE, "attrfile: rocks load attrfile FILE",
         lambda: dump_attrfile(ctx, q.list_attrs(s))),
    ]
    if section is not Section.ALL:
        return Text(next(make() for part, _title, make in parts if part is section))
    return Text("".join(f"# --- {title}\n{make()}" for _part, title, make in parts))
