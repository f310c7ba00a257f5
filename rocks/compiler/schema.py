"""RELAX NG validation of the three rocks XML formats: node files, graph files and roll.xml.

The grammars live in rocks/data/schemas/*.rng. libxml2 decides validity; its error log is terse and
stops at the first problem in each subtree, so on failure we re-walk the tree with a vocabulary
read from the same grammar (names, attributes, text) to report every problem in plain words.
"""

from __future__ import annotations

import difflib
import enum
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

from rocks.errors import Diagnostic, SourceLocation

_RNG = "{http://relaxng.org/ns/structure/1.0}"
_SENTINEL = re.compile("\ue000([^\ue001]*)\ue001")
_NOELEM = re.compile(r"Expecting an element (\S+), got nothing")
# A RelaxNG object keeps the error log of its last run; threads must not interleave runs.
_LOCK = threading.Lock()


class Kind(enum.StrEnum):
    NODE = "node"
    GRAPH = "graph"
    ROLL = "roll"


def schema_dir() -> Path:
    from rocks.resources import schema_dir as packaged

    return packaged()


@dataclass(slots=True)
class _Vocab:
    """What one element name may carry, merged over every definition of that name."""

    attrs: dict[str, frozenset[str] | None] = field(default_factory=dict)  # name -> values
    required: set[str] | None = None
    children: set[str] = field(default_factory=set)
    repeatable: set[str] = field(default_factory=set)
    text: bool = False


@dataclass(frozen=True, slots=True)
class _Schema:
    relaxng: etree.RelaxNG
    roots: frozenset[str]
    vocab: dict[str, _Vocab]


@cache
def _schema(kind: Kind) -> _Schema:
    doc = etree.parse(str(schema_dir() / f"{kind.value}.rng"))
    return _Schema(etree.RelaxNG(doc), *_vocabulary(doc.getroot()))


# ---------------------------------------------------------------- reading the grammar


def _element_names(el: etree._Element) -> list[str]:
    if el.get("name"):
        return [el.get("name", "")]
    return [str(n.text).strip() for n in el[0].iter(f"{_RNG}name")]


def _values(node: etree._Element, defines: dict[str | None, etree._Element]) -> frozenset[str]:
    """The enumerated values an attribute pattern allows, following refs."""
    found = {str(x.text) for x in node.iter(f"{_RNG}value")}
    for ref in node.iter(f"{_RNG}ref"):
        found |= _values(defines[ref.get("name")], defines)
    return frozenset(found)


def _vocabulary(grammar: etree._Element) -> tuple[frozenset[str], dict[str, _Vocab]]:
    defines = {d.get("name"): d for d in grammar.iter(f"{_RNG}define")}
    vocab: dict[str, _Vocab] = {}

    def content(nodes: list[etree._Element], v: _Vocab, required: set[str], optional: bool,
                repeat: bool, seen: frozenset[str]) -> None:
        """Walk a pattern down to (not into) the elements it contains, filling `v`."""
        for node in nodes:
            if not isinstance(node.tag, str):
                continue
            tag = node.tag.removeprefix(_RNG)
            if tag == "element":
                v.children.update(_element_names(node))
                if repeat:
                    v.repeatable.update(_element_names(node))
            elif tag == "attribute":
                v.attrs[node.get("name", "")] = _values(node, defines) or None
                if not optional:
                    required.add(node.get("name", ""))
            elif tag == "ref":
                name = node.get("name", "")
                if name not in seen:
                    content(list(defines[name]), v, required, optional, repeat, seen | {name})
            else:
                v.text = v.text or tag in ("text", "mixed", "data", "value")
                content(
                    list(node), v, required,
                    optional or tag in ("optional", "zeroOrMore", "choice"),
                    repeat or tag in ("zeroOrMore", "oneOrMore"),
                    seen,
                )

    for el in grammar.iter(f"{_RNG}element"):
        body = list(el) if el.get("name") else list(el)[1:]
        for name in _element_names(el):
            v = vocab.setdefault(name, _Vocab())
            required: set[str] = set()
            content(body, v, required, False, False, frozenset())
            v.required = required if v.required is None else v.required & required
    roots = _Vocab()
    content(list(next(grammar.iter(f"{_RNG}start"))), roots, set(), False, False, frozenset())
    return frozenset(roots.children), vocab


# ---------------------------------------------------------------- reporting


def _line(el: etree._Element | None) -> int:
    line: object = el.sourceline if el is not None else 0
    return line if isinstance(line, int) else 0


def _show(text: str, limit: int = 40) -> str:
    """Text as the author wrote it: sentinels back to &name;, one line, shortened."""
    text = " ".join(_SENTINEL.sub(r"&\1;", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _suggest(word: str, choices: Iterable[str], what: str) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean {what.format(close[0])}?" if close else ""


def _text_line(parent: etree._Element, before: etree._Element | None, text: str) -> int:
    """Line where stray text starts: lxml records lines of elements, not of text nodes."""
    lead = text[: len(text) - len(text.lstrip())].count("\n")
    if before is None:
        return _line(parent) + lead
    span = etree.tostring(before, with_tail=False, encoding="unicode").count("\n")
    return _line(before) + span + lead


def _walk(root: etree._Element, sch: _Schema, file: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []

    def diag(line: int | None, message: str, hint: str = "") -> None:
        out.append(Diagnostic("schema", message, SourceLocation(file, line or 0), hint))

    def check(el: etree._Element, v: _Vocab) -> None:
        tag = str(el.tag)
        for key, raw in el.attrib.items():
            attr, value = str(key), str(raw)
            if attr not in v.attrs:
                hint = _suggest(attr, v.attrs, '"{}"')
                diag(_line(el), f'attribute "{attr}" is not allowed on <{tag}>', hint)
                continue
            allowed = v.attrs[attr]
            if allowed is not None and value not in allowed:
                expected = ", ".join(f'"{x}"' for x in sorted(allowed))
                diag(_line(el), f'attribute "{attr}" on <{tag}> must be one of {expected}, '
                     f'not "{_show(value)}"')
        for attr in sorted(v.required or ()):
            if attr not in el.attrib:
                diag(_line(el), f'required attribute "{attr}" is missing on <{tag}>')
        if not v.text and el.text and el.text.strip():
            diag(_text_line(el, None, el.text),
                 f'text "{_show(el.text)}" is not allowed inside <{tag}>')
        seen: set[str] = set()
        for child in el:
            if not v.text and child.tail and child.tail.strip():
                diag(_text_line(el, child, child.tail),
                     f'text "{_show(child.tail)}" is not allowed inside <{tag}>')
            if not isinstance(child.tag, str):
                continue
            if child.tag not in v.children or child.tag not in sch.vocab:
                hint = _suggest(child.tag, v.children, "<{}>")
                diag(_line(child),
                     f'element "{child.tag}" is not allowed here (inside <{tag}>)', hint)
                continue
            if child.tag in seen and child.tag not in v.repeatable:
                diag(_line(child), f'element "{child.tag}" may appear only once inside <{tag}>')
            seen.add(child.tag)
            check(child, sch.vocab[child.tag])

    if root.tag not in sch.roots:
        expected = " or ".join(f"<{r}>" for r in sorted(sch.roots))
        diag(_line(root),
             f'element "{root.tag}" is not allowed as the root element (expected {expected})')
    else:
        check(root, sch.vocab[str(root.tag)])
    return out


def _element_at(root: etree._Element, path: str | None) -> etree._Element | None:
    found = root.getroottree().xpath(path) if path else []
    first = found[0] if isinstance(found, list) and found else None
    return first if isinstance(first, etree._Element) else None


def _structural(root: etree._Element, sch: _Schema, file: str) -> list[Diagnostic]:
    """Problems the vocabulary cannot see: an edge or order missing one of its ends."""
    entries = [e for e in sch.relaxng.error_log if e.level_name == "ERROR"]
    out: list[Diagnostic] = []
    done: set[str] = set()
    for entry in entries:
        el = _element_at(root, entry.path)
        if (m := _NOELEM.match(entry.message)) and el is not None and entry.path not in done:
            # Ends given as an attribute or as children (edge from/to, order head/tail); only
            # element-only content has them (<file include=> and <include> are unrelated).
            v = sch.vocab.get(str(el.tag), _Vocab())
            ends = [] if v.text else [n for n in v.attrs if n in v.children]
            missing = [n for n in ends if n not in el.attrib and el.find(n) is None]
            if m.group(1) not in ends or not missing:
                continue  # noise from libxml2 trying the other branches of a choice
            done.add(entry.path)
            need = " and ".join(f'"{n}"' for n in missing)
            kids = "/".join(f"<{n}>" for n in missing)
            forms = "an attribute" if len(missing) == 1 else "attributes"
            out.append(Diagnostic(
                "schema",
                f"<{el.tag}> needs {need}, as {forms} or as {kids} child elements",
                SourceLocation(file, _line(el)),
            ))
    return out


def _fallback(root: etree._Element, sch: _Schema, file: str) -> Diagnostic:
    """libxml2's own first message, for anything the explanations above do not cover."""
    entries = [e for e in sch.relaxng.error_log if e.level_name == "ERROR"]
    first = next((e for e in entries if e.line), entries[0] if entries else None)
    if first is None:
        return Diagnostic("schema", "document does not match the schema",
                          SourceLocation(file, _line(root)))
    el = _element_at(root, first.path)
    what = f"<{el.tag}>" if el is not None else "document"
    return Diagnostic("schema", f"{what} does not match the schema: {first.message}",
                      SourceLocation(file, first.line))


def validate(
    tree: etree._ElementTree | etree._Element, kind: Kind, file: str
) -> list[Diagnostic]:
    """Check a parsed document against the grammar of `kind`; [] when it is valid.

    Diagnostics come in document order, one per problem found.
    """
    sch = _schema(kind)
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    with _LOCK:
        if sch.relaxng.validate(root):
            return []
        found = _walk(root, sch, file) + _structural(root, sch, file)
        if not found:
            return [_fallback(root, sch, file)]
    unique = {(d.location, d.message): d for d in found}
    return sorted(unique.values(), key=lambda d: d.location.line if d.location else 0)
