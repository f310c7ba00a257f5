"""Attribute values checked against the declarations the rolls make (type, choices, secrecy).

Every path that writes attributes — the `set`/`add` commands at each scope, `load attrfile`,
`load hostfile` attr: columns, the admin API — checks with these functions; the declarations
come from the cluster's rolls (rocks.profiles.attribute_declarations), the types from
rocks.model.attrtypes. An attribute a roll declares secret is stored secret whatever flag the
writer gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from rocks.errors import Diagnostic, RocksError, SourceLocation
from rocks.model.attrtypes import DEFAULT_TYPE, TYPES, check_value
from rocks.model.inventory import Attribute, Scope


class Declaration(Protocol):
    """What a roll declares of an attribute (rocks.compiler.rolls.AttributeDecl)."""

    @property
    def type(self) -> str: ...
    @property
    def choices(self) -> tuple[str, ...]: ...
    @property
    def secret(self) -> bool: ...
    @property
    def doc(self) -> str: ...
    @property
    def location(self) -> SourceLocation: ...


Declarations = Mapping[str, Declaration]


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
