"""The boot loader `bootloader` asks for: the installed kernel (/boot/vmlinuz-<version> with
/boot/initramfs-<version>.img) on root=UUID=… with --append's arguments, after --timeout
seconds.

BIOS: extlinux in /boot/extlinux (the /boot partition marked legacy-BIOS-bootable) and
syslinux's GPT MBR code on the boot disk. UEFI: Debian's signed GRUB EFI image at the removable
path \\EFI\\BOOT\\BOOTX64.EFI of the EFI system partition, with its grub.cfg in \\EFI\\debian
(where that image looks) and \\EFI\\BOOT. Anaconda instead installs the system's own GRUB 2
packages and runs their tools in the target; no NVRAM boot entry is written here either (the
firmware finds the removable path by itself).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rocks.installer.kickstart import InstallError
from rocks.installer.storage import Layout, Request

EXTLINUX = "/usr/bin/extlinux"
GPTMBR = Path("/usr/lib/syslinux/mbr/gptmbr.bin")
MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
GRUB_EFI = Path("/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")


def firmware(sysfs: Path = Path("/sys/firmware/efi")) -> str:
    return "uefi" if sysfs.is_dir() else "bios"


def _version_key(name: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def installed_kernel(root: Path) -> tuple[str, str, str]:
    """(version, kernel file name, initramfs file name) of the newest kernel in /boot."""
    found = sorted((p.name.removeprefix("vmlinuz-") for p in (root / "boot").glob("vmlinuz-*")
                    if "rescue" not in p.name), key=_version_key)
    if not found:
        raise InstallError("no kernel was installed (/boot/vmlinuz-*): the packages lack one")
    kver = found[-1]
    initrd = f"initramfs-{kver}.img"
    if not (root / "boot" / initrd).is_file():
        raise InstallError(f"kernel {kver} has no /boot/{initrd}")
    return kver, f"vmlinuz-{kver}", initrd


def _disk_of(layout: Layout, device: str) -> tuple[str, int]:
    for d in sorted(layout.disks, key=lambda d: -len(d.path)):
        if device.startswith(d.path):
            rest = device[len(d.path):].lstrip("p")
            if rest.isdigit():
                return d.path, int(rest)
    raise InstallError(f"cannot tell which disk {device} is on")


def install(handler: Any, layout: Layout, fw: str, say: Callable[[str], None] = print) -> None:
    bl = handler.bootloader
    if bl.disabled or bl.location == "none":
        say("bootloader: none asked for (--location=none or --disabled)")
        return
    root_req = layout.by_mount("/")
    assert root_req is not None
    boot_req = layout.by_mount("/boot") or root_req
    prefix = "/" if boot_req.mount == "/boot" else "/boot/"
    kver, kernel, initrd = installed_kernel(layout.root)
    args = [f"root=UUID={root_req.uuid}", "ro"]
    if bl.appendLine:
        args += bl.appendLine.split()
    title = _title(layout.root, kver)
    timeout = int(bl.timeout) if bl.timeout is not None else 5
    if fw == "uefi":
        _grub(layout, boot_req, prefix, kernel, initrd, " ".join(args), title, timeout, say)
    else:
        _extlinux(handler, layout, boot_req, prefix, kernel, initrd, " ".join(args), title,
                  timeout, say)


def _title(root: Path, kver: str) -> str:
    name = "Linux"
    osr = root / "etc" / "os-release"
    if osr.is_file():
        for line in osr.read_text().splitlines():
            if line.startswith("NAME="):
                name = line.split("=", 1)[1].strip('"')
    return f"{name} ({kver})"


def _extlinux(handler: Any, layout: Layout, boot: Request, prefix: str, kernel: str,
              initrd: str, args: str, title: str, timeout: int,
              say: Callable[[str], None]) -> None:
    if boot.fstype not in ("ext2", "ext3", "ext4", "xfs", "vfat"):
        raise InstallError(f"extlinux cannot boot from {boot.fstype} ({boot.mount})")
    directory = layout.root / "boot" / "extlinux"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "extlinux.conf").write_text(
        "# written by the rocks test installer (kickstart bootloader)\n"
        f"DEFAULT rocks\nPROMPT {1 if timeout else 0}\nTIMEOUT {timeout * 10}\n"
        f"LABEL rocks\n  MENU LABEL {title}\n  LINUX {prefix}{kernel}\n"
        f"  INITRD {prefix}{initrd}\n  APPEND {args}\n")
    proc = subprocess.run([EXTLINUX, "--install", str(directory)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise InstallError(f"extlinux --install failed: {(proc.stderr or proc.stdout).strip()}")
    drive = handler.bootloader.bootDrive
    disk, number = _disk_of(layout, boot.device)
    if drive:
        disk = "/dev/" + drive.removeprefix("/dev/")
    pttype = subprocess.run(["blkid", "-p", "-c", "/dev/null", "-o", "value", "-s", "PTTYPE",
                             disk], capture_output=True, text=True, check=False).stdout.strip()
    code = GPTMBR if pttype == "gpt" else MBR
    with open(disk, "r+b") as dev:
        dev.write(code.read_bytes()[:440])
    if pttype == "gpt":
        subprocess.run(["sfdisk", "--part-attrs", disk, str(number), "LegacyBIOSBootable"],
                       capture_output=True, check=False)
    else:
        subprocess.run(["sfdisk", "--activate", disk, str(number)], capture_output=True,
                       check=False)
    say(f"bootloader: extlinux on {boot.device} ({boot.mount}), {code.name} on {disk}: "
        f"{kernel} {args}")


def _grub(layout: Layout, boot: Request, prefix: str, kernel: str, initrd: str, args: str,
          title: str, timeout: int, say: Callable[[str], None]) -> None:
    esp = layout.by_mount("/boot/efi")
    if esp is None:
        raise InstallError("UEFI boot needs an EFI system partition (/boot/efi; reqpart adds "
                           "one)")
    base = layout.root / "boot" / "efi" / "EFI"
    cfg = (
        "# written by the rocks test installer (kickstart bootloader)\n"
        f"set timeout={timeout}\nset default=0\n"
        f"search --no-floppy --fs-uuid --set=root {boot.uuid}\n"
        f"menuentry '{title}' {{\n  linux {prefix}{kernel} {args}\n"
        f"  initrd {prefix}{initrd}\n}}\n")
    for sub in ("BOOT", "debian"):
        (base / sub).mkdir(parents=True, exist_ok=True)
        (base / sub / "grub.cfg").write_text(cfg)
    shutil.copyfile(GRUB_EFI, base / "BOOT" / "BOOTX64.EFI")
    say(f"bootloader: GRUB at \\EFI\\BOOT\\BOOTX64.EFI on {esp.device}: {kernel} {args}")
