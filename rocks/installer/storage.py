"""Disks as the kickstart describes them: zerombr, clearpart, ignoredisk, reqpart and part
(--size --grow --maxsize --ondisk --onpart --noformat --fstype --label --fsoptions
--mkfsoptions), done with sfdisk (GPT, as Anaconda labels disks on EL9 for BIOS and UEFI alike),
mkfs.xfs / mkfs.ext* / mkfs.vfat / mkswap, blkid and mount.

`--onpart` accepts what Anaconda accepts: a partition name (vda3, /dev/vda3, /dev/disk/…) or
LABEL=, UUID=, PARTLABEL=, PARTUUID=. Partitions without --onpart are made on a cleared disk
(or one that had no partition table), else in the largest free area of their disk. LVM, RAID,
btrfs and encryption are not done (the kickstart check refuses them first).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rocks.installer.kickstart import InstallError

MIB = 1024 * 1024
TARGET = Path("/mnt/sysimage")
DEFAULT_FSTYPE = "xfs"  # EL9's
GPT_TYPE = {
    "biosboot": "21686148-6449-6E6F-744E-656564454649",
    "efi": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    "swap": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
    "linux": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
}
REQPART = {"efi": ("/boot/efi", "efi", 600), "biosboot": ("biosboot", "biosboot", 1),
           "boot": ("/boot", DEFAULT_FSTYPE, 1024)}
FS_MOUNT_TYPE = {"efi": "vfat"}
SKIP_DISKS = ("loop", "ram", "zram", "sr", "fd", "dm-", "md", "nbd")

Runner = Callable[..., str]


def run(argv: Sequence[str], *, input: str | None = None, timeout: float = 600) -> str:
    """Run a tool; its failure stops the install with the tool's own words."""
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise InstallError(f"{argv[0]} is not in the installer image") from None
    except subprocess.TimeoutExpired:
        raise InstallError(f"{' '.join(argv)} did not finish in {timeout:.0f} s") from None
    if proc.returncode != 0:
        out = " ".join((proc.stderr or proc.stdout).split())[:400]
        raise InstallError(f"{' '.join(argv)} failed ({proc.returncode}): {out}")
    return proc.stdout


@dataclass(frozen=True, slots=True)
class Disk:
    name: str
    size: int  # bytes
    sector: int = 512

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    def part(self, number: int) -> str:
        sep = "p" if self.name[-1].isdigit() else ""
        return f"/dev/{self.name}{sep}{number}"


def list_disks(sys_block: Path = Path("/sys/block"), skip: tuple[str, ...] = SKIP_DISKS
               ) -> list[Disk]:
    """The machine's disks: block devices with a device (loop, RAM and optical drives, device
    mapper and md devices are not disks to install on)."""
    out = []
    for d in sorted(sys_block.iterdir()) if sys_block.is_dir() else []:
        if d.name.startswith(skip) or not (d / "device").exists():
            continue
        size = int((d / "size").read_text()) * 512
        if size <= 0:
            continue
        try:
            sector = int((d / "queue" / "logical_block_size").read_text())
        except (OSError, ValueError):
            sector = 512
        out.append(Disk(d.name, size, sector))
    return out


def disk_name(spec: str) -> str:
    """vda, /dev/vda or /dev/disk/by-…/x as a kernel disk name."""
    spec = spec.strip()
    if spec.startswith("/dev/") or spec.startswith("disk/"):
        path = spec if spec.startswith("/dev/") else "/dev/" + spec
        return os.path.basename(os.path.realpath(path))
    return spec


@dataclass
class Request:
    mount: str  # mount point, "swap" or "biosboot"
    fstype: str
    size: int = 0  # MiB
    grow: bool = False
    maxsize: int = 0  # MiB, 0: none
    disk: str = ""  # --ondisk
    onpart: str = ""
    format: bool = True
    label: str = ""
    fsoptions: str = ""
    mkfsoptions: str = ""
    line: int = 0
    # decided while laying out
    device: str = ""
    uuid: str = ""
    sectors: int = 0

    @property
    def where(self) -> str:
        return f"kickstart line {self.line}: " if self.line else ""

    @property
    def mounted(self) -> bool:
        return self.mount.startswith("/")

    @property
    def gpt_type(self) -> str:
        return GPT_TYPE.get(self.fstype, GPT_TYPE["linux"])


def requests(handler: Any, firmware: str) -> list[Request]:
    """The partitions the kickstart asks for: reqpart's, then each part line."""
    out: list[Request] = []
    rq = handler.reqpart
    if rq.reqpart:
        kind = "efi" if firmware == "uefi" else "biosboot"
        mount, fstype, size = REQPART[kind]
        out.append(Request(mount, fstype, size, line=rq.lineno))
        if rq.addBoot:
            mount, fstype, size = REQPART["boot"]
            out.append(Request(mount, fstype, size, line=rq.lineno))
    for p in handler.partition.partitions:
        mount = p.mountpoint
        fstype = (p.fstype or "").lower()
        if mount == "swap" or fstype == "swap":
            mount, fstype = "swap", "swap"
        elif mount == "biosboot" or fstype == "biosboot":
            mount, fstype = "biosboot", "biosboot"
        elif mount == "/boot/efi" and fstype in ("", "vfat"):
            fstype = "efi"
        if not p.format and p.onPart and not p.fstype:
            fstype = ""  # --noformat: whatever is there
        elif not fstype:
            fstype = DEFAULT_FSTYPE
        if p.recommended or p.hibernation or p.encrypted or p.resize:
            raise InstallError(f"kickstart line {p.lineno}: part {mount}: --recommended, "
                               "--hibernation, --encrypted and --resize are not supported")
        if not (mount.startswith("/") or mount in ("swap", "biosboot")):
            raise InstallError(f"kickstart line {p.lineno}: part {mount}: LVM, RAID and btrfs "
                               "members are not supported by the rocks test installer")
        size = int(p.size) if p.size else (1 if mount == "biosboot" else 0)
        if not p.onPart and size <= 0:
            raise InstallError(f"kickstart line {p.lineno}: part {mount} needs --size")
        out.append(Request(mount, fstype, size, bool(p.grow), int(p.maxSizeMB or 0),
                           disk_name(p.disk) if p.disk else "", p.onPart or "",
                           bool(p.format), p.label or "", p.fsopts or "", p.mkfsopts or "",
                           int(p.lineno or 0)))
    seen: dict[str, Request] = {}
    for r in out:
        if r.mounted and r.mount in seen:
            raise InstallError(f"{r.where}{r.mount} is asked for twice")
        seen[r.mount] = r
    return out


def grow_sizes(base: Sequence[int], grow: Sequence[bool], maxsize: Sequence[int], free: int
               ) -> list[int]:
    """Sizes (any unit) after sharing `free` among the growing requests in proportion to their
    base sizes, as Anaconda does, each capped at its maxsize (0: none)."""
    sizes = list(base)
    free -= sum(sizes)
    if free < 0:
        raise ValueError(f"{-free} short")
    active = [i for i, g in enumerate(grow) if g]
    while free > 0 and active:
        weight = sum(max(base[i], 1) for i in active)
        given = 0
        capped = []
        for i in active:
            share = free * max(base[i], 1) // weight
            if maxsize[i] and sizes[i] + share >= maxsize[i]:
                share = max(0, maxsize[i] - sizes[i])
                capped.append(i)
            sizes[i] += share
            given += share
        active = [i for i in active if i not in capped]
        free -= given
        if not capped:
            if active and free > 0:  # rounding: the rest to the last growing request
                sizes[active[-1]] += free
            break
    return sizes


@dataclass
class Layout:
    """What was laid out and mounted, for fstab, the boot loader and the unmount."""

    root: Path
    requests: list[Request]
    disks: list[Disk]
    mounts: list[Path] = field(default_factory=list)

    def by_mount(self, mount: str) -> Request | None:
        return next((r for r in self.requests if r.mount == mount), None)

    def fstab(self) -> str:
        lines = ["# /etc/fstab written by the rocks test installer from the kickstart"]
        for r in sorted(self.requests, key=_mount_order):
            if r.mount == "biosboot":
                continue
            spec = f"UUID={r.uuid}" if r.uuid else r.device
            if r.mount == "swap":
                lines.append(f"{spec} none swap defaults 0 0")
                continue
            mtype = FS_MOUNT_TYPE.get(r.fstype, r.fstype)
            opts = r.fsoptions or ("umask=0077,shortname=winnt" if r.fstype == "efi"
                                   else "defaults")
            passno = 0 if r.fstype == "xfs" else (1 if r.mount == "/" else 2)
            lines.append(f"{spec} {r.mount} {mtype} {opts} 0 {passno}")
        return "\n".join(lines) + "\n"


def _mount_order(r: Request) -> tuple[bool, int, str]:
    """/ first, then by depth (a mount point after the one it is under), swap last."""
    return (not r.mounted, r.mount.count("/") if r.mount != "/" else 0, r.mount)


class Storage:
    """Lays the disks out and mounts the result at `target`."""

    def __init__(self, say: Callable[[str], None] = print, runner: Runner | None = None,
                 target: Path = TARGET, sys_block: Path = Path("/sys/block"),
                 skip: tuple[str, ...] = SKIP_DISKS) -> None:
        self.say = say
        self.run: Runner = runner or run
        self.target = target
        self.sys_block = sys_block
        self.skip = skip

    # -- the whole step ------------------------------------------------------------------------
    def apply(self, handler: Any, firmware: str) -> Layout:
        disks = self._selected(handler)
        reqs = requests(handler, firmware)
        if not any(r.mount == "/" for r in reqs):
            raise InstallError("the kickstart asks for no / partition (part / …)")
        cleared = self._cleared(handler, disks)
        zero = bool(handler.zerombr.zerombr)
        fresh: list[Disk] = []
        for d in disks:
            has_table = self._has_table(d)
            if d in cleared or (not has_table and (zero or handler.clearpart.initAll)):
                fresh.append(d)
        by_name = {d.name: d for d in disks}
        for r in reqs:
            if r.onpart:
                r.device = self._resolve(r.onpart, r)
                if any(r.device.startswith(d.path) for d in fresh):
                    raise InstallError(f"{r.where}--onpart={r.onpart} is {r.device}, on a disk "
                                       "that clearpart/zerombr empties")
            elif r.disk and r.disk not in by_name:
                raise InstallError(f"{r.where}--ondisk={r.disk}: no such disk (or ignored)")
        for d in fresh:
            self.say(f"storage: new GPT on {d.path} ({d.size // MIB} MiB)")
        self._partition(reqs, disks, fresh)
        for r in reqs:
            self._format(r)
        layout = Layout(self.target, reqs, disks)
        self._mount(layout)
        return layout

    # -- disks ----------------------------------------------------------------------------------
    def _selected(self, handler: Any) -> list[Disk]:
        disks = list_disks(self.sys_block, self.skip)
        ig = handler.ignoredisk
        if ig.onlyuse:
            want = {disk_name(n) for n in ig.onlyuse}
            disks = [d for d in disks if d.name in want]
        if ig.ignoredisk:
            skip = {disk_name(n) for n in ig.ignoredisk}
            disks = [d for d in disks if d.name not in skip]
        if not disks:
            raise InstallError("no disk to install on (ignoredisk leaves none, or the machine "
                               "has none)")
        self.say("storage: disks " + ", ".join(f"{d.name} {d.size // MIB} MiB" for d in disks))
        return disks

    def _cleared(self, handler: Any, disks: list[Disk]) -> list[Disk]:
        from pykickstart.constants import (
            CLEARPART_TYPE_ALL,
            CLEARPART_TYPE_LINUX,
            CLEARPART_TYPE_LIST,
        )

        cp = handler.clearpart
        if cp.type in (CLEARPART_TYPE_LINUX, CLEARPART_TYPE_LIST):
            raise InstallError(f"kickstart line {cp.lineno}: clearpart --linux and --list are "
                               "not supported by the rocks test installer (use --all)")
        if cp.type != CLEARPART_TYPE_ALL:
            return []
        if cp.drives:
            want = {disk_name(n) for n in cp.drives}
            return [d for d in disks if d.name in want]
        return list(disks)

    def _has_table(self, disk: Disk) -> bool:
        out = subprocess.run(["blkid", "-p", "-c", "/dev/null", "-o", "value", "-s", "PTTYPE",
                              disk.path], capture_output=True, text=True, check=False)
        return bool(out.stdout.strip())

    def _resolve(self, spec: str, r: Request) -> str:
        key, sep, _ = spec.partition("=")
        if sep and key in ("LABEL", "UUID", "PARTLABEL", "PARTUUID"):
            out = subprocess.run(["blkid", "-c", "/dev/null", "-o", "device", "-t", spec],
                                 capture_output=True, text=True, check=False).stdout.split()
            if len(out) != 1:
                what = "no partition" if not out else f"{len(out)} partitions ({', '.join(out)})"
                raise InstallError(f"{r.where}--onpart={spec}: {what} found")
            return out[0]
        path = spec if spec.startswith("/dev/") else "/dev/" + spec
        real = os.path.realpath(path)
        if not Path(real).exists():
            raise InstallError(f"{r.where}--onpart={spec}: {path} does not exist")
        return real

    # -- partitions -----------------------------------------------------------------------------
    def _partition(self, reqs: list[Request], disks: list[Disk], fresh: list[Disk]) -> None:
        new = [r for r in reqs if not r.onpart]
        if not new:
            return
        by_disk: dict[str, list[Request]] = {}
        default = (fresh or disks)[0].name
        for r in new:
            by_disk.setdefault(r.disk or default, []).append(r)
        for d in disks:
            todo = by_disk.get(d.name)
            if not todo:
                continue
            todo.sort(key=lambda r: ({"biosboot": 0, "/boot/efi": 1, "/boot": 2}.get(r.mount, 3)))
            if d in fresh:
                self._new_table(d, todo)
            else:
                self._append(d, todo)

    def _sizes(self, disk: Disk, todo: list[Request], free_sectors: int) -> None:
        per_mib = MIB // disk.sector
        try:
            sizes = grow_sizes([r.size * per_mib for r in todo], [r.grow for r in todo],
                               [r.maxsize * per_mib for r in todo], free_sectors)
        except ValueError:
            need = sum(r.size for r in todo)
            raise InstallError(f"{disk.path}: the partitions need {need} MiB, "
                               f"{free_sectors // per_mib} MiB are free") from None
        for r, s in zip(todo, sizes, strict=True):
            r.sectors = s // per_mib * per_mib  # whole MiB: every start stays aligned

    def _new_table(self, disk: Disk, todo: list[Request]) -> None:
        per_mib = MIB // disk.sector
        total = disk.size // disk.sector
        first = per_mib  # 1 MiB, aligned
        usable = (total - 34 - first) // per_mib * per_mib
        self._sizes(disk, todo, usable)
        self.run(["wipefs", "-a", "-q", disk.path])
        lines = ["label: gpt", "unit: sectors", ""]
        start = first
        for r in todo:
            attrs = ', attrs="LegacyBIOSBootable"' if r.mount == "/boot" else ""
            lines.append(f"start={start}, size={r.sectors}, type={r.gpt_type}{attrs}")
            start += r.sectors
        self.run(["sfdisk", "--no-reread", "-q", disk.path], input="\n".join(lines) + "\n")
        for n, r in enumerate(todo, start=1):
            r.device = disk.part(n)
            self.say(f"storage: {r.device} {r.sectors // per_mib} MiB for {r.mount}")
        self._reread(disk, [r.device for r in todo])

    def _append(self, disk: Disk, todo: list[Request]) -> None:
        per_mib = MIB // disk.sector
        free = self._largest_free(disk)
        self._sizes(disk, todo, free // per_mib * per_mib)
        before = set(self._partitions(disk))
        lines = [f"size={r.sectors}, type={r.gpt_type}" for r in todo]
        self.run(["sfdisk", "--no-reread", "-q", "--append", disk.path],
                 input="\n".join(lines) + "\n")
        added = [p for p in self._partitions(disk) if p not in before]
        if len(added) != len(todo):
            raise InstallError(f"{disk.path}: sfdisk added {len(added)} partitions, "
                               f"{len(todo)} were asked for")
        for r, p in zip(todo, added, strict=True):
            r.device = p
            self.say(f"storage: {p} {r.sectors // per_mib} MiB for {r.mount} (appended)")
        self._reread(disk, added)

    def _largest_free(self, disk: Disk) -> int:
        """Sectors in the largest free area (sfdisk -F: Start End Sectors Size rows)."""
        out = self.run(["sfdisk", "-F", "-q", disk.path])
        rows = [ln.split() for ln in out.splitlines()]
        return max((int(r[2]) for r in rows if len(r) >= 3 and r[2].isdigit()), default=0)

    def _partitions(self, disk: Disk) -> list[str]:
        out = self.run(["sfdisk", "-l", "-q", "-o", "Device", disk.path])
        return [ln.strip() for ln in out.splitlines() if ln.strip().startswith("/dev/")]

    def _reread(self, disk: Disk, devices: Sequence[str]) -> None:
        """The kernel told of the new table, and its partition devices there. Some kernels
        (loop devices in containers) ignore a re-read: partx then adds the partitions."""
        subprocess.run(["blockdev", "--rereadpt", disk.path], capture_output=True, check=False)
        if self._wait_nodes(devices, 3.0):
            return
        subprocess.run(["partx", "-u", disk.path], capture_output=True, check=False)
        subprocess.run(["partx", "-a", disk.path], capture_output=True, check=False)
        if not self._wait_nodes(devices, 15.0):
            missing = [d for d in devices if not os.path.exists(d)]
            raise InstallError(f"partition devices did not appear: {', '.join(missing)}")

    def _wait_nodes(self, devices: Sequence[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(os.path.exists(d) for d in devices):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    # -- file systems ---------------------------------------------------------------------------
    def _format(self, r: Request) -> None:
        dev = r.device
        if r.onpart and not r.format:
            found = self._blkid(dev, "TYPE")
            if not found:
                raise InstallError(f"{r.where}{r.mount} --onpart={r.onpart} --noformat: {dev} "
                                   "holds no file system")
            if r.fstype and FS_MOUNT_TYPE.get(r.fstype, r.fstype) != found:
                self.say(f"storage: {dev} holds {found}, not {r.fstype}: kept as it is")
            r.fstype = "efi" if r.mount == "/boot/efi" and found == "vfat" else found
            self.say(f"storage: {dev} {r.mount} kept ({found}, --noformat)")
        elif r.fstype == "biosboot":
            pass
        else:
            self.run(["wipefs", "-a", "-q", dev])
            self.run(self._mkfs(r))
            self.say(f"storage: {dev} {r.mount} formatted {r.fstype}"
                     + (f" label {r.label}" if r.label else ""))
        if r.fstype != "biosboot":
            r.uuid = self._blkid(dev, "UUID")

    def _mkfs(self, r: Request) -> list[str]:
        opts = shlex.split(r.mkfsoptions)
        label = r.label
        if r.fstype == "xfs":
            return ["mkfs.xfs", "-f", "-q", *(["-L", label] if label else []), *opts, r.device]
        if r.fstype in ("ext2", "ext3", "ext4"):
            return [f"mkfs.{r.fstype}", "-F", "-q", *(["-L", label] if label else []), *opts,
                    r.device]
        if r.fstype in ("vfat", "efi"):
            return ["mkfs.vfat", *(["-n", label[:11].upper()] if label else []), *opts,
                    r.device]
        if r.fstype == "swap":
            return ["mkswap", "-f", *(["-L", label] if label else []), r.device]
        raise InstallError(f"{r.where}file system type {r.fstype} is not supported by the rocks "
                           "test installer (xfs, ext2/3/4, vfat/efi, swap, biosboot)")

    def _blkid(self, dev: str, tag: str) -> str:
        out = subprocess.run(["blkid", "-p", "-c", "/dev/null", "-o", "value", "-s", tag, dev],
                             capture_output=True, text=True, check=False)
        return out.stdout.strip()

    # -- mounts ---------------------------------------------------------------------------------
    def _mount(self, layout: Layout) -> None:
        self.target.mkdir(parents=True, exist_ok=True)
        for r in sorted((r for r in layout.requests if r.mounted), key=_mount_order):
            where = self.target / r.mount.lstrip("/")
            where.mkdir(parents=True, exist_ok=True)
            mtype = FS_MOUNT_TYPE.get(r.fstype, r.fstype)
            opts = ["-o", r.fsoptions] if r.fsoptions and r.fsoptions != "defaults" else []
            self.run(["mount", "-t", mtype, *opts, r.device, str(where)])
            layout.mounts.append(where)

    def bind_system(self, layout: Layout) -> None:
        """/dev, /proc, /sys and a fresh /run in the target, as Anaconda mounts them before it
        installs packages."""
        for src, opts in (("/dev", ["--bind"]), ("/dev/pts", ["--bind"]),
                          ("/proc", ["-t", "proc"]), ("/sys", ["-t", "sysfs"]),
                          ("/run", ["-t", "tmpfs"])):
            where = self.target / src.lstrip("/")
            where.mkdir(parents=True, exist_ok=True)
            dev = src if opts == ["--bind"] else opts[1]
            self.run(["mount", *opts, dev, str(where)])
            layout.mounts.append(where)
        efivars = Path("/sys/firmware/efi/efivars")
        if efivars.is_dir():
            where = self.target / "sys/firmware/efi/efivars"
            subprocess.run(["mount", "-t", "efivarfs", "efivarfs", str(where)],
                           capture_output=True, check=False)

    def unmount(self, layout: Layout) -> None:
        subprocess.run(["sync"], check=False)
        efivars = self.target / "sys/firmware/efi/efivars"
        subprocess.run(["umount", str(efivars)], capture_output=True, check=False)
        for where in reversed(layout.mounts):
            proc = subprocess.run(["umount", str(where)], capture_output=True, text=True,
                                  check=False)
            if proc.returncode != 0:
                self.say(f"storage: umount {where}: {proc.stderr.strip()}; detaching it")
                subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
        layout.mounts.clear()
        subprocess.run(["sync"], check=False)
