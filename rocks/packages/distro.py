"""Building the distribution: one package repository (plus installer images) from enabled rolls.

Per (name, arch) the highest epoch:version-release wins (rpm's ordering, not file times). RPMs are
hard-linked, comps groups merged, repodata written by createrepo_c, and the result swapped in
atomically. A stamp of the inputs makes an unchanged re-run return at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rocks.errors import Diagnostic, RocksError, SourceLocation
from rocks.packages.comps import group_ids, merge_comps, write_comps
from rocks.packages.roll import RollRecord
from rocks.packages.rpmfile import RpmInfo, compare_evr, read_rpm

STAMP = ".rocks-distro.json"
HEADER_CACHE = ".rocks-headers.json"
_FORMAT = 2  # bump when the output layout changes so old stamps stop matching

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class DistroResult:
    path: Path
    packages: int
    groups: tuple[str, ...]
    unchanged: bool
    superseded: tuple[str, ...]  # files that lost to a higher version of the same name.arch
    seconds: float
    boot_kernel: Path | None = None
    boot_initrd: Path | None = None


OS_ROLL_HINT = ("add the OS installation DVD as a roll and rebuild: rocks add roll "
                "Rocky-9-x86_64-dvd.iso; rocks enable roll os; rocks create distro")


def no_os_roll(message: str) -> RocksError:
    return RocksError.of("no-os-roll", message, hint=OS_ROLL_HINT)


def need_os_roll(repo: Path) -> None:
    """A distribution nodes can install from carries an OS roll (its .treeinfo says so);
    without one, every base package would be reported missing, one error each."""
    if (repo / "repodata").is_dir() and not (repo / ".treeinfo").is_file():
        raise no_os_roll(f"the distribution at {repo} has no OS roll (built with force=yes)")


def _stat_line(path: str | Path) -> str:
    st = os.stat(path)
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}"


def _scan(roll: RollRecord) -> list[str]:
    """The roll's *.rpm files as sorted path strings (plain strings: this is the hot path of an
    unchanged re-run, where pathlib objects cost more than the stat calls)."""
    base = str(roll.rpms_dir)
    try:
        names = sorted(n for n in os.listdir(base) if n.endswith(".rpm"))
    except FileNotFoundError:
        return []
    return [f"{base}/{n}" for n in names]


def _fingerprint(rolls: Sequence[RollRecord], rpms: list[list[str]]) -> str:
    """Hash of every input: the candidates' (path, size, mtime), comps bytes, installer files."""
    h = hashlib.sha256(f"rocks-distro {_FORMAT}\n".encode())
    for roll, paths in zip(rolls, rpms, strict=True):
        h.update(f"roll {roll.name} {roll.version} {roll.arch} {roll.path}\n".encode())
        for path in paths:
            h.update(_stat_line(path).encode() + b"\n")
        if roll.comps is not None:
            h.update(b"comps " + hashlib.sha256(roll.comps.read_bytes()).digest())
        for extra in (roll.boot_kernel, roll.boot_initrd, roll.stage2, roll.path / ".treeinfo"):
            if extra is not None and extra.is_file():
                h.update(_stat_line(extra).encode() + b"\n")
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class _Pkg:
    """The header fields selection needs, cached between runs by (path, size, mtime)."""

    path: Path
    name: str
    arch: str
    evr: tuple[str, str, str]
    source: bool

    def cache_row(self) -> list[object]:
        return [self.name, self.arch, *self.evr, self.source]


def _load_cache(out: Path) -> dict[str, list[object]]:
    try:
        data = json.loads((out / HEADER_CACHE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _pkg(path: str, cache: dict[str, list[object]], fresh: dict[str, list[object]]) -> _Pkg:
    key = _stat_line(path)
    row = cache.get(key)
    if row is None or len(row) != 6:
        info: RpmInfo = read_rpm(Path(path))
        row = [info.name, info.arch, *info.evr_tuple(), info.source]
    fresh[key] = row
    name, arch, epoch, version, release, source = row
    evr = (str(epoch), str(version), str(release))
    return _Pkg(Path(path), str(name), str(arch), evr, bool(source))


def _select(
    candidates: list[list[str]], progress: Progress, cache: dict[str, list[object]],
) -> tuple[list[_Pkg], list[str], dict[str, list[object]]]:
    best: dict[tuple[str, str], _Pkg] = {}
    fresh: dict[str, list[object]] = {}
    losers: list[str] = []
    problems: list[Diagnostic] = []
    total = sum(len(c) for c in candidates)
    done = 0
    for paths in candidates:
        for path in paths:
            done += 1
            if done % 500 == 0:
                progress("read", done, total)
            try:
                info = _pkg(path, cache, fresh)
            except RocksError as exc:
                problems.extend(exc.diagnostics)
                continue
            if info.source:
                continue
            key = (info.name, info.arch)
            held = best.get(key)
            if held is None:
                best[key] = info
            elif compare_evr(info.evr, held.evr) > 0:
                losers.append(str(held.path))
                best[key] = info
            else:  # equal versions: the roll listed first keeps its copy
                losers.append(str(info.path))
    if problems:
        raise RocksError(*problems)
    progress("read", total, total)
    return [best[k] for k in sorted(best)], sorted(losers), fresh


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed: fall back to a copy
        shutil.copy2(src, dst)


def _createrepo(repo: Path, groupfile: Path | None, old: Path | None, timeout: float) -> None:
    exe = shutil.which("createrepo_c")
    if exe is None:
        raise RocksError.of("createrepo-missing", "createrepo_c is not installed",
                            hint="install the Debian package 'createrepo-c'")
    cmd = [exe, "--quiet", "--no-database", f"--workers={os.cpu_count() or 2}"]
    if groupfile is not None:
        cmd.append(f"--groupfile={groupfile}")
    if old is not None and (old / "repodata" / "repomd.xml").is_file():
        # Reuse the previous run's metadata for files whose size and mtime did not change.
        cmd += ["--update", f"--update-md-path={old}"]
    cmd.append(str(repo))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise RocksError.of("createrepo-failed",
                            f"createrepo_c failed (exit {proc.returncode}):\n{tail}",
                            SourceLocation(str(repo)))


def _treeinfo(os_roll: RollRecord, has_stage2: bool) -> str:
    lines = [
        "[header]", "type = productmd.treeinfo", "version = 1.2", "",
        "[release]", "name = Rocks distribution", "short = rocks", f"version = {os_roll.version}",
        "", "[tree]", f"arch = {os_roll.arch}", f"platforms = {os_roll.arch}",
        "variants = BaseOS", "",
        "[variant-BaseOS]", "id = BaseOS", "name = BaseOS", "packages = RPMS",
        "repository = .", "type = variant", "uid = BaseOS", "",
        f"[images-{os_roll.arch}]", "kernel = images/pxeboot/vmlinuz",
        "initrd = images/pxeboot/initrd.img", "",
    ]
    if has_stage2:
        lines += ["[stage2]", "mainimage = images/install.img", ""]
    return "\n".join(lines)


def _read_stamp(
    out: Path, fingerprint: str
) -> tuple[int, tuple[str, ...], tuple[str, ...]] | None:
    """(packages, groups, superseded) recorded by the run whose inputs match `fingerprint`."""
    try:
        data = json.loads((out / STAMP).read_text())
        if data["fingerprint"] != fingerprint or not (out / "repodata" / "repomd.xml").is_file():
            return None
        return (int(data["packages"]), tuple(map(str, data["groups"])),
                tuple(map(str, data["superseded"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def swap_in(tmp: Path, out: Path) -> None:
    """Put the finished tree `tmp` at `out` with two renames (the old tree, if any, is moved
    aside first and removed after): a reader sees the old tree or the new one, whole."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / "tree")
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def other_files(tree: Path) -> dict[str, list[object]]:
    """{relative path: [sha256, size]} of the files a mirror cannot learn from the repodata:
    all but RPMS/, repodata/ and rocks' own stamp and cache."""
    out: dict[str, list[object]] = {}
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree).as_posix()
        if not path.is_file() or rel.split("/")[0] in ("RPMS", "repodata") or rel in (
                STAMP, HEADER_CACHE):
            continue
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        out[rel] = [h.hexdigest(), path.stat().st_size]
    return out


def create_distro(
    rolls: Sequence[RollRecord], out: Path, progress: Progress | None = None, *,
    timeout: float = 1800.0,
) -> DistroResult:
    """Build (or keep, if nothing changed) the repository at `out` from `rolls`."""
    t0 = time.perf_counter()
    report: Progress = progress or (lambda _stage, _done, _total: None)
    out = Path(out).absolute()
    report("scan", 0, len(rolls))
    candidates = [_scan(r) for r in rolls]
    fingerprint = _fingerprint(rolls, candidates)
    os_roll = next((r for r in rolls if r.boot_kernel is not None), None)
    boot = (out / "images" / "pxeboot" / "vmlinuz", out / "images" / "pxeboot" / "initrd.img")
    kernel, initrd = boot if os_roll is not None else (None, None)
    stamp = _read_stamp(out, fingerprint)
    if stamp is not None:
        count, kept_groups, superseded = stamp
        return DistroResult(out, count, kept_groups, True, superseded,
                            time.perf_counter() - t0, kernel, initrd)

    chosen, losers, headers = _select(candidates, report, _load_cache(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        rpms_dir = tmp / "RPMS"
        rpms_dir.mkdir()
        for i, info in enumerate(chosen, 1):
            dst = rpms_dir / info.path.name
            if dst.exists():
                raise RocksError.of("distro-name-clash",
                                    f"two selected packages share the file name {info.path.name}",
                                    SourceLocation(str(info.path)))
            _link(info.path, dst)
            if i % 500 == 0:
                report("link", i, len(chosen))
        report("link", len(chosen), len(chosen))
        comps_files = [r.comps for r in rolls if r.comps is not None]
        groups: tuple[str, ...] = ()
        groupfile = None
        if comps_files:
            merged = merge_comps(comps_files)
            groupfile = tmp / "comps.xml"
            write_comps(merged, groupfile)
            groups = group_ids(merged)
        if os_roll is not None and os_roll.boot_kernel and os_roll.boot_initrd:
            (tmp / "images" / "pxeboot").mkdir(parents=True)
            _link(os_roll.boot_kernel, tmp / "images" / "pxeboot" / "vmlinuz")
            _link(os_roll.boot_initrd, tmp / "images" / "pxeboot" / "initrd.img")
            if os_roll.stage2 is not None:
                _link(os_roll.stage2, tmp / "images" / "install.img")
            (tmp / ".treeinfo").write_text(_treeinfo(os_roll, os_roll.stage2 is not None))
        report("repodata", 0, 1)
        _createrepo(tmp, groupfile, out if out.is_dir() else None, timeout)
        report("repodata", 1, 1)
        (tmp / HEADER_CACHE).write_text(json.dumps(headers, separators=(",", ":")))
        (tmp / STAMP).write_text(json.dumps({
            "fingerprint": fingerprint, "packages": len(chosen), "groups": list(groups),
            "superseded": losers, "rolls": [f"{r.name}-{r.version}-{r.arch}" for r in rolls],
            # what a mirror needs besides the repodata: every other file by content
            "files": other_files(tmp),
        }, indent=1) + "\n")
        os.chmod(tmp, 0o755)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report("done", 1, 1)
    return DistroResult(out, len(chosen), groups, False, tuple(losers),
                        time.perf_counter() - t0, kernel, initrd)
