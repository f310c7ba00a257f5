"""Applying a sync plan to a directory tree: write only what differs (temp file in the same
directory, fsync, rename, fsync the directory), remove managed files no longer desired, and
say which services must reload.

Managed paths are listed in a manifest under the root. Temp files about to be written are
listed in a pending file first, so a run killed between writing a temp file and renaming it
leaves the old file in place and the next run removes the litter.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rocks.errors import Diagnostic, RocksError
from rocks.sync.inputs import SHARED, DesiredFile
from rocks.sync.plan import Plan

MANIFEST = "var/lib/rocks/sync-manifest.json"
PENDING = "var/lib/rocks/sync-pending.json"
TMP_SUFFIX = ".rocks-tmp"
# past this many files one sync(2) is far cheaper than an fsync per file, and as safe: every
# temp file is durable before the first rename either way
BATCH_SYNC_AT = 32
# names per shared inode (ext4 allows 65,000 links to one file)
MAX_LINKS = 1000

Runner = Callable[[Sequence[str]], int]
DEBIAN_UNITS = {"dhcpd": "isc-dhcp-server", "kea": "kea-dhcp4-server", "named": "named"}
EL_UNITS = {"dhcpd": "dhcpd", "kea": "kea-dhcp4", "named": "named"}


@dataclass(frozen=True, slots=True)
class ApplyResult:
    changed: list[str]
    unchanged: int
    removed: list[str]
    diff: str
    services_to_reload: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Manifest:
    owners: dict[str, list[str]]
    services: dict[str, str]

    def encode(self) -> bytes:
        doc = {"version": 1, "owners": {o: sorted(p) for o, p in sorted(self.owners.items())},
               "services": dict(sorted(self.services.items()))}
        return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def disk_reader(root: Path) -> Callable[[str], bytes | None]:
    """A `previous` reader for `plan()`: the bytes of root/path, or None."""

    def read(path: str) -> bytes | None:
        try:
            return (root / path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    return read


def _load_manifest(root: Path) -> _Manifest:
    try:
        doc = json.loads((root / MANIFEST).read_bytes())
    except FileNotFoundError:
        return _Manifest({}, {})
    except ValueError as exc:
        raise RocksError(Diagnostic(
            "sync.bad-manifest", f"{root / MANIFEST}: {exc}", None,
            "remove it; the next sync will not remove stale files")) from exc
    return _Manifest({o: list(p) for o, p in doc.get("owners", {}).items()},
                     dict(doc.get("services", {})))


def _read(target: str) -> tuple[bytes | None, int]:
    """The current content (None if absent, or not a file: writing it will then fail with
    the reason) and permission bits."""
    try:
        fd = os.open(target, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None, 0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, 0
        parts = []
        while chunk := os.read(fd, max(st.st_size, 4096) + 1):
            parts.append(chunk)
        return b"".join(parts), st.st_mode & 0o7777
    finally:
        os.close(fd)


def _diff(path: str, old: bytes | None, new: bytes | None) -> str:
    def lines(data: bytes | None) -> list[str] | None:
        if data is None:
            return []
        if b"\0" in data:
            return None
        try:
            return data.decode().splitlines(keepends=True)
        except UnicodeDecodeError:
            return None

    a, b = lines(old), lines(new)
    if a is None or b is None:
        return f"Binary files a/{path} and b/{path} differ\n"
    out = difflib.unified_diff(a, b, "/dev/null" if old is None else f"a/{path}",
                               "/dev/null" if new is None else f"b/{path}")
    return "".join(s if s.endswith("\n") else s + "\n\\ No newline at end of file\n" for s in out)


def _syncfs(root: Path) -> None:
    """Flush the file system holding `root` (syncfs(2)); sync(2) where that is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, AttributeError):
        os.sync()
        return
    try:
        if libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_for(target: Path) -> Path:
    return target.with_name(f".{target.name}{TMP_SUFFIX}")


def _write_atomic(target: Path, content: bytes, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_for(target)
    with open(tmp, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fchmod(fh.fileno(), mode)
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _clean_pending(root: Path) -> None:
    pending = root / PENDING
    try:
        names = json.loads(pending.read_bytes())
    except FileNotFoundError:
        return
    except ValueError:
        names = []
    for rel in names:
        (root / rel).unlink(missing_ok=True)
    pending.unlink(missing_ok=True)


Progress = Callable[[str, int, int], None]
_EVERY = 500  # files between progress reports


def apply(
    plan: Plan, root: Path, *, dry_run: bool = False, diff: bool | None = None,
    progress: Progress | None = None,
) -> ApplyResult:
    """Bring `root` to the plan. `diff` defaults to `dry_run` (diffing big files costs time);
    `progress(stage, done, total)` hears of long runs ("compare", "write")."""
    root = Path(root)
    base = str(root) + "/"
    want_diff = dry_run if diff is None else diff
    if not dry_run:
        _clean_pending(root)
    manifest = _load_manifest(root)
    desired = {f.path: f for f in plan.files}
    changed: list[DesiredFile] = []
    diffs: list[str] = []
    unchanged = 0
    for n, (path, f) in enumerate(desired.items()):
        if progress is not None and n % _EVERY == 0:
            progress("compare", n, len(desired))
        old, mode = _read(base + path)
        if old == f.content and mode == f.mode:
            unchanged += 1
            continue
        changed.append(f)
        if want_diff and old != f.content:
            diffs.append(_diff(path, old, f.content))
    touched = (set(manifest.owners) | {f.owner for f in plan.files} if plan.scope is None
               else {SHARED, *plan.scope})
    removed = sorted(p for o in touched for p in manifest.owners.get(o, ()) if p not in desired)
    for path in removed:
        if want_diff:
            old, _ = _read(base + path)
            if old is not None:
                diffs.append(_diff(path, old, None))
    services = {f.service for f in changed if f.service}
    services |= {manifest.services[p] for p in removed if p in manifest.services}
    result = ApplyResult([f.path for f in changed], unchanged, removed, "".join(diffs),
                         {s for s in services if s is not None})
    if progress is not None:
        progress("compare", len(desired), len(desired))
    if dry_run:
        return result
    _write_changes(root, changed, removed, progress)
    new = _next_manifest(manifest, plan, touched, set(removed))
    if new is not None:
        _write_atomic(root / MANIFEST, new.encode())
    return result


def _next_manifest(
    old: _Manifest, plan: Plan, touched: set[str], removed: set[str]
) -> _Manifest | None:
    """The manifest after this run, or None when it would not change."""
    by_owner: dict[str, list[str]] = {}
    for f in plan.files:
        by_owner.setdefault(f.owner, []).append(f.path)
    owners = {o: p for o, p in old.owners.items() if o not in touched}
    owners.update(by_owner)
    services = {p: s for p, s in old.services.items() if p not in removed}
    services.update({f.path: f.service for f in plan.files if f.service})
    same = services == old.services and all(
        set(owners.get(o, ())) == set(old.owners.get(o, ())) for o in touched)
    return None if same else _Manifest(owners, services)


def _write_changes(
    root: Path, files: list[DesiredFile], removed: list[str],
    progress: Progress | None = None,
) -> None:
    """Every file is written to a temp file beside it and renamed into place: a reader (a
    booting node's TFTP request, dhcpd starting) sees the old file or the whole new one, never
    a half-written or empty one — also when the sync is killed (kill -9) half way. The temp
    names are listed in the pending file first, so the next sync removes what a killed one
    left.

    Files with the same content and mode (a host's boot file under its MAC and its address
    names) share one inode: a hard link costs a directory entry, a new file an inode and a data
    block, several times more on ext4. Each name is still renamed into place on its own, so a
    later change to one name breaks only its own link. Past PARALLEL_AT operations, links,
    renames and unlinks run on a few threads: each waits on the file system's journal, and
    waiting together is an order of magnitude faster than waiting in turn.
    """
    if not files and not removed:
        return
    base = str(root) + "/"
    jobs: list[tuple[str, str, DesiredFile]] = []  # (write to, rename to, file)
    for f in files:
        target = base + f.path
        head, _, name = target.rpartition("/")
        jobs.append((f"{head}/.{name}{TMP_SUFFIX}", target, f))
    if jobs:
        _write_atomic(root / PENDING,
                      json.dumps([w[len(base):] for w, _, _ in jobs]).encode())
    batch = len(jobs) > BATCH_SYNC_AT
    dirs = {w.rpartition("/")[0] for w, _, _ in jobs}
    # one inode per distinct (content, mode); the other names become links to it
    firsts: list[tuple[str, DesiredFile]] = []
    twins: list[tuple[str, str]] = []  # (existing name, new name)
    owner: dict[tuple[bytes, int], list[Any]] = {}
    for dest, _, f in jobs:
        key = (f.content, f.mode)
        seen = owner.get(key)
        if seen is not None and seen[1] < MAX_LINKS:
            twins.append((seen[0], dest))
            seen[1] += 1
        else:
            owner[key] = [dest, 1]
            firsts.append((dest, f))
    total = len(jobs) + len(removed)
    tick = _ticker(progress, total)
    done = False
    renamed: list[str] = []
    fresh: set[str] = set()
    try:
        for d in sorted(dirs):
            os.makedirs(d, exist_ok=True)
        contents = dict(firsts)
        _each(lambda dest, _: _write_new(dest, contents[dest], fsync=not batch),
              [(dest, "") for dest, _ in firsts], tick)
        _each(_link_or_copy(contents), twins, tick)
        if batch:
            _syncfs(root)
        # names that did not exist before this run: taken back if a later step fails
        fresh = {target for _, target, _ in jobs if not os.path.lexists(target)}
        _each(_renamer(renamed), [(dest, target) for dest, target, _ in jobs])
        _each(_unlink, [(base + p, "") for p in removed], tick)
        dirs |= {(base + p).rpartition("/")[0] for p in removed}
        for d in sorted(dirs):
            if os.path.isdir(d):
                _fsync_dir(Path(d))
        done = True
        if progress is not None:
            progress("write", total, total)
    except OSError as exc:
        raise RocksError(Diagnostic("sync.write-failed", f"writing under {root}: {exc}", None,
                                    "files not yet renamed keep their old content; "
                                    "run the sync again")) from exc
    finally:
        if not done:
            # back to the state before the run: the temp files not yet renamed go, and so do
            # the new names already renamed into place (a replaced file keeps its new content)
            for dest, _, _ in jobs:
                with contextlib.suppress(OSError):
                    os.unlink(dest)
            for target in renamed:
                if target in fresh:
                    with contextlib.suppress(OSError):
                        os.unlink(target)
        (root / PENDING).unlink(missing_ok=True)


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
PARALLEL_AT = 256
_THREADS = 8


def _write_new(dest: str, f: DesiredFile, *, fsync: bool) -> None:
    fd = os.open(dest, _FLAGS, f.mode)
    try:
        view = memoryview(f.content)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, f.mode)  # O_CREAT's mode is masked by umask
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _link_or_copy(files: dict[str, DesiredFile]) -> Callable[[str, str], None]:
    def link(src: str, dest: str) -> None:
        try:
            os.link(src, dest)
        except OSError:  # no hard links on this file system, or a name in the way: write it
            _write_new(dest, files[src], fsync=False)

    return link


def _renamer(done: list[str]) -> Callable[[str, str], None]:
    def rename(src: str, dest: str) -> None:
        os.replace(src, dest)
        done.append(dest)  # list.append is atomic: the threads of _each share it

    return rename


def _unlink(path: str, _unused: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _ticker(progress: Progress | None, total: int) -> Callable[[], None]:
    count = [0]

    def tick() -> None:
        count[0] += 1
        if progress is not None and count[0] % _EVERY == 0:
            progress("write", count[0], total)

    return tick


def _each(op: Callable[[str, str], None], pairs: list[tuple[str, str]],
          tick: Callable[[], None] | None = None) -> None:
    """op(a, b) for every pair: in turn for a few, on threads for many (the first error is
    raised after every started operation has finished)."""
    def run(chunk: list[tuple[str, str]]) -> None:
        for a, b in chunk:
            op(a, b)
            if tick is not None:
                tick()

    if len(pairs) < PARALLEL_AT:
        run(pairs)
        return
    from concurrent.futures import ThreadPoolExecutor

    size = max(16, len(pairs) // (_THREADS * 8))
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    with ThreadPoolExecutor(_THREADS, thread_name_prefix="rocks-sync") as pool:
        for _ in pool.map(run, chunks):
            pass


def _systemctl(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv), check=False).returncode


def reload(
    services: Iterable[str], runner: Runner | None = None, units: dict[str, str] | None = None
) -> list[str]:
    """Reload (or restart: dhcpd has no reload) each service; one message per service."""
    wanted = sorted(set(services))
    if not wanted:
        return []
    if runner is None:
        if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
            return [f"systemd is not running; reload these by hand: {', '.join(wanted)}"]
        runner = _systemctl
    if units is None:
        units = DEBIAN_UNITS if Path("/etc/debian_version").exists() else EL_UNITS
    messages = []
    for service in wanted:
        unit = units.get(service, service)
        rc = runner(["systemctl", "reload-or-restart", unit])
        messages.append(f"reloaded {unit}" if rc == 0 else f"reloading {unit} failed (exit {rc})")
    return messages
