"""Attribute values checked against the types the rolls declare, on every command that writes
attributes (`set`/`add` at each scope, `load attrfile`, `load hostfile` attr: columns).

The declarations are read from the cluster's rolls (rocks.profiles.attribute_declarations: the
same rolls as the graph); the checks are rocks.model.attrcheck's, shared with the admin API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocks.commands import Context
from rocks.model.attrcheck import Declarations, checked, is_secret, problem, where
from rocks.model.attrtypes import types_help

if TYPE_CHECKING:
    from rocks.inventory.db import Session

__all__ = ["HELP", "Declarations", "checked", "declarations", "is_secret", "problem", "where"]

HELP = (
    "Values are checked against the type the rolls declare for the attribute (roll.xml "
    "<attribute type=>); a value that does not fit is refused and nothing is changed. An "
    "attribute no roll declares is a string: one line without control characters. An "
    "attribute a roll declares secret is stored secret whatever secret= says.\n\nTypes:\n"
    + types_help()
)


def declarations(ctx: Context, s: Session) -> Declarations:
    """The cluster's attribute declarations (bundled rolls, enabled rolls, site graph)."""
    from rocks.commands._inventory import cluster_source
    from rocks.profiles import attribute_declarations

    return attribute_declarations(s, cluster_source(ctx))
