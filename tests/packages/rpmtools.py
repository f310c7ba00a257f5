"""Test helpers that build small real RPMs (and comps files) for any test suite.

Builds are cached for the life of the process in a temp dir keyed by the spec text, so asking
for the same package twice costs one copy. Not used by production code.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from rocks.packages.build import build_spec


@functools.cache
def _cache_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="rocks-test-rpms-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def spec_text(
    name: str, version: str = "1.0", release: str = "1", *, requires: Sequence[str] = (),
    provides: Sequence[str] = (), post: str | None = None, files: Mapping[str, str] | None = None,
    summary: str = "", epoch: int | None = None, conflicts: Sequence[str] = (), header: str = "",
) -> str:
    """A noarch spec installing `files` (path -> content; default /etc/rocks-test/<name>)."""
    files = dict(files) if files is not None else {f"/etc/rocks-test/{name}": f"{name}\n"}
    lines = [
        f"Name: {name}", f"Version: {version}", f"Release: {release}",
        f"Summary: {summary or 'rocks test package ' + name}", "License: MIT",
        "BuildArch: noarch",
    ]
    if epoch is not None:
        lines.append(f"Epoch: {epoch}")
    lines += [f"Requires: {r}" for r in requires]
    lines += [f"Provides: {p}" for p in provides]
    lines += [f"Conflicts: {c}" for c in conflicts]
    if header:
        lines.append(header)
    lines += ["", "%description", f"Test package {name}.", "", "%install"]
    for i, (path, content) in enumerate(sorted(files.items())):
        lines.append(f"mkdir -p %{{buildroot}}{Path(path).parent}")
        lines.append(f"cat > %{{buildroot}}{path} <<'ROCKS_EOF_{i}'")
        lines.append(content.rstrip("\n"))
        lines.append(f"ROCKS_EOF_{i}")
    lines += ["", "%files", *sorted(files)]
    if post is not None:
        lines += ["", "%post", post.rstrip("\n")]
    return "\n".join(lines) + "\n"


def build_cached(spec: str, dest: Path | None = None) -> list[Path]:
    """Build `spec` once per process; copy the packages into `dest` if given."""
    key = hashlib.sha256(spec.encode()).hexdigest()[:20]
    slot = _cache_dir() / key
    if not (slot / "done").exists():
        shutil.rmtree(slot, ignore_errors=True)
        slot.mkdir()
        (slot / "pkg.spec").write_text(spec)
        build_spec(slot / "pkg.spec", slot / "out")
        (slot / "done").touch()
    built = sorted((slot / "out").glob("*.rpm"))
    if dest is None:
        return built
    dest.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in built:
        shutil.copyfile(path, dest / path.name)
        copies.append(dest / path.name)
    return copies


def make_rpm(
    name: str, version: str = "1.0", release: str = "1", *, dest: Path | None = None,
    requires: Sequence[str] = (), provides: Sequence[str] = (), post: str | None = None,
    files: Mapping[str, str] | None = None, summary: str = "", epoch: int | None = None,
    conflicts: Sequence[str] = (),
) -> Path:
    """Build (or reuse) one small noarch RPM; returns its path (a fresh copy in `dest`)."""
    spec = spec_text(
        name, version, release, requires=requires, provides=provides, post=post, files=files,
        summary=summary, epoch=epoch, conflicts=conflicts,
    )
    return build_cached(spec, dest)[0]


def make_busybox_rpm(dest: Path | None = None, name: str = "rocks-busybox-sh") -> Path:
    """A package shipping the host's static busybox as /bin/sh so scriptlets run in a root."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = ("cat", "date", "echo", "id", "ls", "mkdir", "pwd", "touch")
    install = [
        "mkdir -p %{buildroot}/bin %{buildroot}/usr/bin",
        f"install -m0755 {busybox} %{{buildroot}}/bin/busybox",
        "ln -s busybox %{buildroot}/bin/sh",
        *(f"ln -s ../../bin/busybox %{{buildroot}}/usr/bin/{a}" for a in applets),
    ]
    spec = "\n".join([
        f"Name: {name}", "Version: 1.0", "Release: 1", "Summary: busybox as /bin/sh",
        "License: GPL-2.0", "BuildArch: noarch", "AutoReqProv: no", "Provides: /bin/sh",
        # The binary is native code labelled noarch: keep rpmbuild from refusing or stripping it.
        "%global _binaries_in_noarch_packages_terminate_build 0",
        "%global __os_install_post %{nil}", "%global debug_package %{nil}",
        "", "%description", "busybox as /bin/sh for installroot tests.", "", "%install",
        *install, "", "%files", "/bin/busybox", "/bin/sh",
        *(f"/usr/bin/{a}" for a in applets), "",
    ])
    return build_cached(spec, dest)[0]


def make_many_rpms(
    count: int, dest: Path, *, prefix: str = "bulk", version: str = "1.0"
) -> list[Path]:
    """`count` tiny packages `<prefix>-p<i>` from one spec with subpackages (one rpmbuild run)."""
    lines = [
        f"Name: {prefix}", f"Version: {version}", "Release: 1", "Summary: bulk", "License: MIT",
        "BuildArch: noarch", "%define _binary_payload w1.gzdio",
        "", "%description", "bulk", "", "%install",
        f"mkdir -p %{{buildroot}}/opt/{prefix}",
        f"for i in $(seq {count}); do echo $i > %{{buildroot}}/opt/{prefix}/p$i; done",
    ]
    for i in range(1, count + 1):
        lines += [
            f"%package p{i}", f"Summary: p{i}",
            *([f"Requires: {prefix}-p{(i * 7919) % (i - 1) + 1}"] if i > 1 else []),
            f"%description p{i}", f"p{i}", f"%files p{i}", f"/opt/{prefix}/p{i}",
        ]
    built = build_cached("\n".join(lines) + "\n", dest)
    return [p for p in built if not p.name.startswith(f"{prefix}-{version}")]


def comps_xml(
    groups: Mapping[str, Iterable[str | tuple[str, str]]], *,
    names: Mapping[str, str] | None = None,
) -> str:
    """A comps document: group id -> package names (or (name, type) pairs; default mandatory)."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">',
        "<comps>",
    ]
    for gid, pkgs in groups.items():
        title = (names or {}).get(gid, gid)
        out += [
            "  <group>", f"    <id>{escape(gid)}</id>", f"    <name>{escape(title)}</name>",
            f"    <description>{escape(title)}</description>",
            "    <default>false</default>", "    <uservisible>true</uservisible>",
            "    <packagelist>",
        ]
        for pkg in pkgs:
            pname, ptype = (pkg, "mandatory") if isinstance(pkg, str) else pkg
            out.append(f'      <packagereq type="{ptype}">{escape(pname)}</packagereq>')
        out += ["    </packagelist>", "  </group>"]
    out.append("</comps>")
    return "\n".join(out) + "\n"


TREEINFO = """[header]
type = productmd.treeinfo
version = 1.2

[release]
name = Test Linux
short = TL
version = {version}

[tree]
arch = x86_64
platforms = x86_64
variants = AppStream,BaseOS

[variant-AppStream]
id = AppStream
name = AppStream
packages = AppStream/Packages
repository = AppStream
type = variant
uid = AppStream

[variant-BaseOS]
id = BaseOS
name = BaseOS
packages = BaseOS/Packages
repository = BaseOS
type = variant
uid = BaseOS

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img

[stage2]
mainimage = images/install.img
"""


def make_os_media(
    dest: Path, variants: Mapping[str, tuple[Sequence[Path], str]], *, version: str = "9.4",
) -> Path:
    """An installation-DVD tree (Rocky/Alma layout) at `dest`.

    `variants` maps a variant name (BaseOS, AppStream) to (its RPM files, its comps XML text);
    each variant gets `<V>/Packages/<first letter>/*.rpm` and createrepo_c repodata with the
    comps. The installer kernel/initrd/stage2 are small stand-in files.
    """
    import subprocess

    dest.mkdir(parents=True, exist_ok=True)
    (dest / ".treeinfo").write_text(TREEINFO.format(version=version))
    for variant, (rpms, comps) in variants.items():
        for rpm_path in rpms:
            sub = dest / variant / "Packages" / rpm_path.name[0].lower()
            sub.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(rpm_path, sub / rpm_path.name)
        (dest / variant / "Packages").mkdir(parents=True, exist_ok=True)
        groupfile = dest / f"{variant}-comps.xml"
        groupfile.write_text(comps)
        subprocess.run(
            ["createrepo_c", "--quiet", f"--groupfile={groupfile}", str(dest / variant)],
            check=True,
        )
        groupfile.unlink()
    pxe = dest / "images" / "pxeboot"
    pxe.mkdir(parents=True, exist_ok=True)
    (pxe / "vmlinuz").write_bytes(b"stand-in kernel\n")
    (pxe / "initrd.img").write_bytes(b"stand-in initrd\n")
    (dest / "images" / "install.img").write_bytes(b"stand-in stage2\n")
    return dest
