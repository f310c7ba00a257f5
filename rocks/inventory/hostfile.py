"""Host and attribute files planned against the inventory: every row checked (appliance,
network, boot action, addresses inside their networks, MACs, duplicates in the file and against
the inventory), every bad row reported as FILE:LINE, and the changes a load would make.

`rocks load hostfile` / `load attrfile` (rocks.commands.load) write what these plans say;
`rocks dump` prints files in the same formats.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.errors import Diagnostic, RocksError, SourceLocation
from rocks.model.inventory import Attribute, BootState, Host, Interface, Scope

if TYPE_CHECKING:  # no SQLAlchemy at import: `rocks load … help` and completion stay light
    from sqlalchemy.orm import Session

    from rocks.model.attrcheck import Declarations

SECRET_MASK = "********"
HOST_REQUIRED = ("name", "appliance", "rack", "rank", "interface", "ip", "mac", "network")
IFACE_OPTIONAL = ("default", "ifname", "module", "vlan", "options", "bmc")
HOST_OPTIONAL = ("os", "installaction", "runaction", "boot", "comment")
HOST_FIELDS = ("appliance", "rack", "rank", *HOST_OPTIONAL)
IFACE_FIELDS = ("ip", "mac", "network", *IFACE_OPTIONAL)
# Host-file column → (Host field, value when a new host leaves it out).
_HOST_ATTR = {"appliance": "appliance", "rack": "rack", "rank": "rank", "os": "os",
              "installaction": "install_action", "runaction": "run_action", "boot": "boot",
              "comment": "comment"}
_YES, _NO = ("yes", "y", "true", "on", "1"), ("no", "n", "false", "off", "0", "")


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
        from rocks.inventory import queries as q
        from rocks.inventory.hosts import network_index
        from rocks.inventory.names import host_names

        self.appliances = {a.name for a in q.list_appliances(s)}
        self.bootactions = {b.name for b in q.list_bootactions(s)}
        self.networks = network_index(s)
        in_db = set(host_names(s))
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
    from rocks.inventory.core import check_interface
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
            "bmc": c.get("bmc", prior.bmc if prior else "").lower(),
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
    bmcs = [i.device for i in interfaces if i.bmc]
    if len(bmcs) > 1:
        p.add(line, "duplicate-bmc", f"host {name} has {len(bmcs)} BMC interfaces "
              f"({', '.join(bmcs)})", hint="a host has one BMC: clear the bmc cell of the others")
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


def plan_hostfile(s: Session, path: str, decls: Declarations | None = None) -> HostPlan:
    """Read and check a host file against the inventory; what loading it would change.
    Attribute cells are checked against `decls` (the rolls' declared types and secrecy)."""
    from rocks.inventory.attrs import check_attr_name
    from rocks.model.attrcheck import checked, problem

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
        bad = [d for a in wanted if (d := problem(decls or {}, a)) is not None]
        for d in bad:
            p.add(group[0].line, d.code, d.message, d.hint)
        if bad:
            continue
        wanted = checked(decls or {}, wanted)
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
    if sep and kind in ("os", "appliance", "rack", "host"):
        return Scope(kind), rest.strip()
    return Scope.HOST, cell


def show_target(target: tuple[Scope, str]) -> str:
    scope, name = target
    if scope is Scope.GLOBAL:
        return "global"
    if scope is Scope.HOST:
        return name if name != "global" else "host:global"
    return f"{scope}:{name}"


def plan_attrfile(s: Session, path: str, decls: Declarations | None = None
                  ) -> tuple[list[Attribute], list[str], int, int]:
    """(attributes to write, report lines, added, unchanged) for an attribute file; each value
    is checked against the type `decls` declares, and declared secrets are stored secret."""
    from rocks.inventory import queries as q
    from rocks.inventory.names import host_names
    from rocks.model.attrcheck import is_secret, problem

    p = Problems(path)
    header, at, rows = _read_csv(path, p, lambda raw: "target" if raw.lower() == "target"
                             else _attr_column(raw))
    if header[0] != "target":
        p.add(at, "missing-column", "the first column must be target",
              hint="target,<attr>,…,secret:<attr>,… (target: global, os:NAME, "
              "appliance:NAME, rack:NUMBER or a host name)")
    p.raise_any()
    appliances = {a.name for a in q.list_appliances(s)}
    hosts = set(host_names(s))
    current = {(a.scope, a.target, a.name): a for a in q.list_attrs(s)}
    seen: dict[tuple[Scope, str], int] = {}
    out: list[Attribute] = []
    report: list[str] = []
    added = unchanged = 0
    for row in rows:
        scope, name = target = _target(row.cells["target"])
        known = {Scope.GLOBAL: True, Scope.OS: bool(name), Scope.APPLIANCE: name in appliances,
                 Scope.RACK: name.isdigit(), Scope.HOST: name in hosts}[scope]
        if not known:
            what = "needs an os name" if scope is Scope.OS else f"names no {scope} ({name!r})"
            p.add(row.line, f"unknown-{scope}", f"target {row.cells['target']!r} {what}",
                  hint="targets: global, os:NAME, appliance:NAME, rack:NUMBER or a host name")
            continue
        if target in seen:
            p.add(row.line, "duplicate-target",
                  f"target {show_target(target)} is also on line {seen[target]}")
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
                          f"target {show_target(target)} sets {attr} both plain and secret")
                continue
            secret = secret or is_secret(decls or {}, attr)
            new = Attribute(attr, value, scope, name, secret)
            bad = problem(decls or {}, new)
            if bad is not None:
                p.add(row.line, bad.code, bad.message, bad.hint)
                continue
            old = current.get((scope, name, attr))
            shown = SECRET_MASK if secret else value
            if old == new:
                unchanged += 1
                continue
            out.append(new)
            if old is None:
                added += 1
                report.append(f"add {show_target(target)} {attr}={shown}")
            else:
                was = SECRET_MASK if old.secret or secret else old.value
                report.append(f"change {show_target(target)} {attr}={shown} (was {was})")
    p.raise_any()
    return out, report, added, unchanged
