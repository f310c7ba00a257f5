"""Inventory files: `load hostfile`, `load attrfile`, and `dump`, which prints both plus the
`rocks` commands a restore runs first. Every bad row of a file is reported (file:line) and then
nothing is loaded; load → dump → load is a fixed point.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Text, command, keyword, positional
from rocks.commands._inventory import session
from rocks.errors import Diagnostic, RocksError, SourceLocation
from rocks.model.inventory import Attribute, BootState, Host, Interface, Scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SECRET_MASK = "********"
HOST_REQUIRED = ("name", "appliance", "rack", "rank", "interface", "ip", "mac", "network")
IFACE_OPTIONAL = ("default", "ifname", "module", "vlan", "options")
HOST_OPTIONAL = ("os", "installaction", "runaction", "boot", "comment")
HOST_FIELDS = ("appliance", "rack", "rank", *HOST_OPTIONAL)
IFACE_FIELDS = ("ip", "mac", "network", *IFACE_OPTIONAL)
# Host-file column → (Host field, value when a new host leaves it out).
_HOST_ATTR = {"appliance": "appliance", "rack": "rack", "rank": "rank", "os": "os",
              "installaction": "install_action", "runaction": "run_action", "boot": "boot",
              "comment": "comment"}
_YES, _NO = ("yes", "y", "true", "on", "1"), ("no", "n", "false", "off", "0", "")
DRY_RUN = keyword("dry-run", bool, default=False,
                  help="only print what would change; write nothing")


@dataclass
class Problems:
    """Located errors from one file, raised together at the end."""

    path: str
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, line: int, code: str, message: str, hint: str = "") -> None:
        self.items.append(Diagnostic(code, message, SourceLocation(self.path, line), hint))

    def relocate(self, line: int, exc: RocksError) -> None:
        for d in exc.diagnostics:
            self.add(line, d.code, d.message, d.hint)

    def raise_any(self) -> None:
        if self.items:
            raise RocksError(*sorted(self.items, key=lambda d: d.location or SourceLocation("")))


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    cells: dict[str, str]


def _read_csv(path: str, problems: Problems, column: Callable[[str], str | None]
              ) -> tuple[list[str], int, list[Row]]:
    """Header (normalised by `column`, None = bad) and non-empty, non-comment rows; a bad
    header or an unreadable file raises, malformed rows are only recorded."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RocksError.of("unreadable-file", f"cannot read {path}: {why}") from None
    reader = csv.reader(io.StringIO(text), strict=True)
    header: list[str] = []
    header_line = 1
    rows: list[Row] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(line, "bad-csv", f"malformed CSV: {exc}")
            break
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if not header:
            header_line = line
            header = [column(c.strip()) or "" for c in cells]
            for name, raw in zip(header, cells, strict=True):
                if not name:
                    problems.add(line, "bad-column", f"unknown column {raw.strip()!r}")
            dups = sorted({c for c in header if c and header.count(c) > 1})
            for name in dups:
                problems.add(line, "bad-column", f"column {name!r} appears more than once")
            problems.raise_any()
            continue
        if len(cells) != len(header):
            problems.add(line, "bad-csv",
                         f"malformed row: {len(cells)} fields where the header has {len(header)}")
            continue
        rows.append(Row(line, {h: c.strip() for h, c in zip(header, cells, strict=True) if h}))
    if not header:
        problems.add(1, "bad-csv", "the file has no header row")
        problems.raise_any()
    return header, header_line, rows


def _host_column(raw: str) -> str | None:
    low = raw.lower()
    if low.startswith("attr:") and len(raw) > 5:
        return "attr:" + raw[5:].strip()
    return low if low in (*HOST_REQUIRED, *IFACE_OPTIONAL, *HOST_OPTIONAL) else None


def _yes(value: str) -> bool | None:
    low = value.lower()
    return True if low in _YES else False if low in _NO else None


class Change(enum.StrEnum):
    ADD = "add"
    CHANGE = "change"


@dataclass
class HostPlan:
    new: list[Host] = field(default_factory=list)
    replaced: list[Host] = field(default_factory=list)
    new_attrs: list[Attribute] = field(default_factory=list)
    changed_attrs: list[Attribute] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    unchanged: int = 0


class _Index:
    """What rows are checked against, loaded in a few queries."""

    def __init__(self, s: Session, names: set[str]) -> None:
        from sqlalchemy import select

        from rocks.inventory import queries as q
        from rocks.inventory.hosts import network_index
        from rocks.inventory.schema import HostRow

        self.appliances = {a.name for a in q.list_appliances(s)}
        self.bootactions = {b.name for b in q.list_bootactions(s)}
        self.networks = network_index(s)
        in_db = set(s.scalars(select(HostRow.name)))
        self.current: dict[str, Host] = {}
        self.attrs: dict[str, dict[str, Attribute]] = {}
        self.macs: dict[str, str] = {}
        self.ips: dict[tuple[str, str], str] = {}
        if not in_db:
            return
        for host in q.list_hosts(s):
            if host.name in names:
                self.current[host.name] = host
                continue
            for i in host.interfaces:
                if i.mac:
                    self.macs[i.mac] = f"{host.name} {i.device}"
                if i.ip and i.network:
                    self.ips[(i.network, i.ip)] = f"{host.name} {i.device}"
        for a in q.list_attrs(s, Scope.HOST):
            if a.target in self.current:
                self.attrs.setdefault(a.target, {})[a.name] = a


def _merge(name: str, rows: list[Row], columns: Iterable[str], p: Problems) -> dict[str, str]:
    """A host's fields over its rows: empty cells say nothing, others must agree."""
    merged: dict[str, str] = {}
    first: dict[str, int] = {}
    for row in rows:
        for col in columns:
            value = row.cells.get(col, "")
            if not value:
                continue
            if col not in merged:
                merged[col], first[col] = value, row.line
            elif merged[col] != value:
                p.add(row.line, "conflicting-rows",
                      f"host {name}: {col} {value!r} differs from {merged[col]!r} on line "
                      f"{first[col]}", hint="a host's rows must agree on its host columns")
    return merged


def _claim(p: Problems, line: int, host: str, code: str, what: str, key: Any,
           taken: dict[Any, str], seen: dict[Any, tuple[int, str]], hint: str) -> None:
    """Record `key` (a MAC, a network and IP) for this line unless the inventory or an earlier
    line has it."""
    if key in taken:
        p.add(line, code, f"{what} is already used by {taken[key]}", hint=hint)
    elif key in seen:
        at, other = seen[key]
        p.add(line, code, f"{what} is also on line {at} ({other})")
    else:
        seen[key] = (line, host)


def _plan_host(name: str, rows: list[Row], header: Sequence[str], ix: _Index, p: Problems,
               seen_mac: dict[str, tuple[int, str]], seen_ip: dict[tuple[str, str], tuple[int, str]]
               ) -> tuple[Host, dict[str, str]] | None:
    from rocks.inventory.hosts import check_interface
    from rocks.inventory.validate import check_name, normalise_mac

    line = rows[0].line
    errors = len(p.items)
    try:
        check_name("host", name)
    except RocksError as exc:
        p.relocate(line, exc)
    if name in ix.appliances:
        p.add(line, "bad-host-name", f"host name {name!r} is an appliance name")
    attr_cols = [h for h in header if h.startswith("attr:")]
    f = _merge(name, rows, [*HOST_FIELDS, *attr_cols], p)
    current = ix.current.get(name)
    base = current or Host(name, "")
    values: dict[str, Any] = {}
    for col in ("appliance", "rack", "rank"):
        if col not in f:
            p.add(line, "missing-value", f"host {name} has no {col}",
                  hint="give it on at least one of the host's rows")
    if f.get("appliance") and f["appliance"] not in ix.appliances:
        p.add(line, "unknown-appliance", f"host {name}: no appliance named {f['appliance']!r}",
              hint="see `rocks list appliance`, or add it first")
    for col in ("rack", "rank"):
        if col in f:
            if f[col].isdigit():
                values[col] = int(f[col])
            else:
                p.add(line, "bad-value", f"host {name}: {col} {f[col]!r} is not a number")
    if f.get("boot") and f["boot"] not in tuple(BootState):
        p.add(line, "bad-value", f"host {name}: boot {f['boot']!r} is not install or os")
    for col in ("installaction", "runaction"):
        if f.get(col) and f[col] not in ix.bootactions:
            p.add(line, "unknown-bootaction", f"host {name}: no boot action named {f[col]!r}",
                  hint="see `rocks list bootaction`")
    for col in ("appliance", "os", "installaction", "runaction", "boot", "comment"):
        if col in header and (col in f or current is None or col == "comment"):
            values[col] = f.get(col, "")
    interfaces: list[Interface] = []
    old = {i.device: i for i in (current.interfaces if current else ())}
    devices: dict[str, int] = {}
    for row in rows:
        c = row.cells
        device = c.get("interface", "")
        if not device:
            if any(c.get(k) for k in IFACE_FIELDS):
                p.add(row.line, "bad-interface", f"host {name}: an interface needs a device",
                      hint="fill the interface column, e.g. eth0")
            continue
        if device in devices:
            p.add(row.line, "duplicate-interface",
                  f"host {name}: interface {device} is also on line {devices[device]}")
            continue
        devices[device] = row.line
        prior = old.get(device)
        # Columns the file lacks keep the interface's current value (or the default).
        kw: dict[str, Any] = {
            "host": name, "device": device, "mac": "", "ip": c["ip"], "network": c["network"],
            "name": c.get("ifname", prior.name if prior else ""),
            "module": c.get("module", prior.module if prior else ""),
            "vlan": prior.vlan if prior else None,
            "options": c.get("options", prior.options if prior else ""),
            "default_gateway": prior.default_gateway if prior else False,
        }
        if "vlan" in c:
            if c["vlan"] and not c["vlan"].isdigit():
                p.add(row.line, "bad-value", f"host {name}: vlan {c['vlan']!r} is not a number")
            kw["vlan"] = int(c["vlan"]) if c["vlan"].isdigit() else None
        if "default" in c:
            flag = _yes(c["default"])
            if flag is None:
                p.add(row.line, "bad-value", f"host {name}: default {c['default']!r} is not yes/no")
            kw["default_gateway"] = bool(flag)
        # The MAC apart from the rest, so that one row reports both a bad MAC and a bad IP.
        if c["mac"]:
            try:
                kw["mac"] = normalise_mac(c["mac"], name)
            except RocksError as exc:
                p.relocate(row.line, exc)
            else:
                _claim(p, row.line, name, "duplicate-mac", f"MAC {kw['mac']} of host {name}",
                       kw["mac"], ix.macs, seen_mac, "each MAC address belongs to one interface")
        try:
            checked = check_interface(name, Interface(**kw), ix.networks)
        except RocksError as exc:
            p.relocate(row.line, exc)
            continue
        kw["ip"] = checked.ip or ""
        iface = Interface(**kw)
        if iface.ip and iface.network:
            _claim(p, row.line, name, "duplicate-ip",
                   f"IP {iface.ip} of host {name} on network {iface.network}",
                   (iface.network, iface.ip), ix.ips, seen_ip,
                   "see `rocks report nextip` for a free address")
        interfaces.append(iface)
    if len(p.items) > errors:
        return None
    fields = {_HOST_ATTR[k]: v for k, v in values.items()}
    if "boot" in fields:
        fields["boot"] = BootState(fields["boot"] or base.boot)
    for fname, default in (("os", "linux"), ("install_action", "install"), ("run_action", "os")):
        if fname in fields and not fields[fname]:
            fields[fname] = getattr(base, fname) if current else default
    host = replace(base, **fields, interfaces=tuple(sorted(interfaces, key=lambda i: i.device)))
    return host, {col[5:]: v for col, v in f.items() if col.startswith("attr:")}


def plan_hostfile(s: Session, path: str) -> HostPlan:
    """Read and check a host file against the inventory; what loading it would change."""
    from rocks.inventory.attrs import check_attr_name

    p = Problems(path)
    header, at, rows = _read_csv(path, p, _host_column)
    header_problems = Problems(path)
    missing = [c for c in HOST_REQUIRED if c not in header]
    if missing:
        header_problems.add(
            at, "missing-column", "missing column"
            + ("s " if len(missing) > 1 else " ") + ", ".join(missing),
            hint="the header needs " + ",".join(HOST_REQUIRED))
    for col in header:
        if col.startswith("attr:"):
            try:
                check_attr_name(col[5:])
            except RocksError as exc:
                header_problems.relocate(at, exc)
    header_problems.raise_any()
    groups: dict[str, list[Row]] = {}
    for row in rows:
        if not row.cells["name"]:
            p.add(row.line, "missing-value", "the row has no host name")
        else:
            groups.setdefault(row.cells["name"], []).append(row)
    ix = _Index(s, set(groups))
    plan = HostPlan()
    seen_mac: dict[str, tuple[int, str]] = {}
    seen_ip: dict[tuple[str, str], tuple[int, str]] = {}
    for name, group in groups.items():
        planned = _plan_host(name, group, header, ix, p, seen_mac, seen_ip)
        if planned is None:
            continue
        host, attrs = planned
        old_attrs = ix.attrs.get(name, {})
        wanted = [Attribute(k, v, Scope.HOST, name) for k, v in sorted(attrs.items())]
        changed_attrs = [a for a in wanted if old_attrs.get(a.name) != a]
        current = ix.current.get(name)
        if current is None:
            plan.new.append(host)
            plan.new_attrs += wanted
            plan.report.append(f"add {name}")
            continue
        what = [col for col, key in _HOST_ATTR.items() if getattr(host, key) !=
                getattr(current, key)]
        if host.interfaces != current.interfaces:
            what.append("interfaces")
            plan.replaced.append(host)
        elif what:
            plan.replaced.append(host)
        what += [f"attr:{a.name}" for a in changed_attrs]
        plan.changed_attrs += changed_attrs
        if what:
            plan.report.append(f"change {name} ({', '.join(what)})")
        else:
            plan.unchanged += 1
    p.raise_any()
    return plan


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
    vlan, options, os, installaction, runaction, boot (install|os), comment, and attr:<name>
    (a plain, not secret, host attribute; an empty cell sets nothing). Column names are
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
    from rocks.commands._progress import Progress
    from rocks.inventory import queries as q
    from rocks.inventory.bulk import replace_hosts_bulk, set_attrs_bulk

    s = session(ctx)
    with Progress(ctx) as bar:
        bar.step("checking every row")
        plan = plan_hostfile(s, args["file"])
        changed = len(plan.report) - len(plan.new)
        summary = _summary("hosts", len(plan.new), changed, plan.unchanged, args["dry-run"])
        if args["dry-run"]:
            return Text("".join(f"{line}\n" for line in plan.report) + summary)
        bar.step("loading")
        replace_hosts_bulk(s, plan.replaced)
        q.add_hosts_bulk(s, plan.new, plan.new_attrs)
        set_attrs_bulk(s, plan.changed_attrs)
    return Text(summary)


def _attr_column(raw: str) -> str | None:
    from rocks.inventory.attrs import check_attr_name

    name = raw[7:].strip() if raw.lower().startswith("secret:") else raw
    try:
        check_attr_name(name)
    except RocksError:
        return None
    return f"secret:{name}" if name != raw else raw


def _target(cell: str) -> tuple[Scope, str]:
    kind, sep, rest = cell.partition(":")
    if cell == "global":
        return Scope.GLOBAL, ""
    if sep and kind in ("os", "appliance", "host"):
        return Scope(kind), rest.strip()
    return Scope.HOST, cell


def _show(target: tuple[Scope, str]) -> str:
    scope, name = target
    if scope is Scope.GLOBAL:
        return "global"
    if scope is Scope.HOST:
        return name if name != "global" else "host:global"
    return f"{scope}:{name}"


def plan_attrfile(s: Session, path: str) -> tuple[list[Attribute], list[str], int, int]:
    """(attributes to write, report lines, added, unchanged) for an attribute file."""
    from sqlalchemy import select

    from rocks.inventory import queries as q
    from rocks.inventory.schema import HostRow

    p = Problems(path)
    header, at, rows = _read_csv(path, p, lambda raw: "target" if raw.lower() == "target"
                             else _attr_column(raw))
    if header[0] != "target":
        p.add(at, "missing-column", "the first column must be target",
              hint="target,<attr>,…,secret:<attr>,… (target: global, os:NAME, "
              "appliance:NAME or a host name)")
    p.raise_any()
    appliances = {a.name for a in q.list_appliances(s)}
    hosts = set(s.scalars(select(HostRow.name)))
    current = {(a.scope, a.target, a.name): a for a in q.list_attrs(s)}
    seen: dict[tuple[Scope, str], int] = {}
    out: list[Attribute] = []
    report: list[str] = []
    added = unchanged = 0
    for row in rows:
        scope, name = target = _target(row.cells["target"])
        known = {Scope.GLOBAL: True, Scope.OS: bool(name), Scope.APPLIANCE: name in appliances,
                 Scope.HOST: name in hosts}[scope]
        if not known:
            what = "needs an os name" if scope is Scope.OS else f"names no {scope} ({name!r})"
            p.add(row.line, f"unknown-{scope}", f"target {row.cells['target']!r} {what}",
                  hint="targets: global, os:NAME, appliance:NAME or a host name")
            continue
        if target in seen:
            p.add(row.line, "duplicate-target",
                  f"target {_show(target)} is also on line {seen[target]}")
            continue
        seen[target] = row.line
        for col, value in row.cells.items():
            if col == "target" or not value:
                continue
            secret = col.startswith("secret:")
            attr = col[7:] if secret else col
            if row.cells.get(attr if secret else f"secret:{attr}"):
                if secret:
                    p.add(row.line, "conflicting-cells",
                          f"target {_show(target)} sets {attr} both plain and secret")
                continue
            new = Attribute(attr, value, scope, name, secret)
            old = current.get((scope, name, attr))
            shown = SECRET_MASK if secret else value
            if old == new:
                unchanged += 1
                continue
            out.append(new)
            if old is None:
                added += 1
                report.append(f"add {_show(target)} {attr}={shown}")
            else:
                was = SECRET_MASK if old.secret else old.value
                report.append(f"change {_show(target)} {attr}={shown} (was {was})")
    p.raise_any()
    return out, report, added, unchanged


@command(
    positional("file", metavar="FILE.csv", help="the attribute file"),
    DRY_RUN,
    examples=("rocks load attrfile attrs.csv dry-run=yes", "rocks load attrfile attrs.csv"),
)
def load_attrfile(ctx: Context, args: dict[str, Any]) -> Result:
    """Set attributes from a spreadsheet (CSV): one row per target, one column per attribute.

    Header: target,<attr>,<attr>,… where a column headed secret:<attr> holds secret values
    (listed as ********). Targets: global, os:<os>, appliance:<appliance>, a host name (or
    host:<name>). An empty cell sets nothing; attributes not in the file are kept. Every bad
    row is reported as FILE:LINE and then nothing is loaded.
    """
    from rocks.inventory.bulk import set_attrs_bulk

    s = session(ctx)
    attrs, report, added, unchanged = plan_attrfile(s, args["file"])
    summary = _summary("attributes", added, len(attrs) - added, unchanged, args["dry-run"])
    if args["dry-run"]:
        return Text("".join(f"{line}\n" for line in report) + summary)
    set_attrs_bulk(s, attrs)
    return Text(summary)


class Section(enum.StrEnum):
    ALL = "all"
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
                       options=i.options)
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
            ctx.warn(f"{_show((a.scope, a.target))} {a.name}: an empty value is not dumped")
            continue
        row = rows.setdefault(_show((a.scope, a.target)), [""] * len(columns))
        row[index[(a.name, a.secret)]] = a.value
    header = ["target", *(f"secret:{n}" if secret else n for n, secret in columns)]
    return _csv([header, *([target, *cells] for target, cells in rows.items())])


def _rocks(*words: str) -> str:
    import shlex

    return "rocks " + " ".join(shlex.quote(w) for w in words) + "\n"


def dump_commands(s: Session) -> str:
    """`rocks` commands restoring networks, appliances and boot actions into a new inventory,
    where the graph's appliances and the default boot actions already exist."""
    from rocks.compiler.service import load_graph
    from rocks.inventory import queries as q
    from rocks.inventory.networks import default_zone
    from rocks.model.inventory import Appliance, BootAction

    out: list[str] = []
    for n in q.list_networks(s):
        opts = [f"subnet={n.subnet}", f"netmask={n.netmask}"]
        opts += [f"mtu={n.mtu}"] if n.mtu != 1500 else []
        opts += [f"zone={n.zone}"] if n.zone != default_zone(n.name) else []
        opts += [f"{k}=yes" for k, v in (("servedns", n.servedns), ("pxe", n.pxe)) if v]
        opts += [f"gateway={n.gateway}"] if n.gateway else []
        out.append(_rocks("add", "network", n.name, *opts))
    graph = load_graph()
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
    Rolls and install history are not part of the dump.
    section=all prints the three parts, each after a `# ---` line; section=commands,
    hostfile or attrfile prints that part alone, ready to save as a file.
    """
    from rocks.inventory import queries as q

    s = session(ctx)
    section = Section(args["section"])
    parts: list[tuple[Section, str, Callable[[], str]]] = [
        (Section.COMMANDS, "commands: run these first", lambda: dump_commands(s)),
        (Section.HOSTFILE, "hostfile: rocks load hostfile FILE",
         lambda: dump_hostfile(q.list_hosts(s))),
        (Section.ATTRFILE, "attrfile: rocks load attrfile FILE",
         lambda: dump_attrfile(ctx, q.list_attrs(s))),
    ]
    if section is not Section.ALL:
        return Text(next(make() for part, _title, make in parts if part is section))
    return Text("".join(f"# --- {title}\n{make()}" for _part, title, make in parts))
