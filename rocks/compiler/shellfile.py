"""`<file>` elements as the shell that writes them, inlined where they stand in a script.

Rocks also kept RCS histories of every file it wrote; we do not (the profile's provenance and the
install record replace it), so `rcs=` is accepted and ignored.
"""

from __future__ import annotations

import re
import shlex

DELIM = "ROCKS-EOF"
# A word the shell takes as it is (attribute slots included: their values are checked where
# they land). Anything else is quoted, so a file name or owner is never shell code.
_PLAIN = re.compile("[A-Za-z0-9_@%+=:,./\ue000\ue001-]+")
PERMS = re.compile(r"[0-7]{3,4}|[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*")


def _q(word: str) -> str:
    return word if _PLAIN.fullmatch(word) else shlex.quote(word)


def _delimiter(content: str) -> str:
    lines = set(content.splitlines())
    delim, n = DELIM, 0
    while delim in lines:
        n += 1
        delim = f"{DELIM}-{n}"
    return delim


def file_shell(
    name: str, content: str, *, mode: str = "create", perms: str = "", owner: str = "",
    expanded: bool = False, expr: str = "",
) -> str:
    """Shell text that creates or appends `name` with `content`, then sets owner and mode."""
    redir = ">>" if mode == "append" else ">"
    directory = name.rsplit("/", 1)[0] if "/" in name.strip("/") else ""
    out: list[str] = []
    name = _q(name)
    if directory:
        out.append(f"mkdir -p {_q(directory)}")
    if expr:
        out.append(f"{expr} {redir} {name}")
    elif content.strip() == "":
        out.append(f"touch {name}")
    else:
        if content.startswith("\n"):
            content = content[1:]
        # drop the indentation before the closing </file> tag
        head, _, last = content.rpartition("\n")
        if not last.strip():
            content = head
        if not content.endswith("\n"):
            content += "\n"
        delim = _delimiter(content)
        quoted = delim if expanded else f"'{delim}'"
        out.append(f"cat {redir} {name} << {quoted}\n{content}{delim}")
    if owner:
        out.append(f"chown {_q(owner)} {name}")
    if perms:
        out.append(f"chmod {_q(perms)} {name}")
    return "\n".join(out) + "\n"
