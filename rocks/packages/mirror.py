"""Mirroring the distribution from the head node: a service frontend copies it by content.

The head's repodata says what the distribution holds: repomd.xml lists the metadata files with
their checksums, and the primary metadata every package with its checksum and size. The files
the repodata does not cover (installer images, .treeinfo, comps.xml) are listed with theirs in
the head's stamp (`.rocks-distro.json`, written by create_distro). A file whose checksum the
local copy already has is hard-linked from it; only the others are downloaded, and each is
checked against its checksum and size before it is used.

The new tree is built beside the old one and swapped in with renames, as create_distro does:
until the swap the old distribution is served whole, and a mirror that fails or is killed
leaves it so (its partial tree is removed by the next run). One mirror at a time (a lock file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rocks.errors import RocksError
from rocks.packages.distro import HEADER_CACHE, STAMP, swap_in

Progress = Callable[[str, int, int], None]
REPOMD = "repodata/repomd.xml"


@dataclass(frozen=True, slots=True)
class MirrorResult:
    path: Path
    checksum: str  # sha256 of the mirrored repomd.xml
    unchanged: bool
    fetched: tuple[str, ...]  # relative paths downloaded
    linked: int  # files reused from the previous copy
    bytes: int  # downloaded
    seconds: float


@dataclass(frozen=True, slots=True)
class Item:
    """A file of the distribution: where, and what its content must be."""

    path: str
    checksum: str
    kind: str  # hashlib name
    size: int | None = None


def _safe(href: str, source: str) -> str:
    """A relative path inside the tree, or a RocksError (the head's metadata is input too)."""
    p = PurePosixPath(href)
    if not href or p.is_absolute() or ".." in p.parts or "\\" in href or "\0" in href:
        raise RocksError.of("mirror-bad-path", f"{source} names a path outside the "
                            f"distribution: {href!r}")
    return p.as_posix()


def _repomd(path: Path) -> list[Item]:
    import createrepo_c as cr

    md = cr.Repomd(str(path))
    return [Item(_safe(r.location_href, "repomd.xml"), r.checksum, r.checksum_type,
                 r.size or None) for r in md.records]


def _packages(primary: Path) -> list[Item]:
    import createrepo_c as cr

    out: list[Item] = []

    def take(pkg: Any) -> None:
        out.append(Item(_safe(pkg.location_href, "primary metadata"), pkg.pkgId,
                        pkg.checksum_type, pkg.size_package))

    cr.xml_parse_primary(str(primary), pkgcb=take, do_files=False, warningcb=None)
    return out


def _stamp_files(data: bytes) -> list[Item]:
    try:
        files = json.loads(data).get("files", {})
    except (ValueError, AttributeError):
        files = {}
    return [Item(_safe(rel, STAMP), str(v[0]), "sha256", int(v[1]))
            for rel, v in sorted(files.items())]


def local_index(tree: Path) -> dict[str, Item]:
    """What the current copy holds, by path, from its own metadata (nothing is re-hashed:
    create_distro and mirror_distro wrote it and its metadata together)."""
    if not (tree / REPOMD).is_file():
        return {}
    out: dict[str, Item] = {}
    try:
        meta = _repomd(tree / REPOMD)
        for item in meta:
            out[item.path] = item
            if item.path.split("/")[-1].endswith(tuple(f"primary.xml{z}" for z in
                                                        ("", ".gz", ".xz", ".bz2", ".zst"))):
                out.update((p.path, p) for p in _packages(tree / item.path))
        if (tree / STAMP).is_file():
            out.update((i.path, i) for i in _stamp_files((tree / STAMP).read_bytes()))
    except (RocksError, OSError, ValueError, TypeError):
        return {}  # an unreadable copy: fetch everything
    return out


def _hash(path: Path, kind: str) -> str:
    h = hashlib.new(kind)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    lock = out.parent / f".{out.name}.mirror.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RocksError.of("mirror-busy", f"another mirror of {out} is running",
                                hint="wait for it; it swaps the new copy in when done") from None
        yield
    finally:
        os.close(fd)


class _Fetcher:
    def __init__(self, base: str, new: Path, old: Path, have: dict[str, Item],
                 timeout: float, client: Any) -> None:
        self.base, self.new, self.old, self.have = base.rstrip("/"), new, old, have
        self.timeout = timeout
        self.client = client
        self.fetched: list[str] = []
        self.linked = 0
        self.bytes = 0

    def get(self, rel: str) -> bytes:
        r = self.client.get(f"{self.base}/{rel}", timeout=self.timeout)
        if r.status_code != 200:
            raise RocksError.of("mirror-fetch", f"{self.base}/{rel}: HTTP {r.status_code}",
                                hint="is the head node's frontend serving /install/distro?")
        return bytes(r.content)

    def place(self, item: Item) -> None:
        """Link the old copy's file when its content is the same, else download it."""
        dst = self.new / item.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        known = self.have.get(item.path)
        src = self.old / item.path
        if known is not None and known.checksum == item.checksum and known.kind == item.kind \
                and src.is_file() and (item.size is None or src.stat().st_size == item.size):
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            self.linked += 1
            return
        self._download(item, dst)

    def _download(self, item: Item, dst: Path) -> None:
        url = f"{self.base}/{item.path}"
        h = hashlib.new(item.kind)
        size = 0
        tmp = dst.with_name(f".{dst.name}.part")
        with self.client.stream("GET", url, timeout=self.timeout) as r:
            if r.status_code != 200:
                raise RocksError.of("mirror-fetch", f"{url}: HTTP {r.status_code}",
                                    hint="the head node's distribution changed or is not served")
            with open(tmp, "wb") as fh:
                for chunk in r.iter_bytes(1 << 20):
                    fh.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
        if h.hexdigest() != item.checksum or (item.size is not None and size != item.size):
            tmp.unlink(missing_ok=True)
            raise RocksError.of("mirror-checksum", f"{url}: content does not match the "
                                f"head's metadata ({size} bytes, {item.kind} {h.hexdigest()})",
                                hint="the head's distribution changed during the mirror; run "
                                     "rocks sync distro again")
        os.replace(tmp, dst)
        self.fetched.append(item.path)
        self.bytes += size


def mirror_distro(base_url: str, out: Path, progress: Progress | None = None, *,
                  timeout: float = 120.0, workers: int = 4, client: Any = None) -> MirrorResult:
    """Make `out` a copy of the distribution served at `base_url` (…/install/distro)."""
    import httpx

    t0 = time.perf_counter()
    report: Progress = progress or (lambda _stage, _done, _total: None)
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    own = client is None
    http = client or httpx.Client(follow_redirects=False)
    try:
        with _locked(out):
            for stale in out.parent.glob(f".{out.name}.new-*"):  # a killed run's partial tree
                shutil.rmtree(stale, ignore_errors=True)
            return _mirror(base_url, out, report, timeout, workers, http, t0)
    except httpx.HTTPError as exc:
        raise RocksError.of("mirror-fetch", f"cannot fetch the distribution from {base_url}: "
                            f"{exc}", hint="is the head node's frontend up? (rocks sync distro "
                                           "from=URL names another)") from exc
    finally:
        if own:
            http.close()


def _mirror(base_url: str, out: Path, report: Progress, timeout: float, workers: int,
            http: Any, t0: float) -> MirrorResult:
    base = base_url.rstrip("/")
    r = http.get(f"{base}/{REPOMD}", timeout=timeout)
    if r.status_code != 200:
        raise RocksError.of("mirror-fetch", f"{base}/{REPOMD}: HTTP {r.status_code}",
                            hint="has the head node built its distribution (rocks create "
                                 "distro)?")
    repomd = bytes(r.content)
    checksum = hashlib.sha256(repomd).hexdigest()
    current = out / REPOMD
    if current.is_file() and current.read_bytes() == repomd and (out / STAMP).is_file():
        return MirrorResult(out, checksum, True, (), 0, 0, time.perf_counter() - t0)
    have = local_index(out)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        fetch = _Fetcher(base, new, out, have, timeout, http)
        (new / "repodata").mkdir()
        md_path = new / ".repomd.xml.remote"
        md_path.write_bytes(repomd)
        meta = _repomd(md_path)
        md_path.unlink()
        for i, item in enumerate(meta):
            report("repodata", i, len(meta))
            fetch.place(item)
        report("repodata", len(meta), len(meta))
        primary = next((m for m in meta if m.path.split("/")[-1].split("-")[-1].startswith(
            "primary.xml")), None)
        if primary is None:
            raise RocksError.of("mirror-no-primary", f"{base}/{REPOMD} lists no primary "
                                "metadata")
        try:
            stamp = fetch.get(STAMP)
        except RocksError:
            stamp = b""  # a distribution built before stamps listed files: packages only
        items = [*_packages(new / primary.path), *_stamp_files(stamp)]
        if len({i.path for i in items} | {m.path for m in meta}) != len(items) + len(meta):
            raise RocksError.of("mirror-bad-path", "the head's metadata names a file twice")
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for _ in pool.map(fetch.place, items):
                done += 1
                if done % 50 == 0 or done == len(items):
                    report("packages", done, len(items))
        if stamp:
            (new / STAMP).write_bytes(stamp)
        (new / REPOMD).write_bytes(repomd)  # last: a tree with repomd.xml is complete
        (new / HEADER_CACHE).unlink(missing_ok=True)
        os.chmod(new, 0o755)
        swap_in(new, out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    report("done", 1, 1)
    return MirrorResult(out, checksum, False, tuple(sorted(fetch.fetched)), fetch.linked,
                        fetch.bytes, time.perf_counter() - t0)
