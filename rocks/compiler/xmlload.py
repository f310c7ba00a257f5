"""Reading Rocks XML with lxml, keeping line numbers and `&name;` attribute references symbolic.

Rocks expanded every host attribute as a DTD entity before parsing. We compile once per appliance,
so a reference becomes a slot (U+E000 name U+E001) in the text and the renderer splices each
host's value later. Comments and CDATA sections are left alone, as an XML parser would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from rocks.errors import RocksError, SourceLocation
from rocks.model.profile import SLOT_CLOSE, SLOT_OPEN

PREDEFINED = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY = re.compile(r"&([A-Za-z_][A-Za-z0-9_.-]*);")
_PROTECTED = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.S)
_DECLARED = re.compile(r"<!ENTITY\s+([A-Za-z_][\w.-]*)")
SLOT_RE = re.compile(f"{SLOT_OPEN}([^{SLOT_CLOSE}]*){SLOT_CLOSE}")


@dataclass(slots=True)
class LoadedXml:
    root: etree._Element
    file: str  # display path
    data: bytes
    references: dict[str, int] = field(default_factory=dict)  # entity name -> first line used


def _slotify(text: str, refs: dict[str, int], declared: frozenset[str]) -> str:
    out: list[str] = []
    pos = 0
    line = 1

    def sub_part(part: str, start_line: int) -> str:
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in PREDEFINED or name in declared:
                return m.group(0)
            refs.setdefault(name, start_line + part.count("\n", 0, m.start()))
            return f"{SLOT_OPEN}{name}{SLOT_CLOSE}"

        return _ENTITY.sub(repl, part)

    for m in _PROTECTED.finditer(text):
        chunk = text[pos : m.start()]
        out.append(sub_part(chunk, line))
        line += chunk.count("\n") + m.group(0).count("\n")
        out.append(m.group(0))
        pos = m.end()
    out.append(sub_part(text[pos:], line))
    return "".join(out)


_FRIENDLY = {
    "xmlParseEntityRef: no name":
        '"&" must be followed by a name and ";" (write &amp; for a literal "&")',
    "EntityRef: expecting ';'":
        '"&name" must end with ";" (write &amp; for a literal "&")',
    "StartTag: invalid element name":
        '"<" must start a tag (write &lt; for a literal "<")',
}

_PARSER = etree.XMLParser(
    remove_comments=True,
    resolve_entities=True,
    load_dtd=False,
    no_network=True,
    remove_pis=True,
    strip_cdata=True,
)


def parse_xml(data: bytes, file: str) -> LoadedXml:
    """Parse XML text; a syntax error is a RocksError at file:line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RocksError.of("xml", f"not UTF-8: {exc.reason}", SourceLocation(file, line),
                            hint="save the file as UTF-8") from None
    refs: dict[str, int] = {}
    declared = frozenset(_DECLARED.findall(text))
    slotted = _slotify(text, refs, declared)
    # lxml rejects a str with an encoding declaration; drop the declaration line content only.
    slotted = re.sub(r"^\s*<\?xml[^>]*\?>", lambda m: "\n" * m.group(0).count("\n"), slotted)
    try:
        root = etree.fromstring(slotted, _PARSER)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        msg = str(exc.msg or exc)
        msg = re.sub(r",? line \d+, column \d+$", "", msg)
        msg = _FRIENDLY.get(msg, msg)
        raise RocksError.of(
            "xml", f"malformed XML: {msg}", SourceLocation(file, line),
            hint="check that every tag is closed and that &, < are escaped as &amp; and &lt;",
        ) from None
    return LoadedXml(root, file, data, refs)


def load_xml(path: Path, file: str) -> LoadedXml:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RocksError.of("io", f"cannot read: {exc.strerror}", SourceLocation(file)) from None
    return parse_xml(data, file)


def slots_in(text: str) -> list[str]:
    return SLOT_RE.findall(text)


def unslot(text: str) -> str:
    """Turn slots back into `&name;` (for XML listings)."""
    return SLOT_RE.sub(lambda m: f"&{m.group(1)};", text)


def line_of(el: object) -> int:
    """An element's 1-based source line (0 when unknown)."""
    line = getattr(el, "sourceline", None)
    return line if isinstance(line, int) else 0
