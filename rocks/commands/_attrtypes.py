"""Attribute values checked against the types the rolls declare, on every command that writes
attributes (`set`/`add` at each scope, `load attrfile`, `load hostfile` attr: columns).

The declarations are read from the cluster's graph (profiles.profile_service decides which
rolls); the types themselves are the table in rocks.model.attrtypes. An attribute a roll
declares secret is stored secret whatever flag the command was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from rocks.commands import Context
from rocks.errors import Diagnostic, RocksError
from rocks.model.attrtypes import DEFAULT_TYPE, TYPES, check_value, types_help
from rocks.model.inventory import Attribute, Scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.compiler.rolls import AttributeDecl

Declarations = Mapping[str, "AttributeDecl"]

HELP = (
    "Values are checked against the type the rolls declare for the attribute (roll.xml "
    "<attribute type=>); a value that does not fit is refused and nothing is changed. An "
    "attribute no roll declares is a string: one line without control characters. An "
    "attribute a roll declares secret is stored secret whatever secret= says.\n\nTypes:\n"
    + types_help()
)


def declarations(ctx: Context, s: Session) -> Declarations:
    """The cluster's attribute declarations (bundled rolls, enabled rolls, site graph)."""
    from rocks.commands._inventory import roll_store
    from rocks.profiles import attribute_declarations

    return attribute_declarations(s, roll_store(ctx))


def where(scope: Scope, target: str) -> str:
    return "global" if scope is Scope.GLOBAL else f"{scope} {target}"


def is_secret(decls: Declarations, name: str) -> bool:
    decl = decls.get(name)
    return decl is not None and decl.secret


def problem(decls: Declarations, a: Attribute) -> Diagnostic | None:
    """Why attribute `a` may not be stored (its value does not fit its declared type)."""
    decl = decls.get(a.name)
    type_name = decl.type if decl is not None else DEFAULT_TYPE
    choices = decl.choices if decl is not None else ()
    why = check_value(type_name, a.value)
    if why is None and (not choices or a.value in choices):
        return None
    secret = a.secret or (decl is not None and decl.secret)
    shown = "the (secret) value" if secret else repr(a.value if len(a.value) <= 60
                                                     else a.value[:57] + "...")
    if why is None:
        what = "is not one of " + ", ".join(choices)
    else:
        what = f"is not {'an' if type_name[0] in 'aeiou' else 'a'} {type_name}: {why}"
    if decl is None:
        hint = f"no roll declares {a.name}, so it is a string: {TYPES[DEFAULT_TYPE].summary}"
    else:
        hint = f"roll {decl.location.roll or decl.location.file} declares {a.name} {type_name}"
        hint += f" ({decl.doc})" if decl.doc else ""
        example = choices[0] if choices else TYPES[type_name].example
        hint += f"; e.g. {example}" if example and not secret else ""
    return Diagnostic("bad-attr-value", f"{where(a.scope, a.target)}: attribute {a.name}: "
                      f"{shown} {what}", None, hint)


def checked(decls: Declarations, attrs: Iterable[Attribute]) -> list[Attribute]:
    """`attrs` with secrecy from the declarations; raises listing every value that does not fit
    its type."""
    out: list[Attribute] = []
    problems: list[Diagnostic] = []
    for a in attrs:
        d = problem(decls, a)
        if d is not None:
            problems.append(d)
        elif is_secret(decls, a.name) and not a.secret:
            a = Attribute(a.name, a.value, a.scope, a.target, True)
        out.append(a)
    if problems:
        raise RocksError(*problems)
    return out
