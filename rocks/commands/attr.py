"""Attribute commands at the five scopes (global, os, appliance, rack, host): add, set, remove,
list.

`list host attr` shows each host's resolved attributes with the scope each value came from, as
Rocks did: G global, O os, A appliance, K rack, H host, I intrinsic, R for a roll's declared
default and N for a value derived from the networks (rocks/inventory/netfacts.py).
Secret values print as ******** in every listing and output format.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rocks.commands import (
    Command,
    Context,
    Param,
    Result,
    Rows,
    command,
    keyword,
    positional,
)
from rocks.commands._attrtypes import HELP as ATTR_TYPES_HELP
from rocks.commands._inventory import session
from rocks.errors import RocksError
from rocks.model.inventory import Attribute, Scope

if TYPE_CHECKING:
    from rocks.inventory.db import Session

SECRET_MASK = "********"
LETTERS = {"global": "G", "os": "O", "appliance": "A", "rack": "K", "host": "H", "intrinsic": "I",
           "roll": "R", "network": "N"}
_TARGET_HELP = {
    Scope.OS: "os names, e.g. linux",
    Scope.APPLIANCE: "appliance names (rocks list appliance)",
    Scope.RACK: "rack numbers (3 or rack3), with hosts in them or not",
    Scope.HOST: "host names, appliance names, rackN or shell globs",
}
_EXAMPLES = {
    Scope.GLOBAL: ("{verb} attr Kickstart_Timezone UTC", "{verb} attr attr=x11 value=yes"),
    Scope.OS: ("{verb} os attr linux HttpRoot /var/www/html",),
    Scope.APPLIANCE: ("{verb} appliance attr compute x11 yes",),
    Scope.RACK: ("{verb} rack attr 3 bmc_username ADMIN",
                 "{verb} rack attr rack3 bmc_password secret secret=yes"),
    Scope.HOST: ("{verb} host attr compute-0-0 cpus 2", "{verb} host attr rack1 x11 yes"),
}


def masked(attr: Attribute) -> str:
    return SECRET_MASK if attr.secret else attr.value


def _noun(scope: Scope) -> str:
    return "attr" if scope is Scope.GLOBAL else f"{scope} attr"


def _target_param(scope: Scope, *, required: bool) -> tuple[Param, ...]:
    if scope is Scope.GLOBAL:
        return ()
    if required:
        return (positional(scope.value, many=True, help=_TARGET_HELP[scope]),)
    return (positional(scope.value, many=True, default=(),
                       help=_TARGET_HELP[scope] + " (default: all)"),)


def _targets(s: Session, scope: Scope, words: Sequence[str]) -> list[str]:
    """The targets named on the command line, each checked to exist (os names are free)."""
    if scope is Scope.GLOBAL:
        return [""]
    if scope is Scope.HOST:
        from rocks.commands._hosts import expand_hosts

        return expand_hosts(s, words, empty_means_all=False)
    if scope is Scope.RACK:
        from rocks.inventory.attrs import rack_number

        return list(dict.fromkeys(str(rack_number(w)) for w in words))
    if scope is Scope.APPLIANCE:
        from rocks.inventory import queries as q

        known = [a.name for a in q.list_appliances(s)]
        for word in words:
            if word not in known:
                import difflib

                close = difflib.get_close_matches(word, known, n=1)
                raise RocksError.of(
                    "unknown-appliance", f'unknown appliance "{word}"',
                    hint=f'did you mean "{close[0]}"?' if close
                    else "appliances: " + ", ".join(known))
    return list(dict.fromkeys(words))


def _add_or_set(scope: Scope, *, replace: bool) -> Command:
    def run(ctx: Context, args: dict[str, Any]) -> Result:
        from rocks.commands._attrtypes import checked, declarations, is_secret
        from rocks.inventory.hostedit import write_attrs

        s = session(ctx)
        targets = _targets(s, scope, args.get(scope.value, ()))
        decls = declarations(ctx, s)
        if args["secret"] is False and is_secret(decls, args["attr"]):
            ctx.warn(f"{args['attr']} is declared secret by its roll: it is stored secret")
        write_attrs(s, scope, targets, args["attr"], args["value"], secret=args["secret"],
                    replace=replace, check=lambda attrs: checked(decls, attrs))
        return None

    verb = "set" if replace else "add"
    secret_help = ("mark the value secret (shown as ******** in listings)" if not replace else
                   "mark the value secret (default: keep an existing attribute's flag, else no)")
    run.__doc__ = (
        f"{'Set (create or replace)' if replace else 'Add'} an attribute "
        + ("for the whole cluster." if scope is Scope.GLOBAL else f"of one or more {scope}s.")
        + ("" if replace else f"\n\nAn attribute that already exists is refused; "
           f"`rocks set {_noun(scope)}` replaces it.")
        + "\nValues may not be empty (remove the attribute instead).\n\n" + ATTR_TYPES_HELP
    )
    return command(
        *_target_param(scope, required=True),
        keyword("attr", positional_ok=True, help="attribute name"),
        keyword("value", positional_ok=True, help="attribute value"),
        keyword("secret", bool, default=False if not replace else None, help=secret_help),
        examples=tuple("rocks " + e.format(verb=verb) for e in _EXAMPLES[scope]),
    )(run)


def _remove(scope: Scope) -> Command:
    def run(ctx: Context, args: dict[str, Any]) -> Result:
        from rocks.inventory.hostedit import drop_attrs

        s = session(ctx)
        drop_attrs(s, scope, _targets(s, scope, args.get(scope.value, ())), args["attr"])
        return None

    run.__doc__ = (
        "Remove an attribute " + ("of the whole cluster." if scope is Scope.GLOBAL
                                  else f"from one or more {scope}s (those that have it).")
        + "\n\nIt is an error when none of them has it."
    )
    example = _EXAMPLES[scope][0].format(verb="remove").rsplit(" ", 1)[0]
    return command(
        *_target_param(scope, required=True),
        keyword("attr", positional_ok=True, help="attribute name"),
        examples=("rocks " + example,),
    )(run)


def _matches(pattern: str) -> Callable[[str], bool]:
    if not pattern:
        return lambda _name: True
    return lambda name: fnmatch.fnmatchcase(name, pattern)


def _order(name: str) -> tuple[str, str]:
    return (name.lower(), name)


_FILTER = keyword("attr", default="", help="only attributes with this name (or shell glob)")


def _list(scope: Scope) -> Command:
    def run(ctx: Context, args: dict[str, Any]) -> Result:
        from rocks.commands._attrtypes import declarations, is_secret
        from rocks.inventory import queries as q

        s = session(ctx)
        words = args.get(scope.value, ())
        wanted = set(_targets(s, scope, words)) if words else None
        keep = _matches(args["attr"])
        decls = declarations(ctx, s)  # a declared secret is masked even if stored plain
        attrs = [replace(a, secret=a.secret or is_secret(decls, a.name))
                 for a in q.list_attrs(s, scope)
                 if keep(a.name) and (wanted is None or a.target in wanted)]
        attrs.sort(key=lambda a: (a.target, *_order(a.name)))
        if scope is Scope.GLOBAL:
            return Rows(("attr", "value"), ((a.name, masked(a)) for a in attrs))
        return Rows((scope.value, "attr", "value"),
                    ((a.target, a.name, masked(a)) for a in attrs))

    run.__doc__ = (
        "List " + ("global attributes." if scope is Scope.GLOBAL
                   else f"attributes set at {scope} scope (all {scope}s by default).")
        + "\n\nSecret values show as ********."
    )
    noun = _noun(scope)
    return command(
        *_target_param(scope, required=False), _FILTER, tabular=True,
        examples=(f"rocks list {noun}", f"rocks list {noun} attr='Kickstart_*'"),
    )(run)


@command(
    positional("host", many=True, default=(),
               help="host names, appliance names, rackN or shell globs (default: all)"),
    _FILTER,
    keyword("release", default="el9", choices=("el9", "el10", "el7"),
            help="release whose roll defaults apply"),
    tabular=True,
    examples=("rocks list host attr compute-0-0", "rocks list host attr compute attr=x11",
              "rocks list host attr compute-0-0 output-format=json"),
)
def list_host_attr(ctx: Context, args: dict[str, Any]) -> Result:
    """List every attribute each host resolves to, and where its value came from.

    SOURCE: G global, O os, A appliance, K rack, H host, I intrinsic (name, rack, rank,
    appliance, os, address and MAC from the inventory), N derived from the networks and the
    frontend host (Kickstart_Private*/Public*: netmask, gateway, DNS, kickstart host, URLs), R a
    roll's declared default. Higher ones override lower ones: R < N < G < O < A < K < H. Secret
    values (marked secret=yes, or declared secret by a roll) show as ********.
    """
    from rocks.commands._hosts import expand_hosts
    from rocks.commands._inventory import cluster_service
    from rocks.compiler.service import default_attributes
    from rocks.inventory import queries as q

    s = session(ctx)
    names = expand_hosts(s, args["host"])
    header = ("host", "attr", "value", "source")
    if not names:
        return Rows(header, ())
    # Many names make a long IN list; resolving everyone and picking is cheaper then.
    resolved = q.resolve_attrs_many(s, names if args["host"] and len(names) <= 500 else None)
    graph = cluster_service(ctx, release=args["release"]).graph
    defaults: dict[str, dict[str, str]] = {}
    # A roll may declare an attribute secret: it stays masked whatever scope sets it.
    declared_secret = {a.name for roll in graph.rolls for a in roll.attributes if a.secret}
    keep = _matches(args["attr"])
    rows: list[tuple[str, str, str, str]] = []
    for name in names:
        r = resolved[name]
        appliance = r.values.get("appliance", "")
        if appliance not in defaults:
            defaults[appliance] = default_attributes(graph, appliance, args["release"])
        values = {**defaults[appliance], **r.values}
        for attr in sorted(values, key=_order):
            if not keep(attr):
                continue
            source = str(r.sources.get(attr, "roll"))
            secret = attr in r.secret or attr in declared_secret
            shown = SECRET_MASK if secret else values[attr]
            rows.append((name, attr, shown, LETTERS.get(source, source)))
    return Rows(header, rows)


add_attr = _add_or_set(Scope.GLOBAL, replace=False)
add_os_attr = _add_or_set(Scope.OS, replace=False)
add_appliance_attr = _add_or_set(Scope.APPLIANCE, replace=False)
add_host_attr = _add_or_set(Scope.HOST, replace=False)
add_rack_attr = _add_or_set(Scope.RACK, replace=False)
set_rack_attr = _add_or_set(Scope.RACK, replace=True)
remove_rack_attr = _remove(Scope.RACK)
list_rack_attr = _list(Scope.RACK)
set_attr = _add_or_set(Scope.GLOBAL, replace=True)
set_os_attr = _add_or_set(Scope.OS, replace=True)
set_appliance_attr = _add_or_set(Scope.APPLIANCE, replace=True)
set_host_attr = _add_or_set(Scope.HOST, replace=True)
remove_attr = _remove(Scope.GLOBAL)
remove_os_attr = _remove(Scope.OS)
remove_appliance_attr = _remove(Scope.APPLIANCE)
remove_host_attr = _remove(Scope.HOST)


@command(
    _FILTER,
    keyword("defaults", bool, default=True,
            help="also show the rolls' declared defaults (R) and the values derived from the "
                 "networks (N), with SOURCE and DOC columns; no: only the attributes set with "
                 "`rocks set attr`"),
    tabular=True,
    examples=("rocks list attr", "rocks list attr attr='Kickstart_*'",
              "rocks list attr defaults=no"),
)
def list_attr(ctx: Context, args: dict[str, Any]) -> Result:
    """List the cluster-wide attributes: what every host starts from before its os, appliance
    and host attributes.

    SOURCE: R a roll's declared default, N derived from the networks and the frontend host
    (Kickstart_Private*/Public*), G set with `rocks set attr`; R < N < G. DOC is the declaring
    roll's doc=. Secret values show as ********.
    """
    from rocks.commands._inventory import cluster_source
    from rocks.compiler.service import global_defaults
    from rocks.inventory import queries as q
    from rocks.inventory.netfacts import resolve_global
    from rocks.profiles import cluster_graph

    s = session(ctx)
    keep = _matches(args["attr"])
    if not args["defaults"]:
        from rocks.commands._attrtypes import declarations, is_secret

        decls = declarations(ctx, s)  # a declared secret is masked even if stored plain
        set_here = sorted((replace(a, secret=a.secret or is_secret(decls, a.name))
                           for a in q.list_attrs(s, Scope.GLOBAL) if keep(a.name)),
                          key=lambda a: _order(a.name))
        return Rows(("attr", "value"), ((a.name, masked(a)) for a in set_here))
    resolved = resolve_global(s)
    values: dict[str, str] = dict(resolved.values)
    sources = {k: str(v) for k, v in resolved.sources.items()}
    docs: dict[str, str] = {}
    secret = set(resolved.secret)
    graph = cluster_graph(s, cluster_source(ctx)).graph
    for name, value in global_defaults(graph).items():
        values.setdefault(name, value)
        sources.setdefault(name, "roll")
    for roll in graph.rolls:
        for a in roll.attributes:
            if not a.appliance:
                docs.setdefault(a.name, a.doc)
                if a.secret:
                    secret.add(a.name)
    return Rows(("attr", "value", "source", "doc"), (
        (name, SECRET_MASK if name in secret else values[name], LETTERS[sources[name]],
         docs.get(name) or None)
        for name in sorted(values, key=_order) if keep(name)))


list_os_attr = _list(Scope.OS)
list_appliance_attr = _list(Scope.APPLIANCE)
