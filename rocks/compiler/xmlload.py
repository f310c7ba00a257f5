"""Reading Rocks XML with lxml, keeping line numbers and `&name;` attribute references symbolic.

Rocks expanded every host attribute as a DTD entity before parsing. We compile once per appliance,
so a reference becomes a slot (U+E000 name U+E001) in the text and the renderer splices each
host's value later. Comments and CDATA sections are left alone, as an XML parser would.
"""

from __future__ import annotations

import functools
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

# Roll files are data until the roll is trusted: internal entities only (an external one is
# "not defined"), no DTD read from a file or the network, libxml2's amplification limits on.
_PARSER = etree.XMLParser(
    remove_comments=True,
    resolve_entities="internal",  # type: ignore[arg-type]  # lxml >= 5; the stubs lag
    load_dtd=False,
    no_network=True,
    remove_pis=True,
    strip_cdata=True,
    huge_tree=False,
)
MAX_FILE_BYTES = 16 * 1024 * 1024  # no roll XML file comes near this
MAX_ENTITY_CHARS = 64 * 1024  # what one declared entity may expand to
MAX_ENTITIES = 256
_DOCTYPE = re.compile(r"<!DOCTYPE\b", re.I)
_EXTERNAL = re.compile(r"<!ENTITY\s+(%\s+)?([^\s>]+)\s+(SYSTEM|PUBLIC)\b")
_PARAMETER = re.compile(r"<!ENTITY\s+%")
_INTERNAL = re.compile(r"<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(?:\"([^\"]*)\"|'([^']*)')\s*>")


def _check_dtd(text: str, file: str) -> None:
    """Refuse what could read outside the file or blow up: external and parameter entities,
    and internal ones that expand beyond MAX_ENTITY_CHARS (billion laughs)."""
    if not _DOCTYPE.search(_PROTECTED.sub("", text)):
        return
    # comments and CDATA blanked out, lines kept
    bare = _PROTECTED.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)

    def line(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    for m in _EXTERNAL.finditer(bare):
        raise RocksError.of(
            "xml-external-entity",
            f"external entity {m.group(2)} ({m.group(3)}) is not allowed: a roll file may not "
            "read other files or URLs", SourceLocation(file, line(m.start())),
            hint="write the text into the file, or use <include file=> for a file of the roll",
        )
    for m in _PARAMETER.finditer(bare):
        raise RocksError.of(
            "xml-external-entity", "parameter entities (<!ENTITY % …>) are not allowed",
            SourceLocation(file, line(m.start())), hint="declare plain text entities only")
    decls = {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3) or "", m.start())
             for m in _INTERNAL.finditer(bare)}
    if len(decls) > MAX_ENTITIES:
        raise RocksError.of("xml-entities", f"more than {MAX_ENTITIES} entity declarations",
                            SourceLocation(file, 1))
    sizes: dict[str, int] = {}

    def size(name: str, stack: tuple[str, ...]) -> int:
        if name in sizes:
            return sizes[name]
        if name in stack:
            raise RocksError.of("xml-entities", f"entity {name} refers to itself",
                                SourceLocation(file, line(decls[name][1])))
        value = decls[name][0]
        total = len(value)
        for ref in _ENTITY.finditer(value):
            if ref.group(1) in decls:
                total += size(ref.group(1), (*stack, name)) - len(ref.group())
            if total > MAX_ENTITY_CHARS:
                break
        sizes[name] = total
        return total

    for name, (_value, pos) in decls.items():
        if size(name, ()) > MAX_ENTITY_CHARS:
            raise RocksError.of(
                "xml-entities",
                f"entity {name} expands to more than {MAX_ENTITY_CHARS} characters",
                SourceLocation(file, line(pos)), hint="entities nested in entities multiply")


def parse_xml(data: bytes, file: str) -> LoadedXml:
    """Parse XML text; a syntax error is a RocksError at file:line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RocksError.of("xml", f"not UTF-8: {exc.reason}", SourceLocation(file, line),
                            hint="save the file as UTF-8") from None
    _check_dtd(text, file)
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
        if re.fullmatch(r"Entity '.*' not defined", msg):
            msg += " (only entities declared in the file itself are expanded)"
        raise RocksError.of(
            "xml", f"malformed XML: {msg}", SourceLocation(file, line),
            hint="check that every tag is closed and that &, < are escaped as &amp; and &lt;",
        ) from None
    return LoadedXml(root, file, data, refs)


def read_regular(path: Path, file: str, *, within: Path | None = None,
                 limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes that, with symbolic links resolved,
    lies inside `within` (when given). Devices, FIFOs, directories and files reached through a
    link out of their roll are refused before anything is read, so /dev/zero cannot hang a
    compile and a link cannot hand out /etc/shadow."""
    import os
    import stat

    try:
        real = _real(path)
    except (OSError, RuntimeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unresolvable link"
        raise RocksError.of("io", f"cannot read: {why}", SourceLocation(file)) from None
    if within is not None and not real.is_relative_to(_real_dir(str(within))):
        raise RocksError.of(
            "path-outside-roll", f"{file} leads outside its roll (to {real})",
            SourceLocation(file), hint="a roll may only use files inside its own directory")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise RocksError.of("io", f"cannot read: {exc.strerror}", SourceLocation(file)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RocksError.of("not-a-file", f"{file} is not a regular file",
                                SourceLocation(file), hint="roll files are plain files")
        if st.st_size > limit:
            raise RocksError.of("file-too-large",
                                f"{file} is larger than {limit // (1024 * 1024)} MiB",
                                SourceLocation(file))
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise RocksError.of("file-too-large", f"{file} grew past the size limit while read",
                            SourceLocation(file))
    return data


@functools.lru_cache(maxsize=1024)
def _real_dir(path: str) -> Path:
    return Path(path).resolve()


def forget_resolved_paths() -> None:
    """Start a load afresh: directories are resolved again (a roll may have changed on disk
    since the last load of a long-running frontend)."""
    _real_dir.cache_clear()


def _real(path: Path) -> Path:
    """`path` with every symbolic link resolved (its directory's resolution cached: a roll has
    few directories and many files)."""
    import os
    import stat

    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return path.resolve(strict=True)
    return _real_dir(str(path.parent.absolute())) / path.name


def load_xml(path: Path, file: str, *, within: Path | None = None) -> LoadedXml:
    return parse_xml(read_regular(path, file, within=within), file)


def slots_in(text: str) -> list[str]:
    return SLOT_RE.findall(text)


def unslot(text: str) -> str:
    """Turn slots back into `&name;` (for XML listings)."""
    return SLOT_RE.sub(lambda m: f"&{m.group(1)};", text)


def line_of(el: object) -> int:
    """An element's 1-based source line (0 when unknown)."""
    line = getattr(el, "sourceline", None)
    return line if isinstance(line, int) else 0
