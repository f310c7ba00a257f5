"""Checking kickstart text with pykickstart's parser for the target release.

Building a pykickstart handler costs ~30 ms, so this runs where profiles change (compile time),
never per request. `%include` of files that %pre writes at install time cannot be checked here:
includes are not followed.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

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


def validate_kickstart(
    text: str, release: str, origins: Sequence[Origin | None] = (), label: str = "<kickstart>"
) -> list[Diagnostic]:
    """Every problem pykickstart finds, located at the node file line that produced it."""
    from pykickstart.errors import KickstartError, KickstartParseWarning
    from pykickstart.parser import KickstartParser
    from pykickstart.version import makeVersion, stringToVersion

    problems: list[tuple[int | None, str, Severity]] = []

    class Collecting(KickstartParser):
        def _tryFunc(self, fn):  # type: ignore[no-untyped-def]  # pykickstart's per-line hook
            try:
                fn()
            except KickstartError as exc:
                self.errorsCount += 1
                problems.append((exc.lineno, str(exc.message), Severity.ERROR))

    handler = makeVersion(stringToVersion(RELEASES[check_release(release)]))
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
