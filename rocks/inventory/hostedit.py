"""Adding a host and writing attributes as the CLI does it, for every caller that changes the
inventory: `rocks add host`, `rocks add|set|remove … attr` and the frontend's write API run
these same functions, so they check the same things and give the same errors. The caller holds
the transaction (one per command, one per API request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rocks.errors import Diagnostic, RocksError
from rocks.model.inventory import Attribute, Scope

if TYPE_CHECKING:
    from rocks.inventory.core import Db
    from rocks.inventory.db import Session

RACK_RANK = re.compile(r"^(.+)-(\d+)-(\d+)$")
# Above this many targets one bulk write beats a few queries per target.
_BULK_FROM = 8
AttrCheck = Callable[[list[Attribute]], list[Attribute]]


def new_host(s: Session | Db, name: str = "", *, appliance: str = "", rack: int | None = None,
             rank: int | None = None, os: str = "linux", install_action: str = "install",
             run_action: str = "os", comment: str = "") -> str:
    """Add a host; returns its name. Plain SQL (rocks.inventory.core) on the command's own
    connection or an ORM session's: `rocks add host` never imports the ORM for it.

    A name of the form <appliance>-<rack>-<rank> gives the appliance, rack and rank when they
    are not given. Without a name, the host gets the next free rank in its rack and is named
    <appliance>-<rack>-<rank>.
    """
    from rocks.inventory import core
    from rocks.model.inventory import Host

    db = core.Db.of(s)
    appliances = core.appliance_names(db)
    if name:
        m = RACK_RANK.match(name)
        if m:
            rack = int(m[2]) if rack is None else rack
            rank = int(m[3]) if rank is None else rank
        if not appliance:
            if not m or m[1] not in appliances:
                raise _no_appliance(name, m[1] if m else name, appliances)
            appliance = m[1]
    elif not appliance:
        raise RocksError.of("missing-appliance", "add host needs a host name or appliance=",
                            hint="e.g. rocks add host appliance=compute rack=0")
    if appliance not in appliances:
        raise core.not_found("appliance", appliance, appliances, "rocks list appliance")
    for action in (install_action, run_action):
        core.need_bootaction(db, action)
    rack = 0 if rack is None else rack
    if rank is None:
        rank = core.next_rank(db, appliance, rack)
    name = name or f"{appliance}-{rack}-{rank}"
    core.add_host(db, Host(name, appliance, rack, rank, os=os, install_action=install_action,
                           run_action=run_action, comment=comment))
    return name


def _no_appliance(host: str, prefix: str, appliances: Sequence[str]) -> RocksError:
    import difflib

    close = difflib.get_close_matches(prefix, appliances, n=1)
    hint = (f"did you mean appliance={close[0]}?" if close
            else "give appliance= (appliances: " + ", ".join(appliances) + ")")
    return RocksError.of("missing-appliance",
                         f'cannot tell the appliance of host "{host}" from its name', hint=hint)


def _noun(scope: Scope) -> str:
    return "attr" if scope is Scope.GLOBAL else f"{scope} attr"


def _where(scope: Scope, target: str) -> str:
    return "global" if scope is Scope.GLOBAL else f"{scope} {target}"


def _existing(s: Session, scope: Scope, name: str) -> dict[str, Attribute]:
    """target → the attribute `name` at `scope`."""
    from rocks.inventory import queries as q

    return {a.target: a for a in q.list_attrs(s, scope) if a.name == name}


def write_attrs(s: Session, scope: Scope, targets: Sequence[str], name: str, value: str, *,
                secret: bool | None, replace: bool, check: AttrCheck | None = None
                ) -> list[Attribute]:
    """`rocks add|set <scope> attr`: attribute `name` = `value` on every target (checked to
    exist by the caller). add (replace=False) refuses targets that have it; set replaces.
    secret=None keeps an existing attribute's flag. `check` validates the attributes before
    anything is written (the typed-attribute declarations of the rolls)."""
    from rocks.inventory.attrs import check_attr_name

    check_attr_name(name)
    if value == "":
        raise RocksError.of(
            "empty-value", f"attribute {name} needs a value",
            hint=f"to drop it use `rocks remove … attr {name}`")
    existing = _existing(s, scope, name)
    if not replace:
        clashes = [t for t in targets if t in existing]
        if clashes:
            verb = "set " + _noun(scope)
            raise RocksError(*(Diagnostic(
                "duplicate-attr", f"attribute {name} already exists at {_where(scope, t)}",
                hint=f"use `rocks {verb}` to change it") for t in clashes))
    attrs = [Attribute(name, value, scope, t,
                       (t in existing and existing[t].secret) if secret is None else secret)
             for t in targets]
    if check is not None:
        attrs = check(attrs)
    _write(s, attrs)
    return attrs


def _write(s: Session, attrs: list[Attribute]) -> None:
    from rocks.inventory import queries as q

    if len(attrs) >= _BULK_FROM:
        from rocks.inventory.bulk import set_attrs_bulk

        set_attrs_bulk(s, attrs)
        return
    for a in attrs:
        q.set_attr(s, a.scope, a.target, a.name, a.value, a.secret)


def drop_attrs(s: Session, scope: Scope, targets: Sequence[str], name: str) -> list[str]:
    """`rocks remove <scope> attr`: remove `name` from the targets that have it (an error when
    none has it); returns those targets."""
    from rocks.inventory import queries as q

    existing = _existing(s, scope, name)
    present = [t for t in targets if t in existing]
    if not present:
        where = _where(scope, targets[0]) if len(targets) == 1 else f"those {scope}s"
        raise RocksError.of(
            "unknown-attr", f"no attribute {name} at {where}",
            hint=f"see `rocks list {_noun(scope)}`")
    for target in present:
        q.remove_attr(s, scope, target, name)
    return present
