"""What `rocks sync` remembers under its output root (`var/lib/rocks/sync-state`): the files it
manages and, for the incremental plan, the segments of the shared files it last wrote.

The manifest names each managed file's owner (a host, "" for shared files, ":boot" for boot
loaders), its service, mode, a digest of its content and the stamp (size, inode, mtime, mode)
it had when sync last wrote or checked it. A file whose desired content has the manifest's
digest and whose stamp still matches is unchanged without being read; any other file is read
and compared, so an edit or a removal by hand is still found and repaired.

The state is one `marshal` document of a few big strings and arrays, written atomically, and the
manifest stays in that columnar form in memory: a change to a few files touches a few rows
(ten thousand hosts' manifest loads and saves in about a millisecond; as JSON objects it took
tens). A state sync cannot read is reported; a manifest from an older rocks
(`sync-manifest.json`) is taken over once.
"""

from __future__ import annotations

import bisect
import json
import marshal
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rocks.digests import blake2b
from rocks.errors import Diagnostic, RocksError

STATE = "var/lib/rocks/sync-state"
CACHE = "var/lib/rocks/sync-cache"  # the incremental plan's memory: a cache, never fsynced
OLD_MANIFEST = "var/lib/rocks/sync-manifest.json"
FORMAT = 3
_SEP = "\0"
# size, inode, modification time (ns), permission bits: writing the file in place, replacing
# it and chmod each move one (sync's own rename and links move none: the stamp is taken when
# the file is written)
Stamp = tuple[int, int, int, int]
NO_STAMP: Stamp = (-1, -1, -1, -1)
_NO_DIGEST = b"\0" * 8


def digest(content: bytes) -> bytes:
    return blake2b(content, digest_size=8).digest()


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_size, st.st_ino, st.st_mtime_ns, st.st_mode & 0o7777)


@dataclass(frozen=True, slots=True)
class Record:
    owner: str
    digest: bytes  # b"" when unknown (taken over from an older manifest)
    mode: int
    service: str  # "" for none
    stamp: Stamp


def _stamp_or_none(target: str) -> Stamp:
    try:
        return stamp_of(os.lstat(target))
    except OSError:
        return NO_STAMP


def _ints(data: bytes, code: str) -> array[int]:
    a = array(code)
    a.frombytes(data)
    return a


class Manifest:
    """Path -> Record, sorted by path, stored as columns; changes are kept aside and merged
    into the columns when saved."""

    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self._changes: dict[str, Record | None] = {}
        if not doc or not doc["paths"]:
            self._paths: list[str] = []
            self._owners: list[str] = []
            self._services: list[str] = []
            self._owner_ix = array("l")
            self._service_ix = array("l")
            self._modes = array("l")
            self._stamps = array("q")
            self._digests = b""
            self._known = b""
            return
        self._paths = doc["paths"].split(_SEP)
        self._owners = doc["owners"].split(_SEP)
        self._services = doc["services"].split(_SEP)
        self._owner_ix = _ints(doc["owner_ix"], "l")
        self._service_ix = _ints(doc["service_ix"], "l")
        self._modes = _ints(doc["modes"], "l")
        self._stamps = _ints(doc["stamps"], "q")
        self._digests = doc["digests"]
        self._known = doc["known"]
        n = len(self._paths)
        if not (len(self._owner_ix) == len(self._service_ix) == len(self._modes)
                == len(self._known) == n and len(self._stamps) == 4 * n
                and len(self._digests) == 8 * n):
            raise ValueError("its columns disagree")
        if max(self._owner_ix) >= len(self._owners) or \
                max(self._service_ix) >= len(self._services):
            raise ValueError("an index points nowhere")

    # ------------------------------------------------------------------ reading

    def _at(self, i: int) -> Record:
        return Record(self._owners[self._owner_ix[i]],
                      self._digests[8 * i:8 * i + 8] if self._known[i] else b"",
                      self._modes[i], self._services[self._service_ix[i]],
                      (self._stamps[4 * i], self._stamps[4 * i + 1], self._stamps[4 * i + 2],
                       self._stamps[4 * i + 3]))

    def _find(self, path: str) -> int:
        i = bisect.bisect_left(self._paths, path)
        return i if i < len(self._paths) and self._paths[i] == path else -1

    def get(self, path: str) -> Record | None:
        if path in self._changes:
            return self._changes[path]
        i = self._find(path)
        return self._at(i) if i >= 0 else None

    def __contains__(self, path: str) -> bool:
        return self.get(path) is not None

    def items(self) -> Iterator[tuple[str, Record]]:
        for i, p in enumerate(self._paths):
            if p not in self._changes:
                yield p, self._at(i)
        for p, r in self._changes.items():
            if r is not None:
                yield p, r

    def owned_by(self, owners: set[str]) -> list[str]:
        """The paths of these owners' files."""
        ids = {i for i, o in enumerate(self._owners) if o in owners}
        out = [self._paths[i] for i, o in enumerate(self._owner_ix) if o in ids] if ids else []
        out = [p for p in out if p not in self._changes]
        out += [p for p, r in self._changes.items() if r is not None and r.owner in owners]
        return out

    def owners(self) -> set[str]:
        used = set(self._owner_ix)
        out = {o for i, o in enumerate(self._owners) if i in used}
        return out | {r.owner for r in self._changes.values() if r is not None}

    def __len__(self) -> int:
        n = len(self._paths)
        for path, rec in self._changes.items():
            there = self._find(path) >= 0
            n += (rec is not None and not there) - (rec is None and there)
        return n

    def stale(self, base: str) -> list[tuple[str, Record]]:
        """The files whose stamp on disk is not the recorded one (stat only: ten thousand
        files in tens of milliseconds)."""
        out = []
        stamps = self._stamps
        for i, path in enumerate(self._paths):
            if path in self._changes:
                continue
            try:
                st = os.lstat(base + path)
                now = (st.st_size, st.st_ino, st.st_mtime_ns, st.st_mode & 0o7777)
            except OSError:
                now = NO_STAMP
            if now != (stamps[4 * i], stamps[4 * i + 1], stamps[4 * i + 2], stamps[4 * i + 3]):
                out.append((path, self._at(i)))
        for path, rec in self._changes.items():
            if rec is not None and _stamp_or_none(base + path) != rec.stamp:
                out.append((path, rec))
        return out

    # ------------------------------------------------------------------ changing

    def set(self, path: str, record: Record) -> None:
        self._changes[path] = record

    def remove(self, path: str) -> None:
        self._changes[path] = None

    @property
    def changed(self) -> bool:
        return bool(self._changes)

    def encode(self) -> dict[str, Any]:
        """The columns with the changes merged in (unchanged runs are copied as slices)."""
        paths: list[str] = []
        owner_ix = array("l")
        service_ix = array("l")
        modes = array("l")
        stamps = array("q")
        digests = bytearray()
        known = bytearray()
        owners = {o: i for i, o in enumerate(self._owners)}
        services = {s: i for i, s in enumerate(self._services)}
        base = self._paths
        changes: list[tuple[str, Record | None]]
        if len(self._changes) > len(self._paths) // 2:
            owners, services = {}, {}  # mostly new: start the tables afresh
            changes = sorted(self.items())
            base = []
        else:
            changes = sorted(self._changes.items())
        pos = 0
        n = len(base)

        def copy(upto: int) -> None:
            if upto <= pos:
                return
            paths.extend(base[pos:upto])
            owner_ix.extend(self._owner_ix[pos:upto])
            service_ix.extend(self._service_ix[pos:upto])
            modes.extend(self._modes[pos:upto])
            stamps.extend(self._stamps[4 * pos:4 * upto])
            digests.extend(self._digests[8 * pos:8 * upto])
            known.extend(self._known[pos:upto])

        for path, rec in changes:
            i = bisect.bisect_left(base, path, pos)
            copy(i)
            pos = i + 1 if i < n and base[i] == path else max(i, pos)
            if rec is None:
                continue
            paths.append(path)
            owner_ix.append(owners.setdefault(rec.owner, len(owners)))
            service_ix.append(services.setdefault(rec.service, len(services)))
            modes.append(rec.mode)
            stamps.extend(rec.stamp)
            digests.extend(rec.digest if rec.digest else _NO_DIGEST)
            known.append(1 if rec.digest else 0)
        copy(n)
        return {"paths": _SEP.join(paths), "owners": _SEP.join(owners),
                "owner_ix": owner_ix.tobytes(), "services": _SEP.join(services),
                "service_ix": service_ix.tobytes(), "modes": modes.tobytes(),
                "stamps": stamps.tobytes(), "digests": bytes(digests), "known": bytes(known)}


@dataclass(slots=True)
class State:
    files: Manifest = field(default_factory=Manifest)
    cache: dict[str, Any] | None = None  # rocks.sync.incremental's, opaque here
    cache_changed: bool = False


def _bad(root: Path, path: str, why: object) -> RocksError:
    return RocksError(Diagnostic(
        "sync.bad-manifest", f"{root / path}: {why}", None,
        "remove it; the next sync rewrites every file it manages, and cannot remove files it "
        "no longer wants that it wrote before"))


def load(root: Path) -> State:
    try:
        raw = (root / STATE).read_bytes()
    except FileNotFoundError:
        return _load_old(root)
    try:
        doc = marshal.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a rocks sync state of format {FORMAT}")
        files = Manifest(doc["files"])
    except (ValueError, EOFError, TypeError, KeyError, IndexError) as exc:
        raise _bad(root, STATE, exc) from exc
    return State(files, _load_cache(root))


def _load_cache(root: Path) -> dict[str, Any] | None:
    """The incremental plan's memory; None when there is none or it cannot be read (the next
    plan is then a full one)."""
    try:
        cache = marshal.loads((root / CACHE).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return cache if isinstance(cache, dict) else None


def _load_old(root: Path) -> State:
    """An older rocks's JSON manifest (owners and services, no digests): every file it names
    is read and compared once."""
    try:
        doc = json.loads((root / OLD_MANIFEST).read_bytes())
    except FileNotFoundError:
        return State()
    except ValueError as exc:
        raise _bad(root, OLD_MANIFEST, exc) from exc
    services = dict(doc.get("services", {}))
    files = Manifest()
    for o, paths in doc.get("owners", {}).items():
        for p in paths:
            files.set(p, Record(o, b"", 0, services.get(p, "") or "", NO_STAMP))
    return State(files)


def save(root: Path, state: State, *, files: bool = True, cache: bool = True) -> None:
    """Write the manifest (atomically and durably: temp file, fsync, rename) and the cache
    (atomically: a cache lost in a crash costs one full plan); drop an older manifest."""
    if files:
        _write(root / STATE, marshal.dumps({"format": FORMAT, "files": state.files.encode()}),
               durable=True)
        (root / OLD_MANIFEST).unlink(missing_ok=True)
    if cache:
        if state.cache is None:
            (root / CACHE).unlink(missing_ok=True)
        else:
            _write(root / CACHE, marshal.dumps(state.cache), durable=False)


def _write(target: Path, data: bytes, *, durable: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.rocks-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
