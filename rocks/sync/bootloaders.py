"""Network boot loaders: which file each client architecture is handed over DHCP, and copying
the packaged binaries (Debian or EL paths) into the TFTP tree.

Reading the binaries is the one part of planning that touches the disk; it takes the system
root as a parameter so that tests can hand it a fake one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rocks.errors import Diagnostic
from rocks.sync.inputs import (
    BOOT_OWNER,
    BiosLoader,
    DesiredFile,
    Frontend,
    SyncInput,
    UefiLoader,
)

TFTP = "tftpboot"
IPXE_SCRIPT_PATH = "/boot/ipxe"
# iPXE expands settings in the DHCP filename; netX is the device it just configured, and
# :hexhyp spells the MAC aa-bb-cc-dd-ee-ff so that no ':' needs escaping in the URL.
IPXE_MAC_VARIABLE = "${netX/mac:hexhyp}"


@dataclass(frozen=True, slots=True)
class Loader:
    dest: str  # relative to the TFTP root
    candidates: tuple[str, ...]  # relative to the system root; may hold one '*'
    debian_package: str
    el_package: str


PXELINUX = Loader("pxelinux.0", ("usr/lib/PXELINUX/pxelinux.0", "tftpboot/pxelinux.0",
                                 "usr/share/syslinux/pxelinux.0"), "pxelinux", "syslinux-tftpboot")
LDLINUX = Loader("ldlinux.c32", ("usr/lib/syslinux/modules/bios/ldlinux.c32",
                                 "tftpboot/ldlinux.c32", "usr/share/syslinux/ldlinux.c32"),
                 "syslinux-common", "syslinux-tftpboot")
UNDIONLY = Loader("undionly.kpxe", ("usr/lib/ipxe/undionly.kpxe", "usr/share/ipxe/undionly.kpxe"),
                  "ipxe", "ipxe-bootimgs-x86")
IPXE_EFI = Loader("ipxe.efi", ("usr/lib/ipxe/ipxe.efi", "usr/share/ipxe/ipxe-x86_64.efi",
                               "usr/share/ipxe/ipxe.efi"), "ipxe", "ipxe-bootimgs-x86")
SNPONLY = Loader("snponly.efi", ("usr/lib/ipxe/snponly.efi",
                                 "usr/share/ipxe/ipxe-snponly-x86_64.efi"),
                 "ipxe", "ipxe-bootimgs-x86")
GRUB = Loader("grub/grubx64.efi", ("usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
                                   "boot/efi/EFI/*/grubx64.efi"),
              "grub-efi-amd64-signed", "grub2-efi-x64")
SHIM = Loader("grub/shimx64.efi", ("usr/lib/shim/shimx64.efi.signed", "boot/efi/EFI/*/shimx64.efi"),
              "shim-signed", "shim-x64")


def bios_filename(inp: SyncInput) -> str:
    return "pxelinux.0" if inp.bios_loader is BiosLoader.PXELINUX else UNDIONLY.dest


def uefi_filename(inp: SyncInput) -> str:
    if inp.uefi_loader is UefiLoader.GRUB:
        return SHIM.dest if inp.uefi_shim else GRUB.dest
    return IPXE_EFI.dest if inp.uefi_loader is UefiLoader.IPXE else SNPONLY.dest


def ipxe_script_url(inp: SyncInput, fe: Frontend | None = None) -> str:
    return f"{(fe or inp.frontend).http_base}{IPXE_SCRIPT_PATH}?mac={IPXE_MAC_VARIABLE}"


def needed_loaders(inp: SyncInput) -> tuple[Loader, ...]:
    out: list[Loader] = [PXELINUX, LDLINUX] if inp.bios_loader is BiosLoader.PXELINUX else [
        UNDIONLY]
    if inp.uefi_loader is UefiLoader.GRUB:
        out += [GRUB, SHIM] if inp.uefi_shim else [GRUB]
    else:
        out.append(IPXE_EFI if inp.uefi_loader is UefiLoader.IPXE else SNPONLY)
    return tuple(out)


def find_loader(loader: Loader, sysroot: Path) -> Path | None:
    for pattern in loader.candidates:
        if "*" in pattern:
            hits = sorted(p for p in sysroot.glob(pattern) if p.is_file())
            if hits:
                return hits[0]
        elif (sysroot / pattern).is_file():
            return sysroot / pattern
    return None


def bootloader_files(
    inp: SyncInput, sysroot: Path = Path("/"), loaders: Iterable[Loader] | None = None
) -> tuple[list[DesiredFile], list[Diagnostic]]:
    """Copies of the boot loaders this configuration hands out, and one problem naming any
    that are not installed (with the packages that provide them)."""
    files: list[DesiredFile] = []
    missing: list[Loader] = []
    for loader in loaders if loaders is not None else needed_loaders(inp):
        found = find_loader(loader, sysroot)
        if found is None:
            missing.append(loader)
            continue
        files.append(DesiredFile(f"{TFTP}/{loader.dest}", found.read_bytes(), 0o644, None,
                                 BOOT_OWNER))
    problems: list[Diagnostic] = []
    if missing:
        names = ", ".join(m.dest for m in missing)
        looked = "; ".join(f"{m.dest}: " + " ".join("/" + c for c in m.candidates)
                           for m in missing)
        deb = " ".join(sorted({m.debian_package for m in missing}))
        el = " ".join(sorted({m.el_package for m in missing}))
        problems.append(Diagnostic(
            "sync.bootloader-missing", f"boot loaders not installed: {names} (looked in {looked})",
            None, f"apt-get install {deb}  (EL: dnf install {el})"))
    return files, problems
