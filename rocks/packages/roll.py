"""Roll artifacts: creating roll ISOs/tarballs and adding rolls (or OS media) to a roll store.

Disc layout (Rocks'): `<name>/<version>/<arch>/roll-<name>.xml`, `…/RedHat/RPMS/*.rpm`,
`…/RedHat/base/comps.xml` and, ours, `…/profile/{nodes,graphs,include,include-version}`.
Store layout: `<store>/<name>/<version>/<arch>/` is itself a roll directory (roll.xml, nodes/,
graphs/default/, RPMS/, optional comps.xml; OS media add images/pxeboot/ and .treeinfo).
"""

from __future__ import annotations

import configparser
import enum
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from rocks.errors import Diagnostic, RocksError, SourceLocation
from rocks.packages.build import build_rpms
from rocks.packages.comps import load_comps, merge_comps, write_comps
from rocks.packages.isofs import IsoImage, is_iso, write_iso
from rocks.packages.rpmfile import read_rpm

PROFILE_DIRS = ("nodes", "graphs", "include", "include-version")
OS_ROLL = "os"
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
        raise RocksError.of("roll-xml-invalid", f"{path}: root element is <{root.tag}>, not <roll>", loc)
    for field, value in (("name", meta.name), ("version", meta.version), ("arch", meta.arch)):
        if not _SAFE.match(value):
            raise RocksError.of(
                "roll-xml-invalid", f"{path}: roll {field} {value!r} is missing or not a plain name",
                SourceLocation(str(path), root.sourceline or 0),
                hint='write <roll name="N"><info version="V" release="R" arch="x86_64" os="linux"/>',
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
    return True


def _transfer(src: Path, dst: Path, move: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.rename(src, dst)
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy2(src, dst)


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
    _transfer(src / "roll.xml", entry / "roll.xml", move=False)
    for name in PROFILE_DIRS:
        if (src / name).is_dir():
            _transfer(src / name, entry / name, move)
    if (src / "comps.xml").is_file():
        _transfer(src / "comps.xml", entry / "comps.xml", move)
    (entry / "RPMS").mkdir(parents=True, exist_ok=True)
    for rpm_path in sorted((src / "RPMS").glob("*.rpm")):
        _transfer(rpm_path, entry / "RPMS" / rpm_path.name, move)
    if list((src / "src").glob("*.spec")):
        build_rpms(src / "src", entry / "RPMS")


def _fill_from_disc(base: Path, entry: Path, move: bool) -> None:
    meta_file = next(iter(sorted(base.glob("roll-*.xml"))))
    _transfer(meta_file, entry / "roll.xml", move)
    for child in sorted((base / "profile").iterdir()) if (base / "profile").is_dir() else []:
        _transfer(child, entry / child.name, move)
    if (base / "RedHat" / "base" / "comps.xml").is_file():
        _transfer(base / "RedHat" / "base" / "comps.xml", entry / "comps.xml", move)
    (entry / "RPMS").mkdir(parents=True, exist_ok=True)
    for rpm_path in sorted((base / "RedHat" / "RPMS").glob("*.rpm")):
        _transfer(rpm_path, entry / "RPMS" / rpm_path.name, move)


@dataclass(frozen=True, slots=True)
class _TreeInfo:
    meta: _Meta
    family: str
    package_dirs: tuple[str, ...]
    repo_dirs: tuple[str, ...]
    kernel: str
    initrd: str
    stage2: str


def _read_treeinfo(path: Path) -> _TreeInfo:
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(path.read_text(errors="replace"), source=str(path))
    except configparser.Error as exc:
        raise RocksError.of("treeinfo-invalid", f"cannot parse {path}: {exc}",
                            SourceLocation(str(path))) from exc

    def get(section: str, key: str, default: str = "") -> str:
        return cp.get(section, key, fallback=default).strip()

    arch = get("tree", "arch") or get("general", "arch", "x86_64")
    version = get("release", "version") or get("general", "version")
    family = get("release", "name") or get("general", "family", "Linux")
    variants = [v.strip() for v in get("tree", "variants").split(",") if v.strip()]
    pkg_dirs = [get(f"variant-{v}", "packages", f"{v}/Packages") for v in variants]
    repo_dirs = [get(f"variant-{v}", "repository", v) for v in variants]
    if not variants:  # old-style trees: one Packages dir beside repodata at the top
        pkg_dirs, repo_dirs = [get("general", "packagedir", "Packages")], ["."]
    if not _SAFE.match(version or "-"):
        raise RocksError.of("treeinfo-invalid", f"{path}: no usable release version",
                            SourceLocation(str(path)))
    return _TreeInfo(
        meta=_Meta(OS_ROLL, version, "1", arch, "linux"), family=family,
        package_dirs=tuple(pkg_dirs), repo_dirs=tuple(repo_dirs),
        kernel=get(f"images-{arch}", "kernel", "images/pxeboot/vmlinuz"),
        initrd=get(f"images-{arch}", "initrd", "images/pxeboot/initrd.img"),
        stage2=get("stage2", "mainimage"),
    )


def _wanted_from_media(info: _TreeInfo) -> tuple[str, ...]:
    prefixes = [f"{d.strip('/')}/" for d in info.package_dirs]
    prefixes += [f"{d.strip('/')}/repodata/".lstrip("./") for d in info.repo_dirs]
    return (*prefixes, info.kernel, info.initrd, *([info.stage2] if info.stage2 else []))


def _group_file(repo: Path) -> Path | None:
    repomd = repo / "repodata" / "repomd.xml"
    if repomd.is_file():
        try:
            root = etree.parse(str(repomd)).getroot()
        except etree.XMLSyntaxError:
            root = None
        ns = "{http://linux.duke.edu/metadata/repo}"
        for data in root.iter(f"{ns}data") if root is not None else []:
            loc = data.find(f"{ns}location")
            if data.get("type") == "group" and loc is not None:
                return repo / loc.get("href", "")
    found = sorted((repo / "repodata").glob("*comps*.xml"))
    return found[0] if found else None


def _fill_from_media(tree: Path, entry: Path, info: _TreeInfo, move: bool) -> None:
    meta = info.meta
    (entry / "nodes").mkdir(parents=True)
    (entry / "graphs" / "default").mkdir(parents=True)
    (entry / "roll.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<roll name="{meta.name}" interface="4.0">\n'
        f'  <info version={quoteattr(meta.version)} release="1" arch={quoteattr(meta.arch)} '
        f'os="linux"/>\n  <description>{_xml_text(info.family)} {_xml_text(meta.version)} '
        "installation media</description>\n</roll>\n"
    )
    shutil.copy2(tree / ".treeinfo", entry / ".treeinfo")
    (entry / "RPMS").mkdir()
    for pkg_dir in info.package_dirs:
        for rpm_path in sorted((tree / pkg_dir).rglob("*.rpm")):
            if not (entry / "RPMS" / rpm_path.name).exists():
                _transfer(rpm_path, entry / "RPMS" / rpm_path.name, move)
    group_files = [_group_file(tree / d) for d in info.repo_dirs]
    merged = merge_comps(p for p in group_files if p is not None)
    if merged.groups or merged.environments:
        write_comps(merged, entry / "comps.xml")
    for rel, name in ((info.kernel, "vmlinuz"), (info.initrd, "initrd.img")):
        if not (tree / rel).is_file():
            raise RocksError.of(
                "os-media-incomplete", f"installation media lack the installer {name} ({rel})",
                SourceLocation(str(tree / ".treeinfo")),
            )
        _transfer(tree / rel, entry / "images" / "pxeboot" / name, move)
    if info.stage2 and (tree / info.stage2).is_file():
        _transfer(tree / info.stage2, entry / "images" / "install.img", move)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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


def add_roll(source: Path, store: Path, *, clean: bool = False) -> RollRecord:
    """Copy a roll (directory, ISO or tarball; or OS installation media) into the store.

    Everything is assembled in a temporary directory inside the store and renamed into place,
    so an error leaves the store as it was. An existing name/version/arch is an error unless
    `clean` is true (then it is replaced).
    """
    source = Path(source)
    if not source.exists():
        raise RocksError.of("roll-missing", f"no such roll source: {source}", SourceLocation(str(source)))
    store.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".add-", dir=store))
    try:
        tree, move = source, False
        media: _TreeInfo | None = None
        if source.is_file():
            tree, move = staging / "src", True
            tree.mkdir()
            if source.suffix.lower() == ".iso" or is_iso(source):
                with IsoImage(source) as iso:
                    names = iso.files()
                    if ".treeinfo" in names:
                        iso.extract(tree, lambda p: p == ".treeinfo")
                        media = _read_treeinfo(tree / ".treeinfo")
                        wanted = _wanted_from_media(media)
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
            media = _read_treeinfo(tree / ".treeinfo")
        disc = None if media or (tree / "roll.xml").is_file() else _disc_base(tree)
        if media is not None:
            meta = media.meta
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
        target = store / meta.name / meta.version / meta.arch
        if (target / "roll.xml").exists() and not clean:
            raise RocksError.of(
                "roll-exists", f"roll {meta.name} {meta.version} {meta.arch} is already in {store}",
                SourceLocation(str(source)), hint="add it again with clean=yes to replace it",
            )
        entry = staging / "entry"
        entry.mkdir()
        if media is not None:
            _fill_from_media(tree, entry, media, move)
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
        existing = sorted((roll_dir / "RPMS").glob("*.rpm"))
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
