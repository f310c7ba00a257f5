"""Roll directories: metadata (roll.xml), node files and graph files, with Rocks' overlays.

A roll is a directory with `nodes/`, `graphs/default/` and an optional `roll.xml` (Rocks-era roll
source trees have none: the directory name is the roll name). `include-version/<major>/` overlays
replace files of the same relative path when compiling for that major release, as Rocks' roll
build did.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

from rocks.compiler import schema
from rocks.compiler.nodes import NAME_HINT, NAME_RE
from rocks.compiler.xmlload import line_of, load_xml
from rocks.errors import Diagnostics, RocksError, SourceLocation
from rocks.model.attrtypes import DEFAULT_TYPE, TYPES, check_value
from rocks.resources import display_path

_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


class RollKind(enum.StrEnum):
    ROLL = "roll"
    SITE = "site"


@dataclass(frozen=True, slots=True)
class AttributeDecl:
    name: str
    value: str
    location: SourceLocation
    appliance: str = ""
    secret: bool = False
    doc: str = ""
    type: str = DEFAULT_TYPE  # a key of rocks.model.attrtypes.TYPES
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RollInfo:
    name: str
    version: str
    path: Path
    kind: RollKind = RollKind.ROLL
    release: str = ""
    arch: str = ""
    os: str = "linux"
    description: str = ""
    attributes: tuple[AttributeDecl, ...] = ()
    trusted: bool = False


@dataclass(frozen=True, slots=True)
class RollSource:
    info: RollInfo
    node_files: tuple[tuple[str, Path], ...]  # (file name, path) after overlays, sorted by name
    graph_files: tuple[Path, ...]


def _yes(value: str | None) -> bool:
    return (value or "").strip().lower() in {"yes", "true", "on", "1", "y"}


RollXml = tuple[str, str, dict[str, str], list[AttributeDecl], str]


def _read_roll_xml(path: Path, diags: Diagnostics) -> RollXml:
    file = display_path(path)
    loaded = load_xml(path, file, within=path.parent)
    for d in schema.validate(loaded.root, schema.Kind.ROLL, file):
        diags.extend([d])
    root = loaded.root
    name = root.get("name", "")
    if name and not NAME_RE.fullmatch(name):
        diags.error("bad-roll-name", f"roll name {name!r} is not a name",
                    SourceLocation(file, line_of(root)), hint=NAME_HINT)
        name = ""
    info_el = root.find("info")
    info = {str(k): str(v) for k, v in info_el.attrib.items()} if info_el is not None else {}
    desc_el = root.find("description")
    desc = " ".join((desc_el.text or "").split()) if desc_el is not None else ""
    attrs = [a for el in root.iterfind("attribute")
             if (a := _attribute(el, SourceLocation(file, line_of(el), name), diags)) is not None]
    return name, info.get("version", "0"), info, attrs, desc


def _attribute(el: object, loc: SourceLocation, diags: Diagnostics) -> AttributeDecl | None:
    """One <attribute> declaration, its type known and its default fitting the type."""
    get = el.get  # type: ignore[attr-defined]
    name, value = get("name", ""), get("value", "")
    type_name = get("type", DEFAULT_TYPE)
    choices = tuple(get("choices", "").split())
    errors = len(diags.errors)
    if not _ATTR_NAME.fullmatch(name):
        diags.error("bad-attr-name", f"attribute name {name!r} is not valid", loc,
                    hint="use letters, digits, '_', '.' and '-', starting with a letter or '_'")
    if type_name not in TYPES:
        diags.error("bad-attr-type", f"attribute {name}: unknown type {type_name!r}", loc,
                    hint="types: " + ", ".join(TYPES))
    else:
        for choice in choices:
            why = check_value(type_name, choice)
            if why:
                diags.error("bad-attr-choice", f"attribute {name}: choice {choice!r} is not "
                            f"a {type_name}: {why}", loc)
        why = check_value(type_name, value, choices)
        if why:
            diags.error("bad-attr-default", f"attribute {name}: default {value!r} does not fit "
                        f"its type {type_name}: {why}", loc)
    if len(diags.errors) > errors:
        return None
    return AttributeDecl(name=name, value=value, location=loc, appliance=get("appliance", ""),
                         secret=_yes(get("secret")), doc=get("doc", ""), type=type_name,
                         choices=choices)


def load_roll(
    path: Path, *, kind: RollKind = RollKind.ROLL, version_major: int | None = None,
    trusted: bool = False, diags: Diagnostics | None = None,
) -> RollSource:
    """Describe the roll at `path`; problems with its metadata go to `diags` (or raise)."""
    own = diags if diags is not None else Diagnostics()
    path = path.resolve()
    if not path.is_dir():
        raise RocksError.of(
            "roll-missing", f"roll directory not found: {path}",
            hint="rolls=DIR expects a directory holding nodes/ and graphs/default/",
        )
    nodes_dir = path / "nodes"
    graphs_dir = path / "graphs" / "default"
    if kind is RollKind.ROLL and not nodes_dir.is_dir() and not graphs_dir.is_dir():
        raise RocksError.of(
            "roll-empty", f"{display_path(path)} has neither nodes/ nor graphs/default/",
            SourceLocation(display_path(path)),
            hint="a roll directory holds nodes/*.xml and graphs/default/*.xml",
        )
    name, version = path.name, "0"
    info: dict[str, str] = {}
    attrs: list[AttributeDecl] = []
    desc = ""
    roll_xml = path / "roll.xml"
    if roll_xml.is_file():
        name, version, info, attrs, desc = _read_roll_xml(roll_xml, own)
        name = name or path.name
    if kind is RollKind.SITE:
        name = "site"

    nodes: dict[str, Path] = {}
    graphs: dict[str, Path] = {}
    layers = [path]
    if version_major is not None and (path / "include-version" / str(version_major)).is_dir():
        layers.append(path / "include-version" / str(version_major))
    for layer in layers:
        if (layer / "nodes").is_dir():
            for f in (layer / "nodes").glob("*.xml"):
                nodes[f.name] = f
        if (layer / "graphs" / "default").is_dir():
            for f in (layer / "graphs" / "default").glob("*.xml"):
                graphs[f.name] = f

    roll = RollInfo(
        name=name, version=version, path=path, kind=kind, release=info.get("release", ""),
        arch=info.get("arch", ""), os=info.get("os", "linux"), description=desc,
        attributes=tuple(attrs), trusted=trusted,
    )
    if diags is None:
        own.raise_if_errors()
    return RollSource(
        roll, tuple(sorted(nodes.items())), tuple(graphs[k] for k in sorted(graphs))
    )


@dataclass(frozen=True, slots=True)
class RollSelection:
    """One entry of a Rocks roll-selection file (`/tmp/rolls.xml` of the Rocks installer)."""

    name: str
    version: str
    arch: str
    url: str
    location: SourceLocation


def load_roll_selection(path: Path) -> list[RollSelection]:
    file = display_path(path)
    root = load_xml(path, file).root
    if root.tag != "rolls":
        raise RocksError.of(
            "schema", f"a roll selection file has root <rolls>, not <{root.tag}>",
            SourceLocation(file, line_of(root)),
        )
    out = []
    for el in root.iterfind("roll"):
        loc = SourceLocation(file, line_of(el))
        if not el.get("name"):
            raise RocksError.of("schema", "<roll> needs a name", loc)
        out.append(RollSelection(el.get("name", ""), el.get("version", ""), el.get("arch", ""),
                                 el.get("url", ""), loc))
    return out
