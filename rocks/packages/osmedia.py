"""OS installation media (Rocky/Alma DVD layout) as the `os` roll.

`.treeinfo` names the variants (BaseOS, AppStream: Packages/ and repodata/ with comps) and the
installer kernel, initrd and stage2 image; those are what a store entry of the os roll keeps.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from rocks.errors import RocksError, SourceLocation
from rocks.packages.comps import merge_comps, write_comps

OS_ROLL = "os"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def transfer(src: Path, dst: Path, move: bool) -> None:
    """Move (from our own extracted temp tree) or copy (from a user's directory) into place."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.rename(src, dst)
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy2(src, dst)


@dataclass(frozen=True, slots=True)
class TreeInfo:
    """What .treeinfo says about the media."""

    version: str
    arch: str
    family: str
    package_dirs: tuple[str, ...]
    repo_dirs: tuple[str, ...]
    kernel: str
    initrd: str
    stage2: str


def read_treeinfo(path: Path) -> TreeInfo:
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
    return TreeInfo(
        version=version, arch=arch, family=family,
        package_dirs=tuple(pkg_dirs), repo_dirs=tuple(repo_dirs),
        kernel=get(f"images-{arch}", "kernel", "images/pxeboot/vmlinuz"),
        initrd=get(f"images-{arch}", "initrd", "images/pxeboot/initrd.img"),
        stage2=get("stage2", "mainimage"),
    )


def wanted_paths(info: TreeInfo) -> tuple[str, ...]:
    """Path prefixes worth extracting from the media (never the whole DVD)."""
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


def fill_from_media(tree: Path, entry: Path, info: TreeInfo, move: bool) -> None:
    """Make `entry` the os roll: generated roll.xml, all RPMs, merged comps, installer images."""
    (entry / "nodes").mkdir(parents=True)
    (entry / "graphs" / "default").mkdir(parents=True)
    (entry / "roll.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<roll name="{OS_ROLL}" interface="4.0">\n'
        f'  <info version={quoteattr(info.version)} release="1" arch={quoteattr(info.arch)} '
        f'os="linux"/>\n  <description>{escape(info.family)} {escape(info.version)} '
        "installation media</description>\n</roll>\n"
    )
    shutil.copy2(tree / ".treeinfo", entry / ".treeinfo")
    (entry / "RPMS").mkdir()
    for pkg_dir in info.package_dirs:
        for rpm_path in sorted((tree / pkg_dir).rglob("*.rpm")):
            if not (entry / "RPMS" / rpm_path.name).exists():
                transfer(rpm_path, entry / "RPMS" / rpm_path.name, move)
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
        transfer(tree / rel, entry / "images" / "pxeboot" / name, move)
    if info.stage2 and (tree / info.stage2).is_file():
        transfer(tree / info.stage2, entry / "images" / "install.img", move)
