"""Where each attribute slot of a kickstart sits, and which values may go there.

The kickstart generator's own defence: whatever got into the inventory, a spliced value cannot
change the structure of the kickstart or of a shell script in it. Each slot gets a context when
the skeleton is built — a kickstart command line, an unquoted shell word, a single- or
double-quoted shell string, a here-document body, a comment, or a script in another language —
by a small shell lexer that knows quotes, `$(…)`, backquotes, `${…}`, comments and
here-documents. Rendering a host then checks each value against its slots' contexts, which
costs a regular-expression match per attribute.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from rocks.model.attrtypes import control_in, describe_char, line_break_in
from rocks.model.profile import SLOT_CLOSE, SLOT_OPEN


class Ctx(enum.StrEnum):
    COMMAND = "command"  # a kickstart command or %packages line
    WORD = "word"  # unquoted shell word (also inside $(…), `…`, ${…})
    SQ = "single-quoted"  # '…'
    DQ = "double-quoted"  # "…" or an unquoted-delimiter here-document body
    COMMENT = "comment"  # after # up to the end of the line
    HEREDOC = "heredoc"  # body of a here-document with a quoted delimiter
    OTHER = "script"  # a %pre/%post with a non-shell interpreter


@dataclass(frozen=True, slots=True)
class SlotCheck:
    ctx: Ctx
    delim: str = ""  # here-document delimiter (HEREDOC and DQ in a here-document)
    at_line_start: bool = False  # only blanks (and slots) before it on its kickstart line
    word_start: bool = False  # starts a word of a kickstart command line (could be an option)


# Values made only of these (and not starting with '-') fit every context: the render's fast
# path.
PLAIN = re.compile(r"(?!-)[A-Za-z0-9_@+=:,./-]*")
# A command-line value with one of these can change how pykickstart splits the line: that
# host's kickstart is checked in full (a crypt hash's '$' cannot, so hosts stay fast).
FULL_CHECK = frozenset(" \t\"'#\\")
_WORD_OK = re.compile(r"[A-Za-z0-9_@%+=:,./-]*")
_FORBIDDEN = {
    Ctx.SQ: "'",
    Ctx.DQ: '"$`\\',
    Ctx.OTHER: "'\"\\`$;|&<>(){}",
}
_WHERE = {
    Ctx.COMMAND: "a kickstart command line",
    Ctx.WORD: "an unquoted shell word",
    Ctx.SQ: "a single-quoted shell string",
    Ctx.DQ: "a double-quoted shell string",
    Ctx.COMMENT: "a shell comment",
    Ctx.HEREDOC: "a here-document",
    Ctx.OTHER: "a script in a language rocks cannot quote for",
}


def problem(check: SlotCheck, value: str, multiline: bool = False) -> str | None:
    """Why `value` may not fill a slot with this check, or None. Only a `multiline` value
    (an attribute declared `text`) may hold line feeds, and only in a here-document."""
    heredoc = check.ctx is Ctx.HEREDOC or (check.ctx is Ctx.DQ and check.delim)
    ch = control_in(value, newline_ok=bool(heredoc) and multiline)
    where = _WHERE[check.ctx]
    if ch:
        if line_break_in(ch):
            return f"a line break ({describe_char(ch)}) inside {where}"
        return f"a control character ({describe_char(ch)}) inside {where}"
    lines = value.split("\n")
    starts = lines[1:] if not check.at_line_start else lines
    if any(line.lstrip().startswith("%") for line in starts):
        return ("a line starting with % inside the kickstart" if check.ctx is Ctx.COMMAND
                else "a line starting with % inside a script")
    if check.delim and check.delim in value:
        return f"the here-document delimiter {check.delim} inside the document"
    if check.ctx is Ctx.WORD and not _WORD_OK.fullmatch(value):
        bad = next(c for c in value if not _WORD_OK.fullmatch(c))
        return (f"{describe_char(bad)} inside {where} (only letters, digits and "
                "_ @ % + = : , . / - are safe there)")
    bad_set = _FORBIDDEN.get(check.ctx, "")
    quote = next((c for c in value if c in bad_set), None)
    if quote is not None:
        return f"{quote!r} inside {where}"
    if check.word_start and value.startswith("-"):
        return "a leading '-' where a command would read it as an option"
    if check.ctx is Ctx.COMMAND:
        why = _unbalanced(value)
        if why:
            return why
    return None


def _unbalanced(value: str) -> str | None:
    import shlex

    try:
        shlex.split(value, comments=False)
    except ValueError as exc:
        return f"an unbalanced quote in a kickstart command line ({exc})"
    return None


# -- the shell lexer ---------------------------------------------------------------------------

_HEREDOC_OP = re.compile(r"<<(-?)[ \t]*((?:'[^'\n]*'|\"[^\"\n]*\"|\\?[^\s;&|<>()'\"])+)")


@dataclass(frozen=True, slots=True)
class HeredocLine:
    """A here-document body line holding slots: once the values are in, no line it becomes
    may equal the terminator (values on one line could spell it together)."""

    delim: str
    strip_tabs: bool  # <<- : leading tabs do not count
    parts: tuple[str, ...]  # literal, slot name, literal, slot name, …, literal

    def problem(self, values: Mapping[str, str]) -> str | None:
        text = "".join(p if k % 2 == 0 else values.get(p, "") for k, p in enumerate(self.parts))
        for line in text.split("\n"):
            if (line.lstrip("\t") if self.strip_tabs else line) == self.delim:
                return f"a line that ends the here-document ({self.delim}) inside it"
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return self.parts[1::2]


def shell_contexts(body: str) -> tuple[list[SlotCheck], list[HeredocLine]]:
    """The context of every slot in a shell script body, in order (at_line_start unset), and
    the here-document lines that hold slots."""
    out: list[SlotCheck] = []
    lines: list[HeredocLine] = []
    _lex(body, ["cmd"], [0], out, "", lines)
    return out, lines


def _word_context(kind: str, delim: str, word_start: bool) -> SlotCheck:
    if kind == "sq":
        return SlotCheck(Ctx.SQ, word_start=word_start)
    if kind in ("dq", "hdx"):
        return SlotCheck(Ctx.DQ, delim if kind == "hdx" else "", word_start=word_start)
    return SlotCheck(Ctx.WORD, word_start=word_start)


def _lex(text: str, stack: list[str], depth: list[int], out: list[SlotCheck], delim: str,
         lines: list[HeredocLine]) -> None:
    """Walk `text` with a stack of contexts: cmd (unquoted, with a paren depth), sq, dq, ansi
    ($'…'), bq (`…`), param (${…}), hdx (a here-document body that expands)."""
    i, n = 0, len(text)
    pending: list[tuple[str, bool, bool]] = []  # here-documents opened on this line
    word_start = True
    while i < n:
        c = text[i]
        kind = stack[-1]
        if c == SLOT_OPEN:
            end = text.find(SLOT_CLOSE, i)
            if kind in ("sq", "dq"):  # first thing in quotes that begin a word
                starts = i > 0 and text[i - 1] in "'\"" and (i < 2 or text[i - 2] in " \t\n;|&(")
            else:
                starts = word_start and kind != "hdx"
            out.append(_word_context(kind, delim, starts))
            i = n if end < 0 else end + 1
            word_start = False
            continue
        if kind == "sq":
            if c == "'":
                stack.pop()
            i += 1
            continue
        if kind == "ansi":
            if c == "\\":
                i += 2
                continue
            if c == "'":
                stack.pop()
            i += 1
            continue
        if kind in ("dq", "hdx"):
            if c == "\\":
                i += 2
            elif c == '"' and kind == "dq":
                stack.pop()
                i += 1
            elif c == "`":
                stack.append("bq")
                i += 1
            elif text.startswith("$(", i):
                stack.append("cmd")
                depth.append(1)
                i += 2
            elif text.startswith("${", i):
                stack.append("param")
                i += 2
            else:
                i += 1
            continue
        # cmd, bq, param: unquoted shell
        if c == "\\":
            i += 2
            word_start = False
            continue
        if c == "#" and word_start:
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.extend(SlotCheck(Ctx.COMMENT) for _ in range(text.count(SLOT_OPEN, i, end)))
            i = end
            continue
        if c == "'":
            stack.append("sq")
        elif text.startswith("$'", i):
            stack.append("ansi")
            i += 1
        elif c == '"':
            stack.append("dq")
        elif c == "`":
            if kind == "bq":
                stack.pop()
            else:
                stack.append("bq")
        elif c == "}" and kind == "param":
            stack.pop()
        elif text.startswith("$(", i):
            stack.append("cmd")
            depth.append(1)
            i += 1
        elif text.startswith("${", i):
            stack.append("param")
            i += 1
        elif c == "(" and kind == "cmd":
            depth[-1] += 1
        elif c == ")" and kind == "cmd" and len(stack) > 1:
            depth[-1] -= 1
            if depth[-1] <= 0:
                stack.pop()
                depth.pop()
        elif text.startswith("<<", i) and not text.startswith("<<<", i):
            m = _HEREDOC_OP.match(text, i)
            if m:
                word = m.group(2)
                quoted = any(q in word for q in "'\"\\")
                pending.append((re.sub(r"['\"\\]", "", word), quoted, m.group(1) == "-"))
                i = m.end()
                word_start = False
                continue
        elif c == "\n" and pending:
            i = _heredocs(text, i + 1, pending, out, lines)
            pending = []
            word_start = True
            continue
        word_start = c in " \t\n;|&()"
        i += 1


def _heredocs(text: str, i: int, pending: list[tuple[str, bool, bool]],
              out: list[SlotCheck], lines: list[HeredocLine]) -> int:
    """Consume the bodies of the here-documents opened on the line that just ended; return
    where the shell text resumes."""
    for word, quoted, strip in pending:
        start = i
        end = len(text)
        while i < len(text):
            nl = text.find("\n", i)
            line_end = len(text) if nl < 0 else nl
            line = text[i:line_end]
            if (line.lstrip("\t") if strip else line) == word:
                end = i
                i = line_end + 1 if nl >= 0 else len(text)
                break
            i = line_end + 1 if nl >= 0 else len(text)
        else:
            end = len(text)
        body = text[start:end]
        for line in body.split("\n"):
            if SLOT_OPEN in line:
                parts = re.split(f"{SLOT_OPEN}([^{SLOT_CLOSE}]*){SLOT_CLOSE}", line)
                lines.append(HeredocLine(word, strip, tuple(parts)))
        if quoted:
            out.extend(SlotCheck(Ctx.HEREDOC, word) for _ in range(body.count(SLOT_OPEN)))
        else:
            _lex(body, ["hdx"], [0], out, word, lines)
    return i
