"""The distribution and the boot files as the connection protocol sends them: sendfile(2), no
copy through Python, with single byte ranges (dnf resumes a package with `Range: bytes=N-`).

A mass reinstall spends its bytes here: a few hundred nodes fetching a thousand packages each.
Starlette's StaticFiles (still mounted behind, for what this does not answer) reads files in
64 KiB chunks on a thread and hands each to the event loop; this answers GET and HEAD of a
regular file from the protocol (conn.py) and lets the kernel copy the file to the socket.

Lookup is StaticFiles': the path normalised, resolved (symlinks followed to where they point)
and refused unless it stays inside the served directory. Headers are StaticFiles' too
(content type, length, Last-Modified, the ETag of mtime and size, Accept-Ranges), and so are
If-None-Match / If-Modified-Since (304) and If-Range. A range past the end, a suffix of
nothing, or a start after its end is 416 with `Content-Range: bytes */size`; a header in
another unit or not parseable is ignored (RFC 9110: the whole file). Several ranges at once,
and anything that is not a regular file, go to StaticFiles (multipart answers, its 404s).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from email.utils import formatdate, parsedate
from mimetypes import guess_type
from typing import Any

Headers = list[tuple[bytes, bytes]]
_RANGE = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


@dataclass(slots=True)
class FileAnswer:
    """What to send: status and headers, then `count` bytes of `path` from `offset`."""

    status: int
    headers: Headers
    path: str
    offset: int = 0
    count: int = 0
    body: bytes = b""  # instead of the file (416)


class Unsatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | list[Any] | None:
    """The one range `header` asks for, as (start, end exclusive); None to send the whole
    file (no byte ranges asked, or a header to ignore); [] for several ranges (not handled
    here). Raises Unsatisfiable."""
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    parts = spec.split(",")
    if len(parts) > 1:
        return []
    m = _RANGE.fullmatch(parts[0])
    if m is None or not (m.group(1) or m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size
    start = int(first)
    end = int(last) + 1 if last else size
    if start >= size or end <= start:
        raise Unsatisfiable
    return start, min(end, size)


def lookup(directory: str, rel: str) -> tuple[str, os.stat_result] | None:
    """The regular file `rel` names inside `directory` (realpath'd), as StaticFiles looks it
    up; None for anything else (missing, a directory, outside, unreadable name).

    The components under `directory` are lstat'ed one by one (two calls for a package); only a
    path through a symbolic link pays for realpath (a call per component of the whole path)."""
    if "\x00" in rel or rel.startswith(("/", "\\")):
        return None
    parts = [p for p in rel.split("/") if p]
    if not parts:
        return None
    path = os.path.normpath(os.path.join(*parts))
    if path.startswith(("/", "\\", "..")):
        return None
    full = directory
    try:
        for part in path.split("/"):
            full = f"{full}/{part}"
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                return _through_links(directory, path)
    except (OSError, ValueError):
        return None
    return (full, st) if stat.S_ISREG(st.st_mode) else None


def _through_links(directory: str, path: str) -> tuple[str, os.stat_result] | None:
    full = os.path.realpath(os.path.join(directory, path))
    if os.path.commonpath([full, directory]) != directory:
        return None
    try:
        st = os.stat(full)
    except (OSError, ValueError):
        return None
    return (full, st) if stat.S_ISREG(st.st_mode) else None


# The headers of a file version (path, mtime, size): dates and digests are computed once.
_HEADERS: dict[tuple[str, int, int], tuple[str, str, bytes]] = {}
_HEADERS_MAX = 4096


def _file_headers(full: str, st: os.stat_result) -> tuple[str, str, bytes]:
    key = (full, st.st_mtime_ns, st.st_size)
    got = _HEADERS.get(key)
    if got is None:
        last_modified = formatdate(st.st_mtime, usegmt=True)
        tag = f"{st.st_mtime}-{st.st_size}".encode()
        etag = f'"{hashlib.md5(tag, usedforsecurity=False).hexdigest()}"'
        media = guess_type(full)[0] or "text/plain"
        if media.startswith("text/") and "charset=" not in media.lower():
            media += "; charset=utf-8"
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        got = _HEADERS[key] = (last_modified, etag, media.encode())
    return got


def answer(full: str, st: os.stat_result, request: list[tuple[bytes, bytes]],
           head: bool) -> FileAnswer | None:
    """The answer for a regular file (None: several ranges, StaticFiles answers)."""
    last_modified, etag, media = _file_headers(full, st)
    wanted = {k.decode(): v.decode("latin-1") for k, v in request
              if k in (b"range", b"if-range", b"if-none-match", b"if-modified-since")}
    base = [(b"accept-ranges", b"bytes"), (b"last-modified", last_modified.encode()),
            (b"etag", etag.encode())]
    if _not_modified(wanted, etag, last_modified):
        return FileAnswer(304, [(b"etag", etag.encode())], full)
    size = st.st_size
    full_answer = FileAnswer(200, [(b"content-type", media),
                                   (b"content-length", str(size).encode()), *base],
                             full, 0, 0 if head else size)
    header = wanted.get("range")
    if header is None:
        return full_answer
    if_range = wanted.get("if-range")
    if if_range is not None and (if_range.startswith("W/")
                                 or if_range not in (last_modified, etag)):
        return full_answer  # the file changed since: all of it
    try:
        chosen = parse_range(header, size)
    except Unsatisfiable:
        return FileAnswer(416, [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", b"0"),
                                (b"content-range", f"bytes */{size}".encode())], full)
    if chosen is None:
        return full_answer
    if isinstance(chosen, list):
        return None
    start, end = chosen
    return FileAnswer(206, [(b"content-type", media),
                            (b"content-length", str(end - start).encode()),
                            (b"content-range", f"bytes {start}-{end - 1}/{size}".encode()),
                            *base], full, start, 0 if head else end - start)


def _not_modified(request: dict[str, str], etag: str, last_modified: str) -> bool:
    """StaticFiles.is_not_modified."""
    if_none_match = request.get("if-none-match")
    if if_none_match:
        if if_none_match.strip() == "*":
            return True
        return etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    since = request.get("if-modified-since")
    if since:
        asked, modified = parsedate(since), parsedate(last_modified)
        return asked is not None and modified is not None and asked >= modified
    return False
