"""Applying a sync plan to a directory tree: write only what differs (temp file in the same
directory, fsync, rename, fsync the directory), remove managed files no longer desired, and
say which services must reload.

Managed paths are listed in the manifest under the root (rocks.sync.state) with a digest of
their content and the stamp they had when last written: a file whose digest and stamp agree is
unchanged without being read. Temp files about to be written are listed in a pending file
first, so a run killed between writing a temp file and renaming it leaves the old file in place
and the next run removes the litter.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rocks.errors import Diagnostic, RocksError
from rocks.sync import state
from rocks.sync.inputs import SHARED, DesiredFile
from rocks.sync.plan import Plan

MANIFEST = state.STATE
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


def disk_reader(root: Path) -> Callable[[str], bytes | None]:
    """A `previous` reader for `plan()`: the bytes of root/path, or None."""

    def read(path: str) -> bytes | None:
        try:
            return (root / path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    return read


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
    import difflib

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
    import ctypes

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


def _write_atomic(target: Path, content: bytes, mode: int = 0o644, *,
                  durable: bool = True) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_for(target)
    with open(tmp, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fchmod(fh.fileno(), mode)
        if durable:
            os.fsync(fh.fileno())
    os.replace(tmp, target)
    if durable:
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
KEEP: Any = object()  # apply(cache=KEEP): leave the incremental plan's memory as it is
_EVERY = 500  # files between progress reports


def apply(
    plan: Plan, root: Path, *, dry_run: bool = False, diff: bool | None = None,
    progress: Progress | None = None, cache: Any = KEEP, loaded: state.State | None = None,
) -> ApplyResult:
    """Bring `root` to the plan. `diff` defaults to `dry_run` (diffing big files costs time);
    `progress(stage, done, total)` hears of long runs ("compare", "write"). `cache` replaces
    the incremental plan's memory stored with the manifest (rocks.sync.incremental); by
    default it is kept. `loaded`: the state of `root` when the caller has read it already."""
    root = Path(root)
    base = str(root) + "/"
    want_diff = dry_run if diff is None else diff
    if not dry_run:
        _clean_pending(root)
    st = loaded if loaded is not None else state.load(root)
    manifest = st.files
    desired = {f.path: f for f in plan.files}
    changed: list[DesiredFile] = []
    digests: dict[str, bytes] = {}
    restamp: list[str] = []  # unchanged, but read to find out: record their stamp
    absent: set[str] = set()  # changed and not there before
    diffs: list[str] = []
    unchanged = 0
    for n, (path, f) in enumerate(desired.items()):
        if progress is not None and n % _EVERY == 0:
            progress("compare", n, len(desired))
        digests[path] = d = state.digest(f.content)
        rec = manifest.get(path)
        if rec is not None and rec.digest == d and rec.mode == f.mode and rec.owner == f.owner \
                and rec.service == (f.service or "") and _stamp(base + path) == rec.stamp:
            unchanged += 1
            continue
        old, mode = _read(base + path)
        if old == f.content and mode == f.mode:
            unchanged += 1
            restamp.append(path)
            continue
        changed.append(f)
        if old is None:
            absent.add(path)
        if want_diff and old != f.content:
            diffs.append(_diff(path, old, f.content))
    touched = _touched(plan, manifest)
    removed = sorted(p for p in manifest.owned_by(touched) if p not in desired)
    for path in removed:
        if want_diff:
            old, _ = _read(base + path)
            if old is not None:
                diffs.append(_diff(path, old, None))
    services = {f.service for f in changed if f.service}
    for path in removed:
        rec = manifest.get(path)
        if rec is not None and rec.service:
            services.add(rec.service)
    result = ApplyResult([f.path for f in changed], unchanged, removed, "".join(diffs),
                         {s for s in services if s is not None})
    if progress is not None:
        progress("compare", len(desired), len(desired))
    if dry_run:
        return result
    stamps = _write_changes(root, changed, removed, progress, absent)
    for path in removed:
        manifest.remove(path)
    for path in restamp:
        stamps[path] = _stamp(base + path)
    for path, stamp in stamps.items():
        f = desired[path]
        manifest.set(path, state.Record(f.owner, digests[path], f.mode, f.service or "",
                                        stamp))
    for path, f in desired.items():  # owner or service moved without a content change
        rec = manifest.get(path)
        if rec is not None and (rec.owner != f.owner or rec.service != (f.service or "")):
            manifest.set(path, state.Record(f.owner, rec.digest, rec.mode, f.service or "",
                                            rec.stamp))
    if cache is not KEEP:
        st.cache = cache
    if manifest.changed or cache is not KEEP:
        state.save(root, st, files=manifest.changed, cache=cache is not KEEP)
    return result


def verify(root: Path, loaded: state.State) -> tuple[set[str], int]:
    """Check every managed file against the manifest: a file whose stamp moved but whose
    content and mode are still the recorded ones is re-stamped; the owners of the others
    (edited, removed or replaced by hand) are returned, with the number of files found
    intact."""
    base = str(root) + "/"
    manifest = loaded.files
    stale = manifest.stale(base)
    bad: set[str] = set()
    broken = 0
    for path, rec in stale:
        old, mode = _read(base + path)
        if old is not None and rec.digest and state.digest(old) == rec.digest \
                and mode == rec.mode:
            manifest.set(path, state.Record(rec.owner, rec.digest, rec.mode, rec.service,
                                            _stamp(base + path)))
        else:
            bad.add(rec.owner)
            broken += 1
    return bad, len(manifest) - broken


def _stamp(target: str) -> state.Stamp:
    try:
        return state.stamp_of(os.lstat(target))
    except OSError:
        return state.NO_STAMP


def _touched(plan: Plan, manifest: state.Manifest) -> set[str]:
    """The owners whose every file the plan names (a managed file of theirs it does not
    name goes)."""
    if plan.scope is None:
        return manifest.owners() | {f.owner for f in plan.files}
    return {*plan.scope, SHARED} if plan.shared else set(plan.scope)


def _write_changes(
    root: Path, files: list[DesiredFile], removed: list[str],
    progress: Progress | None = None, absent: set[str] | None = None,
) -> dict[str, state.Stamp]:
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

    Returns the stamp of each file written (by path); `absent`: the paths known not to exist
    (the others are looked at, to know what to take back if writing fails).
    """
    stamps: dict[str, state.Stamp] = {}
    if not files and not removed:
        return stamps
    base = str(root) + "/"
    jobs: list[tuple[str, str, DesiredFile]] = []  # (write to, rename to, file)
    for f in files:
        target = base + f.path
        head, _, name = target.rpartition("/")
        jobs.append((f"{head}/.{name}{TMP_SUFFIX}", target, f))
    if jobs:  # (not fsynced: it names litter a killed run leaves, which a crash would not)
        _write_atomic(root / PENDING,
                      json.dumps([w[len(base):] for w, _, _ in jobs]).encode(), durable=False)
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
        written: dict[str, state.Stamp] = {}

        def write(dest: str, _unused: str) -> None:
            written[dest] = _write_new(dest, contents[dest], fsync=not batch)

        _each(write, [(dest, "") for dest, _ in firsts], tick)
        _each(_link_or_copy(contents, written), twins, tick)
        if batch:
            _syncfs(root)
        # names that did not exist before this run: taken back if a later step fails
        fresh = {target for _, target, f in jobs
                 if (f.path in absent if absent is not None else not os.path.lexists(target))}
        _each(_renamer(renamed), [(dest, target) for dest, target, _ in jobs])
        _each(_unlink, [(base + p, "") for p in removed], tick)
        dirs |= {(base + p).rpartition("/")[0] for p in removed}
        for d in sorted(dirs):
            if os.path.isdir(d):
                _fsync_dir(Path(d))
        done = True
        stamps = {f.path: written[dest] for dest, _, f in jobs}
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
    return stamps


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
PARALLEL_AT = 256
_THREADS = 8


def _write_new(dest: str, f: DesiredFile, *, fsync: bool) -> state.Stamp:
    """Write the file; its stamp (renaming and linking it later keep it)."""
    fd = os.open(dest, _FLAGS, f.mode)
    try:
        view = memoryview(f.content)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, f.mode)  # O_CREAT's mode is masked by umask
        if fsync:
            os.fsync(fd)
        return state.stamp_of(os.fstat(fd))
    finally:
        os.close(fd)


def _link_or_copy(files: dict[str, DesiredFile],
                  written: dict[str, state.Stamp]) -> Callable[[str, str], None]:
    def link(src: str, dest: str) -> None:
        try:
            os.link(src, dest)
            written[dest] = written[src]
        except OSError:  # no hard links on this file system, or a name in the way: write it
            written[dest] = _write_new(dest, files[src], fsync=False)

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
    import subprocess

    return subprocess.run(list(argv), check=False).returncode


def reload(
    services: Iterable[str], runner: Runner | None = None, units: dict[str, str] | None = None
) -> list[str]:
    """Reload (or restart: dhcpd has no reload) each service; one message per service."""
    wanted = sorted(set(services))
    if not wanted:
        return []
    if runner is None:
        import shutil

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
