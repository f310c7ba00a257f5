#!/usr/bin/env python3
"""Assets of the boot tests, built from Debian packages, PyPI and rpmbuild, cached by content.

    .venv/bin/python scripts/e2e_assets.py     # prints KERNEL=, INITRD=, STAGE2=, TESTOS=

- KERNEL: Debian's kernel (`apt-get download`, unpacked with dpkg-deb, never installed).
- INITRD: stage 1 of the test installer (busybox, the NIC, disk and file system drivers, and
  scripts/e2e/stage1-init.sh), as the OS roll's images/pxeboot/initrd.img.
- STAGE2: the test installer itself as a squashfs image (the OS roll's images/install.img):
  Debian's python3, dnf, rpm, util-linux/sfdisk, e2fsprogs, xfsprogs, dosfstools, extlinux,
  GRUB's signed EFI image, bash and curl with the shared libraries they load, pykickstart (and
  requests, which it imports) from this interpreter's site-packages (PyPI), and rocks.installer.
- TESTOS: a directory of RPMs (rpmbuild) and a comps.xml that make a minimal bootable system
  under the package names the base roll's %packages ask for; see README.md "Proving a
  reinstall" for which are real (Debian binaries repackaged) and which are placeholders.

Every artifact lives in the cache under its name and a digest of its inputs (this script, the
files it reads, the Debian package versions, the kernel), so any change rebuilds exactly what
it affects. Cache: $ROCKS_E2E_CACHE, else /var/cache/rocks-e2e when writable, else
/tmp/rocks-e2e. A lock file serialises builders that share the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FILES = HERE / "e2e"
BUSYBOX = Path(os.environ.get("ROCKS_E2E_BUSYBOX", "/bin/busybox"))
HOST_PYTHON = "/usr/bin/python3.11"  # Debian's: the image runs Debian's python3.11

# -- kernel modules ------------------------------------------------------------------------------
NET_MODULES = ("virtio_pci", "virtio_net", "e1000", "e1000e")
DISK_MODULES = ("virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ahci")
FS_MODULES = ("ext4", "xfs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "crc32c_generic")
STAGE1_MODULES = (*NET_MODULES, *DISK_MODULES, *FS_MODULES, "squashfs", "loop", "overlay")
ALIASES = {"crypto-crc32c": "crc32c_generic", "crc32c": "crc32c_generic"}

# -- the installer image (stage 2) ---------------------------------------------------------------
STAGE2_DEBS = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "python3-minimal",
    "python3-distutils", "python3-dnf", "python3-libdnf", "python3-hawkey", "python3-rpm",
    "python3-libcomps", "python3-gpg", "dnf", "dnf-data", "rpm", "rpm-common", "util-linux",
    "mount", "fdisk", "e2fsprogs", "xfsprogs", "dosfstools", "extlinux", "bash", "curl",
)
STAGE2_FILES = (  # single files of packages that are otherwise too big to take whole
    "/usr/lib/syslinux/mbr/gptmbr.bin", "/usr/lib/syslinux/mbr/mbr.bin",
    "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
    "/usr/lib/locale/C.utf8",  # LC_ALL=C.UTF-8 for dnf
)
PYPI_MODULES = ("pykickstart", "requests", "urllib3", "idna", "charset_normalizer", "certifi")
SKIP_PREFIXES = (
    "/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale",
    "/usr/share/lintian", "/usr/share/bash-completion", "/usr/share/zsh", "/usr/share/fish",
    "/usr/share/menu", "/usr/share/bug", "/etc/cron", "/lib/systemd", "/usr/lib/systemd",
    "/lib/udev", "/usr/lib/udev", "/etc/init.d", "/usr/share/initramfs-tools",
    "/usr/lib/python3.11/test/", "/usr/lib/python3.11/idlelib", "/usr/lib/python3.11/tkinter",
    "/usr/lib/python3.11/turtledemo", "/usr/lib/python3.11/ensurepip",
    "/usr/lib/python3.11/lib2to3", "/usr/lib/python3.11/pydoc_data",
    "/usr/lib/python3.11/config-3.11", "/usr/lib/python3.11/venv",
    "/usr/lib/python3.11/unittest/test", "/usr/lib/python3.11/ctypes/test",
    "/usr/lib/python3.11/sqlite3/test", "/usr/lib/python3.11/distutils/tests",
)
SKIP_NAMES = re.compile(r"(__pycache__|_tkinter|_curses_panel|_dbm|_gdbm|readline)")

# -- the test OS -----------------------------------------------------------------------------
TESTOS_VERSION = "9.4"
# Package names the base roll asks for that the test OS does not really carry: each is a
# placeholder with a note (and the commands that %post scripts call, recording their use).
PLACEHOLDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (commands it provides, service units it provides); configuration files that %post
    # scripts edit are in PLACEHOLDER_FILES
    "autofs": ((), ("autofs.service",)),
    "bash-completion": ((), ()),
    "bind-utils": ((), ()),
    "chrony": ((), ("chronyd.service",)),
    "environment-modules": ((), ()),
    "hwloc": ((), ()),
    "lsof": ((), ()),
    "nfs-utils": ((), ()),
    "numactl": ((), ()),
    "pciutils": ((), ()),
    "rsync": ((), ()),
    "sysstat": ((), ()),
    "tcsh": ((), ()),
    "tuned": ((), ("tuned.service",)),
    "vim-enhanced": ((), ()),
    "firewalld": (("/usr/bin/firewall-offline-cmd", "/usr/bin/firewall-cmd"), ()),
    "policycoreutils": (("/usr/sbin/restorecon", "/usr/sbin/setenforce"), ()),
    "authselect": (("/usr/bin/authselect",), ()),
}
PLACEHOLDER_FILES = {
    "nfs-utils": {"/etc/idmapd.conf": "[General]\n#Domain = local.domain.edu\n"},
    "chrony": {"/etc/chrony.conf": "pool 2.rocky.pool.ntp.org iburst\n"},
}
# What busybox really implements among EL package names (the busybox package provides them).
BUSYBOX_PROVIDES = ("coreutils", "tar", "bc", "grep", "sed", "gawk", "findutils", "gzip",
                    "which", "hostname", "iproute", "procps-ng", "kmod", "cpio", "diffutils",
                    "util-linux-core", "less", "xz")
CORE_GROUP = ("filesystem", "setup", "rocks-test-os-release", "glibc", "bash", "busybox",
              "systemd", "pam", "openssh", "openssh-server", "openssh-clients", "firewalld",
              "policycoreutils", "authselect", "curl", "python3")


def run(argv: list[str], **kw: object) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise SystemExit(f"e2e-assets: {' '.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stdout}{proc.stderr}")
    return str(proc.stdout)


# -- cache ---------------------------------------------------------------------------------------

def cache_dir() -> Path:
    explicit = os.environ.get("ROCKS_E2E_CACHE")
    if explicit:
        path = Path(explicit)
    else:
        path = Path("/var/cache/rocks-e2e")
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not os.access(path, os.W_OK):
                raise PermissionError
        except OSError:
            path = Path("/tmp/rocks-e2e")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    with (cache / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes() if part.is_file() else str(part).encode())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def artifact(cache: Path, name: str, key: str, build: Callable[[Path], None]) -> Path:
    """cache/<name>-<key>, built by `build(tmpdir)` unless present; older builds are pruned
    (the newest few are kept: other checkouts sharing the cache may still use them)."""
    final = cache / f"{name}-{key}"
    if final.is_dir():
        os.utime(final)
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
    try:
        t0 = time.monotonic()
        build(tmp)
        os.rename(tmp, final)
        print(f"e2e-assets: built {final.name} in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    old = sorted((p for p in cache.glob(f"{name}-*") if p.is_dir() and p != final),
                 key=lambda p: p.stat().st_mtime, reverse=True)
    for path in old[3:]:
        if time.time() - path.stat().st_mtime > 3600:
            shutil.rmtree(path, ignore_errors=True)
    return final


# -- Debian packages -----------------------------------------------------------------------------

def dpkg_files(pkg: str) -> list[str]:
    return [ln for ln in run(["dpkg-query", "-L", pkg]).splitlines() if ln and ln != "/."]


def dpkg_version(pkg: str) -> str:
    return run(["dpkg-query", "-W", "-f", "${Version}", pkg]).strip()


def dpkg_owner(path: str) -> str:
    """The Debian package that installed `path` (tried with and without /usr: usrmerge)."""
    variants = [path]
    if path.startswith("/usr/"):
        variants.append(path[4:])
    else:
        variants.append("/usr" + path)
    real = os.path.realpath(path)
    variants += [real, real[4:] if real.startswith("/usr/") else "/usr" + real]
    for v in variants:
        proc = subprocess.run(["dpkg-query", "-S", v], capture_output=True, text=True)
        if proc.returncode == 0:
            for line in proc.stdout.splitlines():
                pkgs, _, owned = line.partition(": ")
                if owned == v and "diversion" not in pkgs:
                    return pkgs.split(",")[0].split(":")[0].strip()
    raise SystemExit(f"e2e-assets: no Debian package owns {path}")


def skipped(path: str) -> bool:
    return path.startswith(SKIP_PREFIXES) or bool(SKIP_NAMES.search(path))


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def ldd(path: Path) -> list[str]:
    """Host paths of the shared libraries `path` loads (with the program interpreter)."""
    proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        return []  # static, or not an executable object
    out = []
    for line in proc.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            out.append(m.group(1))
    return out


class Tree:
    """A root file system being assembled from host files, usr-merged like the host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: list[Path] = []  # every path made, in order (for package ownership)
        for d in ("bin", "sbin", "lib", "lib64"):
            (root / "usr" / d).mkdir(parents=True, exist_ok=True)
            if not (root / d).is_symlink():
                os.symlink(f"usr/{d}", root / d)

    def dest(self, path: str) -> Path:
        parent = os.path.realpath(os.path.dirname(path))
        return self.root / parent.lstrip("/") / os.path.basename(path)

    def add_tree(self, path: str) -> Path | None:
        """A host directory with everything under it (else as `add`)."""
        dest = self.add(path)
        if dest is not None and os.path.isdir(path) and not os.path.islink(path):
            for dirpath, dirs, names in os.walk(path):
                for n in sorted(dirs + names):
                    self.add(os.path.join(dirpath, n))
        return dest

    def add(self, path: str) -> Path | None:
        """Copy a host file, directory or symlink (and what the link points at)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        dest = self.dest(path)
        if stat.S_ISDIR(st.st_mode):
            dest.mkdir(parents=True, exist_ok=True)
            return dest
        if os.path.lexists(dest):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            os.symlink(target, dest)
            self.created.append(dest)
            self.add(os.path.normpath(os.path.join(os.path.dirname(path), target)))
        elif stat.S_ISREG(st.st_mode):
            shutil.copy2(path, dest)
            self.created.append(dest)
        return dest

    def write(self, rel: str, data: str | bytes, mode: int = 0o644) -> Path:
        path = self.root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        path.chmod(mode)
        self.created.append(path)
        return path

    def link(self, rel: str, target: str) -> None:
        path = self.root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(path):
            os.symlink(target, path)
            self.created.append(path)

    def files(self) -> Iterator[Path]:
        for dirpath, _dirs, names in os.walk(self.root):
            for n in names:
                p = Path(dirpath) / n
                if p.is_file() and not p.is_symlink():
                    yield p

    def add_libraries(self) -> None:
        """The shared-library closure of every ELF file in the tree."""
        seen: set[str] = set()
        todo = [p for p in self.files() if is_elf(p)]
        while todo:
            for lib in ldd(todo.pop()):
                if lib in seen:
                    continue
                seen.add(lib)
                dest = self.add(lib)
                if dest is not None:
                    real = Path(os.path.realpath(dest))
                    if real.is_file():
                        todo.append(real)

    def busybox_applets(self, busybox: Path, skip: Iterable[str] = ()) -> None:
        """busybox at /usr/bin/busybox and a link for each applet no real tool provides."""
        if not (self.root / "usr/bin/busybox").exists():
            self.write("/usr/bin/busybox", busybox.read_bytes(), 0o755)
        skip = set(skip) | {"busybox"}
        sbin = {"init", "modprobe", "insmod", "rmmod", "lsmod", "depmod", "switch_root",
                "poweroff", "reboot", "halt", "mdev", "getty", "ifconfig", "route", "syslogd",
                "klogd", "losetup", "mkswap", "swapon", "swapoff", "blkid", "findfs", "fdisk",
                "chroot", "pivot_root", "run-init", "sulogin", "udhcpc", "ip"}
        for applet in run([str(busybox), "--list"]).split():
            if applet in skip:
                continue
            rel = f"usr/{'sbin' if applet in sbin else 'bin'}/{applet}"
            other = f"usr/{'bin' if applet in sbin else 'sbin'}/{applet}"
            if not os.path.lexists(self.root / rel) and not os.path.lexists(self.root / other):
                os.symlink("/usr/bin/busybox", self.root / rel)
                self.created.append(self.root / rel)


def cpio_gz(tree: Path, out: Path) -> None:
    """A newc archive of `tree`, owned by root, gzip'd (what the kernel unpacks)."""
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    listing = "\n".join([".", *names]) + "\n"
    cpio = subprocess.run([str(BUSYBOX), "cpio", "-o", "-H", "newc", "-R", "0:0"], cwd=tree,
                          input=listing.encode(), capture_output=True, check=True)
    out.write_bytes(subprocess.run(["gzip", "-n", "-6"], input=cpio.stdout, capture_output=True,
                                   check=True).stdout)


# -- kernel --------------------------------------------------------------------------------------

def fetch_kernel(cache: Path) -> Path:
    kroot = cache / "kernel"
    if list(kroot.glob("boot/vmlinuz-*")):
        return kroot
    pkg = ""
    for attempt in range(2):
        out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                             text=True).stdout
        m = re.search(r"Depends: (linux-image-[0-9]\S*)", out)
        if m:
            pkg = m.group(1)
            break
        if attempt == 0:
            run(["apt-get", "update", "-qq"])
    if not pkg:
        raise SystemExit("e2e-assets: no linux-image package known to apt")
    dl = Path(tempfile.mkdtemp(dir=cache, prefix="dl."))
    dl.chmod(0o777)  # apt's download sandbox user (_apt) must be able to write here
    try:
        run(["apt-get", "download", "-q", pkg], cwd=dl)
        tmp = cache / "kernel.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run(["dpkg-deb", "-x", str(next(dl.glob("*.deb"))), str(tmp)])
        shutil.rmtree(kroot, ignore_errors=True)
        os.rename(tmp, kroot)
    finally:
        shutil.rmtree(dl, ignore_errors=True)
    return kroot


def kernel_version(kroot: Path) -> str:
    return sorted(p.name for p in (kroot / "lib" / "modules").iterdir())[0]


class Modules:
    """The kernel's modules by name, with their dependencies (the .deb has no modules.dep)."""

    def __init__(self, kroot: Path, kver: str) -> None:
        self.base = kroot / "lib" / "modules" / kver
        self.path: dict[str, Path] = {}
        for p in (self.base / "kernel").rglob("*.ko"):
            self.path[p.stem.replace("-", "_")] = p

    def deps(self, name: str) -> list[str]:
        data = self.path[name].read_bytes()
        out: list[str] = []
        m = re.search(rb"depends=([A-Za-z0-9_,-]*)\0", data)
        if m and m.group(1):
            out += [d.decode().replace("-", "_") for d in m.group(1).split(b",")]
        for soft in re.findall(rb"softdep=pre: ([^\0]*)\0", data):
            out += [ALIASES.get(d.decode(), d.decode()) for d in soft.split()]
        return [d for d in out if d in self.path]

    def closure(self, names: Iterable[str]) -> list[str]:
        """`names` and their dependencies, each after what it depends on."""
        order: list[str] = []

        def visit(n: str, stack: tuple[str, ...]) -> None:
            if n in order or n in stack:
                return
            for d in self.deps(n):
                visit(d, (*stack, n))
            order.append(n)

        for n in names:
            if n not in self.path:
                raise SystemExit(f"e2e-assets: the kernel has no module {n}")
            visit(n, ())
        return order

    def install_flat(self, tree: Path, names: Iterable[str]) -> None:
        """lib/modules/*.ko plus load-order (for insmod in an initramfs)."""
        mods = tree / "lib" / "modules"
        mods.mkdir(parents=True, exist_ok=True)
        order = self.closure(names)
        for n in order:
            shutil.copyfile(self.path[n], mods / self.path[n].name)
        (mods / "load-order").write_text("".join(self.path[n].name + "\n" for n in order))


# -- stage 1 ----------------------------------------------------------------------------------

def build_stage1(out: Path, kroot: Path, kver: str) -> None:
    root = out / "root"
    tree = Tree(root)
    tree.busybox_applets(BUSYBOX)
    for d in ("proc", "sys", "dev", "run", "tmp", "etc"):
        (root / d).mkdir(exist_ok=True)
    tree.write("/init", (FILES / "stage1-init.sh").read_text(), 0o755)
    tree.write("/etc/udhcpc.script", (FILES / "udhcpc.script").read_text(), 0o755)
    Modules(kroot, kver).install_flat(root, STAGE1_MODULES)
    cpio_gz(root, out / "initrd.img")
    shutil.rmtree(root)


# -- stage 2 ----------------------------------------------------------------------------------

def installer_sources() -> list[Path]:
    return [REPO / "rocks" / "__init__.py",
            *sorted((REPO / "rocks" / "installer").glob("*.py"))]


def pypi_dirs() -> list[Path]:
    out = []
    for name in PYPI_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"e2e-assets: Python package {name} is not installed here "
                             "(make setup installs pykickstart and its dependencies)")
        out.append(Path(spec.origin).parent)
    return out


def build_stage2(out: Path) -> None:
    root = out / "root"
    tree = Tree(root)
    for pkg in STAGE2_DEBS:
        for path in dpkg_files(pkg):
            if not skipped(path):
                tree.add(path)
    for path in STAGE2_FILES:
        if tree.add_tree(path) is None:
            raise SystemExit(f"e2e-assets: {path} is missing (scripts/apt-packages.txt)")
    tree.add_libraries()
    tree.busybox_applets(BUSYBOX, skip=("sh",))
    tree.link("/usr/bin/sh", "bash")
    site = root / "usr" / "lib" / "rocks-installer"
    for src in pypi_dirs():
        shutil.copytree(src, site / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    for src in installer_sources():
        dest = site / src.relative_to(REPO)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    tree.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    tree.write("/etc/group", "root:x:0:\n")
    tree.write("/etc/hosts", "127.0.0.1 localhost\n")
    tree.write("/etc/os-release", 'NAME="rocks test installer"\nID=rocks-installer\n')
    for d in ("proc", "sys", "dev", "run", "tmp", "root", "mnt/sysimage", "var/tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    # byte-compiled once here: importing dnf from source under TCG would take seconds
    run([HOST_PYTHON, "-m", "compileall", "-q", "-j", "2", "-s", str(root), "-p", "/",
         "--invalidation-mode", "unchecked-hash", str(root / "usr/lib/python3.11"),
         str(root / "usr/lib/python3/dist-packages"), str(site)])
    run(["mksquashfs", str(root), str(out / "install.img"), "-comp", "zstd", "-noappend",
         "-no-xattrs", "-all-root", "-quiet", "-no-progress", "-mkfs-time", "0",
         "-all-time", "0"])
    shutil.rmtree(root)


# -- the test OS --------------------------------------------------------------------------------

class OsPackages:
    """Files staged for each test-OS RPM; every path belongs to one package."""

    def __init__(self, stage: Path) -> None:
        self.stage = stage
        self.tree = Tree(stage)
        self.owner: dict[str, str] = {}  # path relative to stage -> package
        self.meta: dict[str, dict[str, list[str] | str]] = {}

    def package(self, name: str, summary: str, *, provides: Iterable[str] = (),
                requires: Iterable[str] = (), description: str = "") -> None:
        self.meta.setdefault(name, {"summary": summary, "provides": list(provides),
                                    "requires": list(requires),
                                    "description": description or summary})

    def claim(self, pkg: str, dest: Path) -> None:
        rel = "/" + str(dest.relative_to(self.stage))
        self.owner.setdefault(rel, pkg)

    def host(self, pkg: str, path: str) -> None:
        """A host file (and the link chain to it), in `pkg`."""
        mark = len(self.tree.created)
        if self.tree.add(path) is None:
            raise SystemExit(f"e2e-assets: {path} is missing")
        for p in self.tree.created[mark:]:
            self.claim(pkg, p)

    def write(self, pkg: str, rel: str, data: str | bytes, mode: int = 0o644) -> None:
        self.claim(pkg, self.tree.write(rel, data, mode))

    def link(self, pkg: str, rel: str, target: str) -> None:
        self.tree.link(rel, target)
        self.claim(pkg, self.stage / rel.lstrip("/"))

    def busybox_links(self) -> None:
        """busybox's applet links, where no other package has that command."""
        mark = len(self.tree.created)
        self.tree.busybox_applets(BUSYBOX, skip=("sh", "bash"))
        for p in self.tree.created[mark:]:
            self.claim("busybox", p)

    def libraries(self) -> None:
        """Shared libraries of every ELF file: each in an RPM named after its Debian package
        (libc6's in glibc); rpm's own dependency generator then links the packages."""
        for lib in sorted({lib for p in self.tree.files() if is_elf(p) for lib in ldd(p)}):
            self._library(lib)
        # the closure of the libraries themselves
        changed = True
        while changed:
            changed = False
            for p in list(self.tree.files()):
                if not is_elf(p):
                    continue
                for lib in ldd(p):
                    if not os.path.lexists(self.tree.dest(lib)):
                        self._library(lib)
                        changed = True

    def _library(self, lib: str) -> None:
        if os.path.lexists(self.tree.dest(lib)):
            return
        deb = dpkg_owner(lib)
        pkg = "glibc" if deb == "libc6" else deb
        self.package(pkg, f"shared libraries of Debian's {deb}")
        self.host(pkg, lib)


def build_testos(out: Path, kroot: Path, kver: str) -> None:
    work = out / "work"
    stage = work / "stage"
    os_ = OsPackages(stage)
    _base_packages(os_)
    _kernel_package(os_, kroot, kver, work)
    _tool_packages(os_)
    for name, (commands, units) in PLACEHOLDERS.items():
        _placeholder(os_, name, commands, units)
    os_.busybox_links()
    os_.libraries()
    os_.meta["glibc"]["provides"] = ["rtld(GNU_HASH)"]  # type: ignore[index]
    rpms = out / "RPMS"
    _rpmbuild(os_, work, rpms, kver)
    groups = "".join(f'      <packagereq type="mandatory">{n}</packagereq>\n'
                     for n in CORE_GROUP)
    (out / "comps.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<comps>\n  <group>\n    <id>core</id>\n'
        "    <name>Core</name>\n    <description>the rocks test OS</description>\n"
        "    <default>true</default>\n    <uservisible>false</uservisible>\n"
        f"    <packagelist>\n{groups}    </packagelist>\n  </group>\n</comps>\n")
    shutil.rmtree(work)


def _base_packages(os_: OsPackages) -> None:
    os_.package("filesystem", "the directory tree of the rocks test OS (usr-merged like EL9)")
    for d in ("boot", "dev", "etc", "home", "media", "mnt", "opt", "proc", "root", "run", "srv",
              "sys", "tmp", "usr/libexec", "usr/share", "usr/local/bin", "var/log", "var/lib",
              "var/tmp", "var/cache", "var/spool", "etc/systemd/system", "usr/lib/systemd/system",
              "etc/NetworkManager/system-connections"):
        (os_.stage / d).mkdir(parents=True, exist_ok=True)
        os_.claim("filesystem", os_.stage / d)
    for d in ("bin", "sbin", "lib", "lib64"):
        os_.claim("filesystem", os_.stage / d)
        os_.claim("filesystem", os_.stage / "usr" / d)
    os_.package("setup", "system accounts of the rocks test OS")
    os_.write("setup", "/etc/passwd",
              "root:x:0:0:root:/root:/bin/bash\nsshd:x:74:74:sshd privsep:/run/sshd:/sbin/nologin\n"
              "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n")
    os_.write("setup", "/etc/group", "root:x:0:\nsshd:x:74:\nnobody:x:65534:\n")
    os_.write("setup", "/etc/shadow", "root:!::0:99999:7:::\nsshd:!!:::::::\nnobody:!!:::::::\n",
              0o600)
    os_.write("setup", "/etc/shells", "/bin/sh\n/bin/bash\n/usr/bin/sh\n/usr/bin/bash\n")
    os_.write("setup", "/etc/hosts", "127.0.0.1   localhost localhost.localdomain\n")
    os_.package("rocks-test-os-release", "release files of the rocks test OS",
                provides=["system-release", f"system-release({TESTOS_VERSION})"])
    os_.write("rocks-test-os-release", "/etc/os-release",
              f'NAME="Rocks test OS"\nVERSION="{TESTOS_VERSION}"\nID=rocks-test-os\n'
              'ID_LIKE="rhel"\nPRETTY_NAME="Rocks test OS (Debian binaries, for the boot tests)"\n')


def _tool_packages(os_: OsPackages) -> None:
    os_.package("bash", "GNU bash (Debian's binary)", provides=["/bin/sh", "/bin/bash"])
    os_.host("bash", "/usr/bin/bash")
    os_.link("bash", "/usr/bin/sh", "bash")
    os_.package("busybox", "busybox: coreutils, tar, sed, awk, grep, ip, mount and more, as the "
                "userland of the rocks test OS (Debian's busybox-static)",
                provides=list(BUSYBOX_PROVIDES))
    os_.write("busybox", "/usr/bin/busybox", BUSYBOX.read_bytes(), 0o755)
    os_.package("systemd", "stand-in for systemd: busybox init, a boot script that mounts, sets "
                "up the network from the NetworkManager keyfiles and starts enabled units, and "
                "an offline systemctl", requires=["busybox", "bash"])
    os_.link("systemd", "/usr/sbin/init", "/usr/bin/busybox")
    os_.write("systemd", "/etc/inittab", (FILES / "inittab").read_text())
    os_.write("systemd", "/usr/lib/rocks-test-os/boot", (FILES / "testos-boot.sh").read_text(),
              0o755)
    os_.write("systemd", "/usr/lib/rocks-test-os/shutdown",
              (FILES / "testos-shutdown.sh").read_text(), 0o755)
    os_.write("systemd", "/usr/lib/rocks-test-os/udhcpc.script",
              (FILES / "udhcpc.script").read_text().replace("/run/lease", "/run/dhcp-lease"),
              0o755)
    os_.write("systemd", "/usr/bin/systemctl", (FILES / "systemctl.sh").read_text(), 0o755)
    os_.write("systemd", "/usr/lib/systemd/system/multi-user.target", "[Unit]\n")
    os_.write("systemd", "/usr/lib/systemd/system/graphical.target", "[Unit]\n")
    os_.write("systemd", "/etc/rocks-test-os/modules",
              "\n".join((*NET_MODULES, *DISK_MODULES, *FS_MODULES)) + "\n")
    os_.package("pam", "PAM (Debian's libpam and pam_unix, pam_deny, pam_permit, pam_access)")
    for mod in ("pam_unix", "pam_deny", "pam_permit", "pam_access", "pam_env"):
        os_.host("pam", f"/usr/lib/x86_64-linux-gnu/security/{mod}.so")
    os_.write("pam", "/etc/pam.d/other", (FILES / "pam-other").read_text())
    os_.write("pam", "/etc/security/access.conf", "# pam_access rules (none)\n")
    os_.package("openssh", "ssh-keygen (Debian's OpenSSH)")
    os_.host("openssh", "/usr/bin/ssh-keygen")
    os_.package("openssh-clients", "ssh and scp (Debian's OpenSSH)", requires=["openssh"])
    os_.host("openssh-clients", "/usr/bin/ssh")
    os_.host("openssh-clients", "/usr/bin/scp")
    os_.package("openssh-server", "sshd (Debian's OpenSSH) with its unit and PAM file",
                requires=["openssh", "pam"])
    os_.host("openssh-server", "/usr/sbin/sshd")
    os_.write("openssh-server", "/etc/ssh/sshd_config", (FILES / "sshd_config").read_text(),
              0o600)
    os_.write("openssh-server", "/etc/ssh/sshd_config.d/.keep", "")
    os_.write("openssh-server", "/usr/lib/systemd/system/sshd.service",
              (FILES / "sshd.service").read_text())
    os_.write("openssh-server", "/etc/pam.d/sshd", (FILES / "pam-sshd").read_text())
    os_.package("curl", "curl (Debian's)")
    os_.host("curl", "/usr/bin/curl")
    os_.package("python3", "Python 3.11 with its core library (Debian's python3.11-minimal)")
    for path in dpkg_files("python3.11-minimal") + dpkg_files("libpython3.11-minimal"):
        if (path.startswith(("/usr/bin/", "/usr/lib/python3.11/")) and not skipped(path)
                and not os.path.isdir(path)):
            os_.host("python3", path)
    for path in dpkg_files("libpython3.11-stdlib"):
        if path.startswith("/usr/lib/python3.11/json/") and path.endswith(".py"):
            os_.host("python3", path)
    os_.link("python3", "/usr/bin/python3", "python3.11")


def _placeholder(os_: OsPackages, name: str, commands: Iterable[str], units: Iterable[str]
                 ) -> None:
    os_.package(name, f"placeholder for {name}: the rocks test OS does not carry it",
                description=f"A placeholder so that kickstarts asking for {name} resolve. "
                            "Its commands record their arguments in "
                            "/var/log/rocks-test-os-placeholders.log and succeed; its units "
                            "start the same recorder.")
    os_.write(name, f"/usr/share/rocks-test-os/placeholders/{name}",
              f"{name} is a placeholder in the rocks test OS\n")
    for cmd in commands:
        os_.write(name, cmd, (FILES / "placeholder.sh").read_text(), 0o755)
    for path, text in PLACEHOLDER_FILES.get(name, {}).items():
        os_.write(name, path, text)
    for unit in units:
        exe = f"/usr/libexec/rocks-test-os/{unit.removesuffix('.service')}"
        os_.write(name, exe, (FILES / "placeholder.sh").read_text(), 0o755)
        os_.write(name, f"/usr/lib/systemd/system/{unit}",
                  f"[Unit]\nDescription={name} (placeholder)\n\n[Service]\nType=simple\n"
                  f"ExecStart={exe} started\n\n[Install]\nWantedBy=multi-user.target\n")


def _kernel_package(os_: OsPackages, kroot: Path, kver: str, work: Path) -> None:
    mods = Modules(kroot, kver)
    os_.package("kernel", f"Debian's kernel {kver}, a module subset and an initramfs that "
                "mounts root=")
    os_.write("kernel", f"/boot/vmlinuz-{kver}", (kroot / "boot" / f"vmlinuz-{kver}").read_bytes(),
              0o755)
    os_.write("kernel", f"/boot/config-{kver}", (kroot / "boot" / f"config-{kver}").read_bytes())
    names = mods.closure((*NET_MODULES, *DISK_MODULES, *FS_MODULES))
    dep = []
    for n in names:
        rel = mods.path[n].relative_to(mods.base)
        os_.write("kernel", f"/usr/lib/modules/{kver}/{rel}", mods.path[n].read_bytes())
        deps = " ".join(f"{mods.path[d].relative_to(mods.base)}"
                        for d in reversed(mods.closure([n])[:-1]))
        dep.append(f"{rel}: {deps}".rstrip())
    os_.write("kernel", f"/usr/lib/modules/{kver}/modules.dep", "\n".join(dep) + "\n")
    # the initramfs: busybox, the disk and file system drivers, an /init that mounts root=
    ird = work / "initramfs"
    tree = Tree(ird)
    tree.busybox_applets(BUSYBOX)
    for d in ("proc", "sys", "dev", "run", "sysroot"):
        (ird / d).mkdir(exist_ok=True)
    tree.write("/init", (FILES / "testos-initramfs-init.sh").read_text(), 0o755)
    mods.install_flat(ird, (*DISK_MODULES, *FS_MODULES))
    img = work / "initramfs.img"
    cpio_gz(ird, img)
    os_.write("kernel", f"/boot/initramfs-{kver}.img", img.read_bytes(), 0o600)


def _rpmbuild(os_: OsPackages, work: Path, rpms: Path, kver: str) -> None:
    """One spec, one subpackage per test-OS package (the kernel's version is its own)."""
    lists = work / "lists"
    lists.mkdir()
    by_pkg: dict[str, list[str]] = {}
    for path, pkg in sorted(os_.owner.items()):
        by_pkg.setdefault(pkg, []).append(path)
    kernel_ver, _, kernel_rel = kver.partition("-")
    lines = [
        "Name: rocks-test-os", f"Version: {TESTOS_VERSION}", "Release: 1",
        "Summary: the rocks test OS", "License: various (Debian packages)",
        "%global __os_install_post %{nil}", "%global debug_package %{nil}",
        "%global _build_id_links none", "%define _binary_payload w3.zstdio",
        "", "%description", "The rocks test OS.", "", "%install",
        f"cp -a {os_.stage}/. %{{buildroot}}/", "",
    ]
    for pkg in sorted(by_pkg):
        meta = os_.meta[pkg]
        (lists / pkg).write_text("".join(
            f'%dir "{p}"\n' if (os_.stage / p.lstrip("/")).is_dir()
            and not (os_.stage / p.lstrip("/")).is_symlink() else f'"{p}"\n'
            for p in by_pkg[pkg]))
        lines += [f"%package -n {pkg}", f"Summary: {meta['summary']}"]
        if pkg == "kernel":
            lines += [f"Version: {kernel_ver}", f"Release: {kernel_rel.replace('-', '_')}"]
        lines += [f"Provides: {p}" for p in meta["provides"]]
        lines += [f"Requires: {r}" for r in meta["requires"]]
        lines += [f"%description -n {pkg}", str(meta["description"]),
                  f"%files -n {pkg} -f {lists / pkg}", ""]
    spec = work / "rocks-test-os.spec"
    spec.write_text("\n".join(lines) + "\n")
    home = work / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    run(["rpmbuild", "--quiet", "-bb", f"--define=_topdir {work / 'rpmbuild'}",
         f"--define=_rpmdir {rpms}", "--define=_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}"
         ".%%{ARCH}.rpm", str(spec)], env=env)


# -- main ----------------------------------------------------------------------------------------

def main() -> int:
    if not BUSYBOX.is_file():
        raise SystemExit(f"e2e-assets: {BUSYBOX} is missing (apt-get install busybox-static)")
    cache = cache_dir()
    with locked(cache):
        kroot = fetch_kernel(cache)
        kver = kernel_version(kroot)
        me = Path(__file__)
        files = sorted(FILES.iterdir())
        stage1 = artifact(cache, "stage1", digest(me, BUSYBOX, kver, *files),
                          lambda out: build_stage1(out, kroot, kver))
        debs = [(p, dpkg_version(p)) for p in (*STAGE2_DEBS, "syslinux-common",
                                                 "grub-efi-amd64-signed")]
        pypi = [(p.name, sorted(f.name for f in p.parent.glob(f"{p.name}-*.dist-info")))
                for p in pypi_dirs()]
        stage2 = artifact(cache, "stage2", digest(me, BUSYBOX, debs, pypi, *installer_sources()),
                          build_stage2)
        os_debs = [(p, dpkg_version(p)) for p in ("libc6", "bash", "openssh-server",
                                                   "openssh-client", "curl", "libpam-modules",
                                                   "python3.11-minimal")]
        testos = artifact(cache, "testos", digest(me, BUSYBOX, kver, os_debs, *files),
                          lambda out: build_testos(out, kroot, kver))
    print(f"KERNEL={kroot / 'boot' / f'vmlinuz-{kver}'}")
    print(f"INITRD={stage1 / 'initrd.img'}")
    print(f"STAGE2={stage2 / 'install.img'}")
    print(f"TESTOS={testos}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
