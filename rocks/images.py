"""Stateless images: an appliance's root built the way `rocks try` builds it (its %packages
installed from the distribution with dnf, its %post scripts run chrooted — `rocks.tryout`, which
runs the test installer's own code), stripped of what a diskless node does not need and of
anything that belongs to one host, and packed as a compressed cpio initramfs with a small
`/init` that fetches the host's own state from the frontend at boot.

An image is named by its content: the digest of what the appliance's profile puts into a root
(packages, excluded packages, %post scripts with the image's attribute values filled in), of
the distribution the packages come from (its repomd.xml) and of this builder (its format and
`/init`). Building an unchanged appliance is a no-op; a changed node file rebuilds only the
appliances that reach it.

Images live under the sync root at tftpboot/images/<appliance>/<digest>/ (vmlinuz, initrd.img,
manifest.json): PXELINUX and GRUB read them over TFTP, iPXE over HTTP (the frontend serves the
same directory at /boot/images/). Nothing in them is secret: host names, addresses, keys and
secret attributes come at boot (rocks.server.nodestate), never from the image.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rocks.errors import RocksError, SourceLocation
from rocks.model.profile import Profile

IMAGES = "tftpboot/images"  # under the sync root
FORMAT = "rocks-image 1"
INIT = Path(__file__).resolve().parent / "data" / "stateless" / "init"
MANIFEST = "manifest.json"
KERNEL = "vmlinuz"
INITRD = "initrd.img"
CURRENT = "current"  # <appliance>/current -> <digest>: what the boot files name

# Values that name one host: an image is built with them empty (the host's own come at boot).
HOST_VALUES = ("hostname", "hostaddr", "ksmac", "rack", "rank", "install_token")
# What a diskless node does not need, or what must not be shared by the hosts of an image.
STRIP = ("var/cache/dnf", "var/lib/dnf", "var/log/dnf.log", "var/log/dnf.librepo.log",
         "var/log/dnf.rpm.log", "var/log/hawkey.log", "usr/share/doc", "usr/share/man",
         "usr/share/info", "root/.ssh", "etc/hostname", "etc/rocks/host.env")
STRIP_GLOBS = ("etc/ssh/ssh_host_*", "boot/*", "tmp/*", "var/tmp/*", "tmp/rocks-try-*")

Step = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Manifest:
    appliance: str
    digest: str
    profile_digest: str
    distro_digest: str
    created: str  # ISO 8601, UTC
    kernel_version: str
    packages: int
    files: int
    root_bytes: int
    kernel_bytes: int
    initrd_bytes: int
    build_seconds: float

    @property
    def short(self) -> str:
        return self.digest[:12]

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created)

    def encode(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def read(cls, path: Path) -> Manifest:
        doc = json.loads(path.read_text())
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class BuildResult:
    manifest: Manifest
    built: bool  # False: the image was there already (nothing done)
    path: Path


def image_values(attrs: Mapping[str, str], secret: Collection[str]) -> dict[str, str]:
    """The attribute values an image is built with: the appliance's, with every value that
    names one host and every secret one left empty (a host gets those at boot)."""
    values = dict(attrs)
    for name in (*HOST_VALUES, *secret):
        if name in values:
            values[name] = ""
    return values


def profile_digest(profile: Profile, values: Mapping[str, str]) -> str:
    """What the profile puts into a root: packages, exclusions and %post scripts with their
    attribute slots filled in. Where they came from (file, line) does not count."""
    from rocks.tryout import as_ks_script

    h = hashlib.sha256(f"{FORMAT}\nrelease {profile.release}\n".encode())
    for p in sorted({p.name for p in profile.packages} | {"kernel"}):  # as try_profile(kernel=)
        h.update(f"package {p}\n".encode())
    for p in sorted({p.name for p in profile.excluded}):
        h.update(f"exclude {p}\n".encode())
    for s in profile.post:
        ks = as_ks_script(s, values)
        body = ks.body.encode()
        h.update(f"post {ks.interp} chroot={ks.chroot} {len(body)}\n".encode() + body)
    return h.hexdigest()


def distro_digest(repo: Path) -> str:
    """The distribution's identity: its repository metadata (names every package's checksum)."""
    md = repo / "repodata" / "repomd.xml"
    if not md.is_file():
        raise RocksError.of("no-distro", f"no distribution at {repo}", hint="rocks create distro")
    return hashlib.sha256(md.read_bytes()).hexdigest()


def image_digest(profile_d: str, distro_d: str) -> str:
    init = INIT.read_bytes()
    raw = f"{FORMAT}\n{profile_d}\n{distro_d}\n{hashlib.sha256(init).hexdigest()}\n"
    return hashlib.sha256(raw.encode()).hexdigest()


def store(sync_root: Path) -> Path:
    return sync_root / IMAGES


def list_images(sync_root: Path, appliance: str = "") -> list[Manifest]:
    """Every built image (of one appliance), newest first within each appliance."""
    base = store(sync_root)
    found: list[Manifest] = []
    if not base.is_dir():
        return found
    for app in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if appliance and app.name != appliance:
            continue
        mine = []
        for d in app.iterdir():
            m = d / MANIFEST
            if d.is_dir() and not d.is_symlink() and m.is_file():
                try:
                    mine.append(Manifest.read(m))
                except (ValueError, KeyError, TypeError):
                    continue  # a damaged manifest: not an image anyone boots
        found += sorted(mine, key=lambda m: (m.created, m.digest), reverse=True)
    return found


def current_images(sync_root: Path) -> dict[str, Manifest]:
    """Appliance → its current image (the `current` link: the one built or found last), what
    its stateless hosts boot."""
    out: dict[str, Manifest] = {}
    base = store(sync_root)
    for m in list_images(sync_root):
        link = base / m.appliance / CURRENT
        if link.is_symlink() and os.readlink(link) == m.digest:
            out[m.appliance] = m
    return out


def _point_current(app_dir: Path, digest: str | None) -> None:
    """Atomically make `current` name the image `digest` (None: remove the link)."""
    link = app_dir / CURRENT
    if digest is None:
        if link.is_symlink():
            link.unlink()
        return
    tmp = app_dir / f".{CURRENT}.{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(digest)
    tmp.rename(link)


def image_dir(sync_root: Path, m: Manifest) -> Path:
    return store(sync_root) / m.appliance / m.digest


def remove_image(sync_root: Path, appliance: str, digest: str = "") -> list[Manifest]:
    """Remove an appliance's images (all of them, or those whose digest starts with `digest`);
    returns what was removed."""
    images = list_images(sync_root, appliance)
    gone = [m for m in images if not digest or m.digest.startswith(digest)]
    if not gone:
        what = f"image {digest} of {appliance}" if digest else f"image of {appliance}"
        raise RocksError.of("unknown-image", f"no {what}", hint="rocks list image")
    current = current_images(sync_root).get(appliance)
    for m in gone:
        shutil.rmtree(image_dir(sync_root, m))
    app = store(sync_root) / appliance
    left = [m for m in images if m not in gone]
    if current is None or current in gone:  # the newest remaining one, or none
        _point_current(app, left[0].digest if left else None)
    if app.is_dir() and not any(app.iterdir()):
        app.rmdir()
    return gone


def build_image(profile: Profile, attrs: Mapping[str, str], secret: Collection[str],
                appliance: str, repo: Path, sync_root: Path, *, force: bool = False,
                step: Step | None = None, script_timeout: float = 600.0) -> BuildResult:
    """The appliance's image: built, stripped and packed — or, when an image with the same
    digest exists already (and not `force`), that one, untouched."""
    from rocks.tryout import report_table, try_profile

    say: Step = step or (lambda text: None)
    values = image_values(attrs, secret)
    pd, dd = profile_digest(profile, values), distro_digest(repo)
    digest = image_digest(pd, dd)
    final = store(sync_root) / appliance / digest
    if (final / MANIFEST).is_file() and not force:
        _point_current(final.parent, digest)
        return BuildResult(Manifest.read(final / MANIFEST), False, final)
    started = time.monotonic()
    work = store(sync_root) / f".build-{appliance}-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        root = work / "root"
        say("installing packages and running %post")
        result = try_profile(profile, values, root, repo, script_timeout=script_timeout,
                             kernel=True)
        if result.failed:
            raise RocksError.of(
                "image-post-failed",
                f"image of {appliance}: {len(result.failed)} %post script(s) failed\n"
                + report_table(result),
                SourceLocation(result.failed[0].origin.where, result.failed[0].origin.line,
                               result.failed[0].origin.roll),
                hint="fix the node file (rocks try appliance shows the same run)")
        say("stripping")
        out = work / "image"
        out.mkdir()
        kernel_version = take_kernel(root, out / KERNEL, appliance)
        strip(root)
        install_init(root, digest)
        root_bytes = tree_bytes(root)
        say("packing")
        with (out / INITRD).open("wb") as f:
            files = pack_cpio(root, f)
        m = Manifest(appliance, digest, pd, dd, datetime.now(UTC).isoformat(timespec="seconds"),
                     kernel_version, len(result.install.installed), files, root_bytes,
                     (out / KERNEL).stat().st_size, (out / INITRD).stat().st_size,
                     round(time.monotonic() - started, 1))
        (out / MANIFEST).write_bytes(m.encode())
        for p in (out, out / KERNEL, out / INITRD, out / MANIFEST):
            p.chmod(0o755 if p.is_dir() else 0o644)
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        out.rename(final)
        _point_current(final.parent, digest)
        return BuildResult(m, True, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def take_kernel(root: Path, dest: Path, appliance: str) -> str:
    """Copy the root's newest /boot/vmlinuz-<version> to `dest`; returns the version."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"), key=lambda p: _version_key(p.name))
    kernels = [k for k in kernels if "rescue" not in k.name]
    if not kernels:
        raise RocksError.of("image-no-kernel",
                            f"the packages of {appliance} install no kernel (/boot/vmlinuz-*)",
                            hint="add a kernel package to a node file the appliance reaches")
    shutil.copyfile(kernels[-1], dest)
    return kernels[-1].name.removeprefix("vmlinuz-")


def _version_key(name: str) -> list[tuple[int, str]]:
    import re

    return [(int(t), "") if t.isdigit() else (-1, t) for t in re.split(r"(\d+)", name)]


def strip(root: Path) -> None:
    """Remove what a diskless node does not need, and whatever belongs to one host (SSH host
    keys, host name, machine id) — each node makes or fetches its own at boot."""
    for rel in STRIP:
        p = root / rel
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    for pattern in STRIP_GLOBS:
        for p in root.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    mid = root / "etc" / "machine-id"
    if mid.is_file():
        mid.write_text("")  # systemd makes one at boot


def install_init(root: Path, digest: str) -> None:
    """The stateless /init, and the image's own digest (what the node reports it runs)."""
    init = root / "init"
    if init.exists() or init.is_symlink():
        init.unlink()
    shutil.copyfile(INIT, init)
    init.chmod(0o755)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "rocks-image").write_text(digest + "\n")


def tree_bytes(root: Path) -> int:
    total = 0
    for path, _, files in os.walk(root):
        for f in files:
            total += os.lstat(os.path.join(path, f)).st_size
    return total


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything under root, parents first, in name order."""
    for path, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(path, root)
        for name in sorted([*dirs, *files]):
            full = os.path.join(path, name)
            yield (name if rel == "." else f"{rel}/{name}"), os.lstat(full)


def _newc(name: str, st: os.stat_result | None, ino: int, size: int) -> bytes:
    mode, uid, gid, rdev = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev) if st else (0, 0, 0, 0)
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (ino, mode, uid, gid, nlink, 0, size, 0, 0,
              os.major(rdev), os.minor(rdev), len(name.encode()) + 1, 0)
    head = b"070701" + b"".join(b"%08X" % v for v in fields) + name.encode() + b"\0"
    return head + b"\0" * (-len(head) % 4)


def pack_cpio(root: Path, out: IO[bytes]) -> int:
    """The tree as a gzip'd cpio (newc) archive, the format of a Linux initramfs: entries in
    name order, every time stamp 0, so the same tree gives the same bytes. Returns the number
    of entries."""
    n = 0
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        for ino, (rel, st) in enumerate(_walk(root), start=1):
            full = root / rel
            if stat.S_ISREG(st.st_mode):
                gz.write(_newc(rel, st, ino, st.st_size))
                with full.open("rb") as f:
                    shutil.copyfileobj(f, gz, 1 << 20)
                gz.write(b"\0" * (-st.st_size % 4))
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(full).encode()
                gz.write(_newc(rel, st, ino, len(target)) + target + b"\0" * (-len(target) % 4))
            elif stat.S_ISSOCK(st.st_mode):
                continue
            else:  # directories, devices, fifos: the header is all
                gz.write(_newc(rel, st, ino, 0))
            n += 1
        gz.write(_newc("TRAILER!!!", None, 0, 0))
    return n
