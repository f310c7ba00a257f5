"""Checking kickstart text with pykickstart's parser for the target release.

Building a pykickstart handler costs ~30 ms, so this runs where profiles change (compile time),
never per request. `%include` of a file that %pre writes at install time is checked through its
shapes: a %pre that writes `<file name="P.SHAPE">` (any number of shapes) declares the texts
it may copy to P, and the kickstart is parsed once with each in place of `%include P`. An
include without shapes is not followed.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Sequence
from typing import Any

from rocks.compiler.render import RELEASES, check_release
from rocks.errors import Diagnostic, Severity, SourceLocation
from rocks.model.profile import Origin


def _location(origins: Sequence[Origin | None], lineno: int | None, label: str
              ) -> SourceLocation:
    if lineno and 0 < lineno <= len(origins):
        origin = origins[lineno - 1]
        if origin is not None:
            return SourceLocation(origin.where, origin.line, origin.roll)
    return SourceLocation(label, lineno or 0)


def _unbalanced_line(text: str) -> int | None:
    """The first command line (outside %pre/%post/%packages bodies) shlex cannot split."""
    import shlex

    in_section = False
    for n, line in enumerate(text.splitlines(), 1):
        head = line.lstrip()
        if head.startswith("%end"):
            in_section = False
        elif re.match(r"%(pre|post|packages|onerror|traceback|pre-install|addon|anaconda)\b",
                      head):
            in_section = True
        elif not in_section and head and not head.startswith("#"):
            try:
                shlex.split(line)
            except ValueError:
                return n
    return None


_LINE_NOTE = re.compile(r" \((kickstart line \d+|with \S+ in place)\)")
# what rocks' own <file> rendering writes (compiler/shellfile.py)
_HEREDOC = re.compile(r"^cat > (\S+) << '?([A-Za-z0-9-]+)'?$")


def include_shapes(lines: Sequence[str]) -> dict[str, list[tuple[str, list[int]]]]:
    """For each `%include P` line: the (shape, content line indexes) of every `P.shape` file
    that a script writes."""
    written: list[tuple[str, list[int]]] = []
    i = 0
    while i < len(lines):
        m = _HEREDOC.match(lines[i])
        if m:
            end = i + 1
            while end < len(lines) and lines[end] != m.group(2):
                end += 1
            written.append((m.group(1), list(range(i + 1, end))))
            i = end
        i += 1
    out: dict[str, list[tuple[str, list[int]]]] = {}
    for line in lines:
        if line.startswith("%include "):
            path = line.split(None, 1)[1].strip()
            out[path] = [(name[len(path) + 1:], idx) for name, idx in written
                         if name.startswith(path + ".")]
    return out


def validate_kickstart(
    text: str, release: str, origins: Sequence[Origin | None] = (), label: str = "<kickstart>"
) -> list[Diagnostic]:
    """Every problem pykickstart finds, located at the node file line that produced it; with
    every shape of an included file (see the module's doc) in place in turn."""
    from pykickstart.version import makeVersion, stringToVersion

    lines = text.split("\n")
    origins = list(origins) + [None] * (len(lines) - len(origins))
    variants: list[tuple[str, str, list[Origin | None]]] = [("", text, origins)]
    for path, shapes in include_shapes(lines).items():
        if not shapes:
            continue
        at = lines.index(f"%include {path}")
        variants = [v for v in variants if v[0]]
        for shape, idx in shapes:
            body = [lines[i] for i in idx]
            new_lines = lines[:at] + body + lines[at + 1:]
            new_origins = origins[:at] + [origins[i] for i in idx] + origins[at + 1:]
            variants.append((f"{path}.{shape}", "\n".join(new_lines), new_origins))
        break  # one included file with shapes per kickstart is what the rolls use
    template = makeVersion(stringToVersion(RELEASES[check_release(release)]))
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for n, (shape, variant, where) in enumerate(variants):
        handler = template if n == len(variants) - 1 else copy.deepcopy(template)
        for d in _validate(handler, variant, release, where, label):
            if shape and d.location is not None and d.location.file == label:
                d = Diagnostic(d.code, f"{d.message} (with {shape} in place)", d.location,
                               d.hint, severity=d.severity)
            key = (_LINE_NOTE.sub("", d.message), str(d.location))
            if key not in seen:
                seen.add(key)
                out.append(d)
    return out


def _validate(handler: Any, text: str, release: str, origins: Sequence[Origin | None],
              label: str) -> list[Diagnostic]:
    from pykickstart.errors import KickstartError, KickstartParseWarning
    from pykickstart.parser import KickstartParser

    problems: list[tuple[int | None, str, Severity]] = []

    class Collecting(KickstartParser):
        def _tryFunc(self, fn):  # type: ignore[no-untyped-def]  # pykickstart's per-line hook
            try:
                fn()
            except KickstartError as exc:
                self.errorsCount += 1
                problems.append((exc.lineno, str(exc.message), Severity.ERROR))

    parser = Collecting(handler, errorsAreFatal=False, followIncludes=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser.readKickstartFromString(text)
        except KickstartError as exc:
            problems.append((exc.lineno, str(exc.message), Severity.ERROR))
        except ValueError as exc:  # pykickstart's shlex on a command line: "No closing quotation"
            problems.append((_unbalanced_line(text), f"{exc} in a command line", Severity.ERROR))
    for w in caught:
        if issubclass(w.category, KickstartParseWarning) or "deprecat" in str(w.message):
            problems.append((None, str(w.message), Severity.WARNING))
    out: list[Diagnostic] = []
    for lineno, message, severity in problems:
        message = " ".join(message.split())
        out.append(Diagnostic(
            "kickstart-invalid" if severity is Severity.ERROR else "kickstart-warning",
            f"pykickstart {RELEASES[release]}: {message}"
            + (f" (kickstart line {lineno})" if lineno else ""),
            _location(origins, lineno, label), severity=severity,
        ))
    return out
