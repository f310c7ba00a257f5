"""Node files: the Rocks node language parsed into an immutable mixed-content tree.

Conditions (`arch os release cond`) are parsed once here, so a bad condition is reported at load
time with its file and line. Text keeps attribute slots for the renderer to splice.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from rocks.compiler import schema
from rocks.compiler.cond import Condition, parse_condition
from rocks.compiler.xmlload import LoadedXml, line_of, load_xml
from rocks.errors import Diagnostics, RocksError, SourceLocation

META_TAGS = frozenset({"description", "changelog", "copyright"})
# Node and roll names end up in DOT graphs, provenance comments and file names.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
NAME_HINT = "names are letters, digits and _ . + - (not starting with . + or -)"
COND_KEYS = ("arch", "os", "release", "cond")


class NodeKind(enum.StrEnum):
    BASE = "base"
    EXTEND = "extend"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class XElem:
    tag: str
    attrs: tuple[tuple[str, str], ...]
    parts: tuple[str | XElem, ...]
    line: int
    cond: Condition | None = None

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.attrs)

    @property
    def text(self) -> str:
        return "".join(p for p in self.parts if isinstance(p, str))

    @property
    def children(self) -> tuple[XElem, ...]:
        return tuple(p for p in self.parts if isinstance(p, XElem))


@dataclass(frozen=True, slots=True)
class NodeFile:
    name: str
    kind: NodeKind
    roll: str
    file: str
    path: Path
    digest: str
    body: tuple[XElem, ...]
    root_tag: str
    description: str
    references: tuple[tuple[str, int], ...]
    trusted: bool = False
    # description, changelog and copyright text: kept for listings, never emitted
    metadata: tuple[tuple[str, str], ...] = ()

    def loc(self, line: int) -> SourceLocation:
        return SourceLocation(self.file, line, self.roll)


def node_name(filename: str) -> tuple[str, NodeKind]:
    stem = filename[:-4] if filename.endswith(".xml") else filename
    for kind in (NodeKind.EXTEND, NodeKind.REPLACE):
        prefix = f"{kind.value}-"
        if stem.startswith(prefix):
            return stem[len(prefix):], kind
    return stem, NodeKind.BASE


def convert(el: etree._Element, file: str, diags: Diagnostics) -> XElem:
    """lxml element -> XElem, parsing conditions; errors go to diags."""
    parts: list[str | XElem] = []
    if el.text:
        parts.append(el.text)
    for child in el:
        if not isinstance(child.tag, str):  # comments and PIs are stripped by the parser
            if child.tail:
                parts.append(child.tail)
            continue
        parts.append(convert(child, file, diags))
        if child.tail:
            parts.append(child.tail)
    attrs = tuple((str(k), str(v)) for k, v in el.attrib.items())
    line = line_of(el)
    cond = None
    if any(k in el.attrib for k in COND_KEYS):
        try:
            cond = parse_condition(
                arch=el.get("arch"), os=el.get("os"), release=el.get("release"),
                cond=el.get("cond"), location=SourceLocation(file, line),
            )
        except RocksError as exc:
            diags.extend(exc.diagnostics)
    return XElem(str(el.tag), attrs, tuple(parts), line, cond)


def parse_node(
    loaded: LoadedXml, *, name: str, kind: NodeKind, roll: str, path: Path,
    trusted: bool, diags: Diagnostics,
) -> NodeFile | None:
    root = loaded.root
    errors = schema.validate(root, schema.Kind.NODE, loaded.file)
    if errors:
        diags.extend(errors)
        return None
    local = Diagnostics()
    body: list[XElem] = []
    description = ""
    metadata: list[tuple[str, str]] = []
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "description":
            description = " ".join((child.text or "").split())
        if child.tag in META_TAGS:
            metadata.append((str(child.tag), (child.text or "").strip()))
            continue
        body.append(convert(child, loaded.file, local))
    diags.extend(local)
    if local.errors:
        return None
    return NodeFile(
        name=name, kind=kind, roll=roll, file=loaded.file, path=path,
        digest=hashlib.sha256(loaded.data).hexdigest(), body=tuple(body),
        root_tag=str(root.tag), description=description,
        references=tuple(sorted(loaded.references.items())), trusted=trusted,
        metadata=tuple(metadata),
    )


def load_node(
    path: Path, file: str, *, roll: str, trusted: bool, diags: Diagnostics,
    within: Path | None = None,
) -> NodeFile | None:
    name, kind = node_name(path.name)
    if not NAME_RE.fullmatch(name):
        diags.error("bad-node-name", f"node file name {path.name!r} is not a node name",
                    SourceLocation(file), hint=NAME_HINT)
        return None
    try:
        loaded = load_xml(path, file, within=within)
    except RocksError as exc:
        diags.extend(exc.diagnostics)
        return None
    return parse_node(loaded, name=name, kind=kind, roll=roll, path=path, trusted=trusted,
                      diags=diags)
