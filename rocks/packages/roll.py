"""Roll artifacts: creating roll ISOs/tarballs and adding rolls (or OS media) to a roll store.

Disc layout (Rocks'): `<name>/<version>/<arch>/roll-<name>.xml`, `…/RedHat/RPMS/*.rpm`,
`…/RedHat/base/comps.xml` and, ours, `…/profile/{nodes,graphs,include,include-version}`.
Store layout: `<store>/<name>/<version>/<arch>/` is itself a roll directory (roll.xml, nodes/,
graphs/default/, RPMS/, optional comps.xml; OS media add images/pxeboot/ and .treeinfo).
"""

from __future__ import annotations

import enum
import itertools
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from rocks.errors import Diagnostic, RocksError, SourceLocation
from rocks.packages.build import build_rpms
from rocks.packages.comps import load_comps
from rocks.packages.isofs import IsoImage, is_iso, write_iso
from rocks.packages.osmedia import (
    OS_ROLL,
    TreeInfo,
    fill_from_media,
    read_treeinfo,
    transfer,
    wanted_paths,
)
from rocks.packages.rpmfile import read_rpm

PROFILE_DIRS = ("nodes", "graphs", "include", "include-version")
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class RollFormat(enum.StrEnum):
    ISO = "iso"
    TAR = "tar"


@dataclass(frozen=True, slots=True)
class RollRecord:
    """One roll in the store; `path` is its directory there."""

    name: str
    version: str
    arch: str
    os: str
    path: Path
    release: str = "1"
    boot_kernel: Path | None = None
    boot_initrd: Path | None = None

    @property
    def rpms_dir(self) -> Path:
        return self.path / "RPMS"

    @property
    def comps(self) -> Path | None:
        path = self.path / "comps.xml"
        return path if path.is_file() else None

    @property
    def stage2(self) -> Path | None:
        path = self.path / "images" / "install.img"
        return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class _Meta:
    name: str
    version: str
    release: str
    arch: str
    os: str


def _line(el: etree._Element) -> int:
    line = el.sourceline
    return line if isinstance(line, int) else 0


def _meta_from_xml(path: Path) -> _Meta:
    loc = SourceLocation(str(path))
    try:
        root = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise RocksError.of("roll-xml-invalid", f"cannot read {path}: {exc}", loc) from exc
    info = root.find("info")
    attrs = dict(info.attrib) if info is not None else {}
    meta = _Meta(
        name=root.get("name", ""), version=attrs.get("version", ""),
        release=attrs.get("release", "1"), arch=attrs.get("arch", "x86_64"),
        os=attrs.get("os", "linux"),
    )
    if root.tag != "roll":
        raise RocksError.of(
            "roll-xml-invalid", f"{path}: root element is <{root.tag}>, not <roll>", loc
        )
    for field, value in (("name", meta.name), ("version", meta.version), ("arch", meta.arch)):
        if not _SAFE.match(value):
            raise RocksError.of(
                "roll-xml-invalid",
                f"{path}: roll {field} {value!r} is missing or not a plain name",
                SourceLocation(str(path), _line(root)),
                hint='write <roll name="N"><info version="V" release="R" arch="x86_64" '
                'os="linux"/></roll>',
            )
    return meta


def read_roll_record(path: Path) -> RollRecord:
    """The record of a store entry (or any roll directory) from its roll.xml."""
    meta = _meta_from_xml(path / "roll.xml")
    kernel = path / "images" / "pxeboot" / "vmlinuz"
    initrd = path / "images" / "pxeboot" / "initrd.img"
    has_boot = kernel.is_file() and initrd.is_file()
    return RollRecord(
        name=meta.name, version=meta.version, arch=meta.arch, os=meta.os, path=path,
        release=meta.release, boot_kernel=kernel if has_boot else None,
        boot_initrd=initrd if has_boot else None,
    )


def list_rolls(store: Path) -> list[RollRecord]:
    """Every roll in the store, sorted by (name, version, arch)."""
    found = [read_roll_record(p.parent) for p in sorted(store.glob("*/*/*/roll.xml"))]
    return sorted(found, key=lambda r: (r.name, r.version, r.arch))


def remove_roll(store: Path, name: str, version: str, arch: str) -> bool:
    """Delete one roll from the store; False if it was not there."""
    target = store / name / version / arch
    if not (target / "roll.xml").is_file():
        return False
    trash = Path(tempfile.mkdtemp(prefix=".remove-", dir=store))
    os.rename(target, trash / "old")
    shutil.rmtree(trash)
    for parent in (target.parent, target.parent.parent):
        try:
            parent.rmdir()  # only if now empty
        except OSError:
            break
    return True


def package_files(rpms: Path) -> list[Path]:
    """The RPMs anywhere under a roll's `RPMS/` (flat, or rpmbuild's `RPMS/<arch>/`), sorted
    by file name; two files of the same name in different subdirectories are an error."""
    found = sorted((p for p in rpms.rglob("*.rpm") if p.is_file()), key=lambda p: (p.name, p))
    for a, b in itertools.pairwise(found):
        if a.name == b.name:
            raise RocksError.of(
                "roll-duplicate-rpm", f"{a.name} is in both {a.parent} and {b.parent}",
                SourceLocation(str(b)), hint="keep one copy of each package file")
    return found


def _check_rpms(paths: list[Path]) -> None:
    problems: list[Diagnostic] = []
    for path in paths:
        try:
            read_rpm(path)
        except RocksError as exc:
            problems.extend(exc.diagnostics)
    if problems:
        raise RocksError(*problems)


# ---- sources: a roll directory, a disc tree, or OS installation media ----


def _fill_from_roll_dir(src: Path, entry: Path, move: bool) -> None:
    transfer(src / "roll.xml", entry / "roll.xml", move=False)
    for name in PROFILE_DIRS:
        if (src / name).is_dir():
            transfer(src / name, entry / name, move)
    if (src / "comps.xml").is_file():
        transfer(src / "comps.xml", entry / "comps.xml", move)
    (entry / "RPMS").mkdir(parents=True, exist_ok=True)
    for rpm_path in package_files(src / "RPMS"):
        transfer(rpm_path, entry / "RPMS" / rpm_path.name, move)
    if list((src / "src").glob("*.spec")):
        build_rpms(src / "src", entry / "RPMS")


def _fill_from_disc(base: Path, entry: Path, move: bool) -> None:
    meta_file = next(iter(sorted(base.glob("roll-*.xml"))))
    transfer(meta_file, entry / "roll.xml", move)
    for child in sorted((base / "profile").iterdir()) if (base / "profile").is_dir() else []:
        transfer(child, entry / child.name, move)
    if (base / "RedHat" / "base" / "comps.xml").is_file():
        transfer(base / "RedHat" / "base" / "comps.xml", entry / "comps.xml", move)
    (entry / "RPMS").mkdir(parents=True, exist_ok=True)
    for rpm_path in package_files(base / "RedHat" / "RPMS"):
        transfer(rpm_path, entry / "RPMS" / rpm_path.name, move)


def _extract_tar(source: Path, dest: Path) -> None:
    """Unpack regular files and directories only, refusing names that leave `dest`."""
    try:
        with tarfile.open(source) as tar:
            members = []
            for m in tar.getmembers():
                parts = Path(m.name).parts
                if m.name.startswith("/") or ".." in parts:
                    raise RocksError.of("roll-tar-unsafe",
                                        f"{source}: member {m.name!r} points outside the roll",
                                        SourceLocation(str(source)))
                if m.isfile() or m.isdir():
                    m.mode = (m.mode | 0o644) & 0o755
                    members.append(m)
            tar.extractall(dest, members=members)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RocksError.of("roll-tar-unreadable", f"not a readable tarball: {source} ({exc})",
                            SourceLocation(str(source))) from exc


def _single_child(tree: Path) -> Path:
    children = list(tree.iterdir())
    if len(children) == 1 and children[0].is_dir() and not (tree / "roll.xml").exists():
        return children[0]
    return tree


def _disc_base(tree: Path) -> Path | None:
    found = sorted(tree.glob("*/*/*/roll-*.xml"))
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(tree)) for p in found)
        raise RocksError.of("roll-multiple", f"{tree} holds more than one roll ({names})",
                            hint="add them one at a time from their directories")
    return found[0].parent if found else None


# ---- public operations ----


def _refuse_existing(
    store: Path, name: str, version: str, arch: str, clean: bool, source: Path
) -> None:
    if (store / name / version / arch / "roll.xml").exists() and not clean:
        raise RocksError.of(
            "roll-exists", f"roll {name} {version} {arch} is already in {store}",
            SourceLocation(str(source)), hint="add it again with clean=yes to replace it",
        )


def add_roll(source: Path, store: Path, *, clean: bool = False) -> RollRecord:
    """Copy a roll (directory, ISO or tarball; or OS installation media) into the store.

    Everything is assembled in a temporary directory inside the store and renamed into place,
    so an error leaves the store as it was. An existing name/version/arch is an error unless
    `clean` is true (then it is replaced).
    """
    source = Path(source)
    if not source.exists():
        raise RocksError.of(
            "roll-missing", f"no such roll source: {source}", SourceLocation(str(source))
        )
    store.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".add-", dir=store))
    try:
        tree, move = source, False
        media: TreeInfo | None = None
        if source.is_file():
            tree, move = staging / "src", True
            tree.mkdir()
            if source.suffix.lower() == ".iso" or is_iso(source):
                with IsoImage(source) as iso:
                    names = iso.files()
                    if ".treeinfo" in names:
                        iso.extract(tree, lambda p: p == ".treeinfo")
                        media = read_treeinfo(tree / ".treeinfo")
                        _refuse_existing(store, OS_ROLL, media.version, media.arch, clean, source)
                        wanted = wanted_paths(media)
                        iso.extract(tree, lambda p: p.startswith(wanted))
                    else:
                        iso.extract(tree)
            elif tarfile.is_tarfile(source):
                _extract_tar(source, tree)
                tree = _single_child(tree)
            else:
                raise RocksError.of(
                    "roll-source-unknown", f"{source} is neither a directory, an ISO nor a tarball",
                    SourceLocation(str(source)),
                )
        if media is None and (tree / ".treeinfo").is_file():
            media = read_treeinfo(tree / ".treeinfo")
        disc = None if media or (tree / "roll.xml").is_file() else _disc_base(tree)
        if media is not None:
            meta = _Meta(OS_ROLL, media.version, "1", media.arch, "linux")
        elif (tree / "roll.xml").is_file():
            meta = _meta_from_xml(tree / "roll.xml")
        elif disc is not None:
            meta = _meta_from_xml(next(iter(sorted(disc.glob("roll-*.xml")))))
        else:
            raise RocksError.of(
                "roll-no-metadata", f"{source} has no roll.xml (nor a disc roll-<name>.xml or "
                ".treeinfo)", SourceLocation(str(source)),
                hint="a roll directory needs roll.xml: <roll name=\"N\"><info version=\"V\" "
                "arch=\"x86_64\" os=\"linux\"/></roll>",
            )
        _refuse_existing(store, meta.name, meta.version, meta.arch, clean, source)
        target = store / meta.name / meta.version / meta.arch
        entry = staging / "entry"
        entry.mkdir()
        if media is not None:
            fill_from_media(tree, entry, media, move)
        elif disc is not None:
            _fill_from_disc(disc, entry, move)
        else:
            _fill_from_roll_dir(tree, entry, move)
        for sub in ("nodes", "graphs/default", "RPMS"):
            (entry / sub).mkdir(parents=True, exist_ok=True)
        _check_rpms(sorted((entry / "RPMS").glob("*.rpm")))
        if (entry / "comps.xml").is_file():
            load_comps(entry / "comps.xml")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.rename(target, staging / "old")
        os.rename(entry, target)
        return read_roll_record(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def create_roll(roll_dir: Path, out_dir: Path, *, fmt: RollFormat = RollFormat.ISO) -> Path:
    """Build `src/*.spec` (if any) and write the roll as an ISO or .tar.gz into `out_dir`."""
    roll_dir = Path(roll_dir)
    if not (roll_dir / "roll.xml").is_file():
        raise RocksError.of(
            "roll-no-metadata", f"{roll_dir} has no roll.xml", SourceLocation(str(roll_dir)),
            hint="a roll directory needs roll.xml next to nodes/ and graphs/default/",
        )
    meta = _meta_from_xml(roll_dir / "roll.xml")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{meta.name}-{meta.version}-{meta.release}.{meta.arch}.disk1"
    with tempfile.TemporaryDirectory(prefix=".roll-", dir=out_dir) as tmp:
        base = Path(tmp) / "disc" / meta.name / meta.version / meta.arch
        rpms = base / "RedHat" / "RPMS"
        rpms.mkdir(parents=True)
        shutil.copy2(roll_dir / "roll.xml", base / f"roll-{meta.name}.xml")
        for name in PROFILE_DIRS:
            if (roll_dir / name).is_dir():
                shutil.copytree(roll_dir / name, base / "profile" / name)
        if (roll_dir / "comps.xml").is_file():
            load_comps(roll_dir / "comps.xml")
            (base / "RedHat" / "base").mkdir(parents=True)
            shutil.copy2(roll_dir / "comps.xml", base / "RedHat" / "base" / "comps.xml")
        existing = package_files(roll_dir / "RPMS")
        _check_rpms(existing)
        for path in existing:
            shutil.copy2(path, rpms / path.name)
        if list((roll_dir / "src").glob("*.spec")):
            build_rpms(roll_dir / "src", rpms)
        disc = Path(tmp) / "disc"
        (disc / ".discinfo").write_text(f"{meta.name} {meta.version}\n{meta.arch}\n1\n")
        if fmt is RollFormat.ISO:
            out = out_dir / f"{stem}.iso"
            write_iso(disc, out, volume_id=f"{meta.name}-{meta.version}")
        else:
            out = out_dir / f"{stem}.tar.gz"
            part = Path(tmp) / "roll.tar.gz"
            with tarfile.open(part, "w:gz") as tar:
                for child in sorted(disc.iterdir()):
                    tar.add(child, arcname=child.name)
            os.replace(part, out)
        return out
