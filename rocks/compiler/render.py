"""Rendering a Profile through the release's Jinja2 template into a Skeleton, and splicing hosts.

The skeleton is the kickstart text with attribute slots still in it, cut into literal and slot
segments once; rendering a host joins them with its values, which costs microseconds. Each output
line of the skeleton keeps the Origin it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache

import jinja2

import rocks
from rocks.compiler.splice import Ctx, HeredocLine, SlotCheck, shell_contexts
from rocks.compiler.xmlload import SLOT_RE
from rocks.errors import RocksError
from rocks.model.profile import SLOT_OPEN, Origin, Profile
from rocks.resources import releases, templates_dir

RELEASES = {"el9": "RHEL9", "el10": "RHEL10", "el7": "RHEL7"}
MARK = "\ue002"
_MARK_LINE = re.compile(f"{MARK}(\\d+){MARK}")
_SECTION = re.compile(r"^%(pre|post|pre-install|onerror|traceback)\b")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def check_release(release: str) -> str:
    """A release both pykickstart checks (RELEASES) and a template exists for."""
    offered = [r for r in releases() if r in RELEASES]
    if release not in offered:
        raise RocksError.of(
            "bad-release", f'unknown release "{release}"',
            hint="release= takes one of: " + ", ".join(offered),
        )
    return release


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A rendered kickstart with its slots still open."""

    text: str
    literals: tuple[str, ...]
    names: tuple[str, ...]  # slot i sits between literals[i] and literals[i+1]
    in_script: tuple[bool, ...]  # slot i lies inside a %pre/%post body
    checks: tuple[SlotCheck, ...]  # where slot i sits: what its value may hold
    heredoc_lines: tuple[HeredocLine, ...]  # here-document lines holding slots
    origins: tuple[Origin | None, ...]  # per line of `text`
    release: str

    @property
    def slot_names(self) -> frozenset[str]:
        return frozenset(self.names)

    def splice(self, values: Mapping[str, str]) -> str:
        lits = self.literals
        out = [lits[0]]
        get = values.get
        for i, name in enumerate(self.names):
            out.append(get(name, ""))
            out.append(lits[i + 1])
        return "".join(out)


def render_skeleton(profile: Profile, *, provenance: bool = False) -> Skeleton:
    origins_by_mark: list[Origin] = []

    def mark(origin: Origin) -> str:
        origins_by_mark.append(origin)
        return f"{MARK}{len(origins_by_mark) - 1}{MARK}"

    template = _environment().get_template(f"{check_release(profile.release)}/kickstart.ks.j2")
    raw = template.render(profile=profile, release=profile.release, version=rocks.__version__,
                          mark=mark)
    lines: list[str] = []
    origins: list[Origin | None] = []
    current: Origin | None = None
    in_script = False
    for line in raw.split("\n"):
        m = _MARK_LINE.match(line)
        if m:
            current = origins_by_mark[int(m.group(1))]
            line = line[m.end():]
            if provenance and not _SECTION.match(line) and not in_script:
                lines.append(f"# rocks: {current}")
                origins.append(current)
        if _SECTION.match(line) or line.startswith("%packages"):
            in_script = not line.startswith("%packages")
        elif line.startswith("%end"):
            in_script = False
        elif not in_script and not line.strip():
            current = None
        lines.append(line)
        origins.append(current if line.strip() else None)
    text = "\n".join(lines)
    literals: list[str] = []
    names: list[str] = []
    script_flags: list[bool] = []
    checks: list[SlotCheck] = []
    pos = 0
    spans = _script_spans(text)
    span_checks = []
    heredoc_lines: list[HeredocLine] = []
    for a, b, shell in spans:
        if shell:
            found, lines_here = shell_contexts(text[a:b])
            heredoc_lines += lines_here
        else:
            found = [SlotCheck(Ctx.OTHER)] * text.count(SLOT_OPEN, a, b)
        span_checks.append(iter(found))
    for m in SLOT_RE.finditer(text):
        literals.append(text[pos:m.start()])
        names.append(m.group(1))
        at = next((k for k, (a, b, _) in enumerate(spans) if a <= m.start() < b), None)
        script_flags.append(at is not None)
        check = next(span_checks[at]) if at is not None else SlotCheck(Ctx.COMMAND)
        line_head = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
        if not SLOT_RE.sub("", line_head).strip():
            check = replace(check, at_line_start=True)
        if check.ctx is Ctx.COMMAND and (not line_head or line_head[-1] in " \t"):
            check = replace(check, word_start=True)
        checks.append(check)
        pos = m.end()
    literals.append(text[pos:])
    return Skeleton(text, tuple(literals), tuple(names), tuple(script_flags), tuple(checks),
                    tuple(heredoc_lines), tuple(origins), profile.release)


_SHELLS = frozenset({"sh", "bash"})


def _script_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is shell) of every %pre/%post body."""
    spans: list[tuple[int, int, bool]] = []
    start = None
    shell = True
    offset = 0
    for line in text.split("\n"):
        if start is None and _SECTION.match(line):
            start = offset + len(line)
            m = re.search(r"--interpreter[= ](\S+)", line)
            shell = m is None or m.group(1).rsplit("/", 1)[-1] in _SHELLS
        elif start is not None and line.startswith("%end"):
            spans.append((start, offset, shell))
            start = None
        offset += len(line) + 1
    return spans
