"""A compiled profile: the typed kickstart of one appliance for one set of condition inputs.

Text fields may hold attribute slots (U+E000 name U+E001) that the renderer splices per host.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SLOT_OPEN = "\ue000"
SLOT_CLOSE = "\ue001"


def slot(name: str) -> str:
    """The in-text marker for attribute `name`, spliced with the host's value at render time."""
    return f"{SLOT_OPEN}{name}{SLOT_CLOSE}"


@dataclass(frozen=True, slots=True, order=True)
class Origin:
    """Provenance of a kickstart line: roll, node file and line, and how the node was reached."""

    roll: str
    file: str  # relative to the roll, e.g. "nodes/compute.xml": the same from any directory
    line: int
    node: str = ""
    via: str = ""  # the edge that brought the node in, e.g. "client -> compute"; "" for the root

    @property
    def where(self) -> str:
        """`roll:file`, as messages name the node file (with the line: `roll:file:line`)."""
        return f"{self.roll}:{self.file}"

    def __str__(self) -> str:
        text = f"{self.roll}:{self.file}:{self.line}"
        return f"{text} (node {self.node}, via {self.via})" if self.via else text


class ScriptKind(enum.StrEnum):
    PRE = "pre"
    POST = "post"
    ONERROR = "onerror"  # %onerror: the installer failed (also run on a traceback)
    TRACEBACK = "traceback"  # %traceback: the installer crashed (deprecated after RHEL 8)


@dataclass(frozen=True, slots=True)
class MainCommand:
    name: str
    args: str
    origin: Origin

    @property
    def line(self) -> str:
        return f"{self.name} {self.args}".rstrip()


@dataclass(frozen=True, slots=True)
class PackageRef:
    name: str  # "@group" for meta packages
    origin: Origin


@dataclass(frozen=True, slots=True)
class Script:
    kind: ScriptKind
    body: str
    origin: Origin
    interpreter: str = ""
    args: str = ""


@dataclass(frozen=True, slots=True)
class NodeRef:
    """One node of the traversal, in order, with the files that made it."""

    name: str
    roll: str
    files: tuple[str, ...]
    via: str = ""


@dataclass(frozen=True, slots=True)
class Profile:
    root: str
    release: str
    nodes: tuple[NodeRef, ...]
    main: tuple[MainCommand, ...]
    packages: tuple[PackageRef, ...]
    excluded: tuple[PackageRef, ...]
    pre: tuple[Script, ...]
    post: tuple[Script, ...]
    debug: tuple[str, ...] = ()
    onerror: tuple[Script, ...] = ()
    traceback: tuple[Script, ...] = ()
