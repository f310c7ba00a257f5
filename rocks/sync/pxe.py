"""Per-host network boot configuration: the PXELINUX and GRUB files in the TFTP tree, and the
iPXE script the frontend serves at /boot/ipxe?mac=….

A host in `install` boots its install action's kernel with the kickstart URL carrying its token;
a host in `os` boots its run action, normally the local disk; a stateless host (run action
`stateless`) its appliance's image with the URL of its own state carrying its token. Each host
gets one file per configured loader, under the name that loader finds: PXELINUX
`pxelinux.cfg/<HEXIP>` (Rocks' name; PXELINUX asks for it after `01-<mac>`), GRUB
`grub.cfg-<mac>` (what the fall-back grub.cfg chains to, for every GRUB build). iPXE scripts are
never files: the frontend renders them per request. `pxe_mac_names` adds the names the loaders
try first (PXELINUX `01-<mac>`, the EL GRUB's `grub.cfg-01-<mac>` and `grub.cfg-<HEXIP>`) as hard
links to the same files, saving a TFTP request or two per boot at the price of more names.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import quote

from rocks.errors import Diagnostic, RocksError
from rocks.model.attrtypes import bootaction_problem
from rocks.model.inventory import STATELESS, BootAction, BootState, Host
from rocks.sync.bootloaders import TFTP
from rocks.sync.inputs import SHARED, BiosLoader, DesiredFile, SyncInput, UefiLoader
from rocks.sync.site import Nic, Site, check_frontend

PXELINUX_DIR = f"{TFTP}/pxelinux.cfg"
GRUB_DIR = f"{TFTP}/grub"
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_. -]")
_GRUB_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@%")


@dataclass(frozen=True, slots=True)
class BootSpec:
    """What a client boots: the local disk, or a kernel, initrd and arguments."""

    label: str
    local: bool
    kernel: str = ""
    initrd: str = ""
    args: tuple[str, ...] = ()
    files: str = ""  # where iPXE fetches kernel and initrd ("": the head node's boot files)
    bootif: bool = False  # iPXE adds BOOTIF= (the stateless /init finds the booting interface)


def install_args(inp: SyncInput, action: BootAction, token: str | None,
                 base: str = "") -> tuple[str, ...]:
    """The installer's arguments: kickstart and repository at `base` (default: the head's)."""
    base = base or inp.frontend.http_base
    ks = f"{base}/install/kickstart"
    if token:
        ks += f"?token={quote(token, safe='')}"
    return (f"inst.ks={ks}", *_install_tail(base, action.args))


@functools.lru_cache(maxsize=64)
def _install_tail(base: str, args: str) -> tuple[str, ...]:
    return ("inst.ks.sendmac", f"inst.repo={base}/install/distro", "ip=dhcp", *args.split())


def stateless_spec(inp: SyncInput, host: Host, action: BootAction | None = None
                   ) -> BootSpec | Diagnostic:
    """A stateless host boots its appliance's newest image (rocks.images: `current` under
    tftpboot/images/<appliance>/, over TFTP for PXELINUX and GRUB, HTTP for iPXE) with the URL
    its /init fetches the host's own state from, carrying the host's token. A boot action
    named `stateless`, if there is one, adds its arguments (e.g. a serial console); its kernel
    and initrd are the image's whatever it says."""
    token = inp.tokens.get(host.name)
    if not token:
        return Diagnostic("sync.no-token", f"host {host.name}: stateless but has no token",
                          None, "set the host's boot to stateless again to issue one")
    why = action_problem(action) if action is not None else None
    if why:
        return Diagnostic("sync.bad-bootaction",
                          f"host {host.name}: boot action {STATELESS!r} cannot be written: {why}",
                          None, "fix it: rocks remove bootaction, then add it again")
    # the state from the frontend that serves the host (a service frontend, or the head
    # node); the image from the head node, where `rocks create image` built it
    fe = inp.frontend_for(host.name)
    state = f"{fe.http_base}/install/state?token={quote(token, safe='')}"
    images = f"images/{host.appliance}/current"
    extra = tuple(action.args.split()) if action is not None else ("quiet",)
    return BootSpec(f"{host.name} {STATELESS}", False, f"{images}/vmlinuz",
                    f"{images}/initrd.img", (f"rocks.state={state}", "rdinit=/init", *extra),
                    f"{inp.frontend.http_base}/boot", bootif=True)


def _is_local(action: BootAction) -> bool:
    return not action.kernel or action.kernel.lower().startswith("localboot")


@functools.lru_cache(maxsize=64)
def action_problem(action: BootAction) -> str | None:
    """Why a boot action cannot go into a PXELINUX, GRUB or iPXE file as it is, or None."""
    return bootaction_problem(action.name, action.kernel, action.initrd, action.args)


def boot_spec(
    inp: SyncInput, actions: dict[str, BootAction], host: Host
) -> BootSpec | Diagnostic:
    install = host.boot is BootState.INSTALL
    name = host.install_action if install else host.run_action
    if not install and name == STATELESS:
        return stateless_spec(inp, host, actions.get(STATELESS))
    action = actions.get(name)
    if action is None:
        if not install and name in ("os", "run"):
            return BootSpec(name, True)
        return Diagnostic("sync.unknown-bootaction",
                          f"host {host.name}: boot action {name!r} is not defined", None,
                          "list them with `rocks list bootaction`")
    why = action_problem(action)
    if why:
        return Diagnostic("sync.bad-bootaction",
                          f"host {host.name}: boot action {name!r} cannot be written: {why}",
                          None, "fix it: rocks remove bootaction, then add it again")
    if _is_local(action):
        # no host name in the label: every local-boot file is the same text, rendered once
        return BootSpec(name, True)
    token = inp.tokens.get(host.name)
    if install and not token:
        return Diagnostic("sync.no-token", f"host {host.name}: in install but has no token",
                          None, "set the host's boot to install again to issue one")
    fe = inp.frontend_for(host.name)  # a service frontend serves it, or the head node
    files = inp.kernel_base_for(host.name) if fe != inp.frontend else ""
    return BootSpec(f"{host.name} {name}", False, action.kernel, action.initrd,
                    install_args(inp, action, token, fe.http_base), files)


def discovery_spec(
    inp: SyncInput, actions: dict[str, BootAction], on: bool | None = None
) -> BootSpec:
    """What unknown clients boot: the install action (no token: the server discovers them)
    when discovery is on, else the local disk."""
    action = actions.get("install")
    if on is None:
        on = inp.discovery is not None
    if not on or action is None or _is_local(action) or action_problem(action):
        return BootSpec("default", True)
    return BootSpec("default install", False, action.kernel, action.initrd,
                    install_args(inp, action, None))


def _label(label: str) -> str:
    """A label as every loader's syntax can hold it (names are checked before; this is the
    generator's own guard)."""
    return _UNSAFE_LABEL.sub("_", label)


@functools.lru_cache(maxsize=256)
def pxelinux_text(spec: BootSpec) -> str:
    head = f"# rocks: {_label(spec.label)}\nDEFAULT rocks\nPROMPT 0\nTIMEOUT 0\nLABEL rocks\n"
    if spec.local:
        return head + "  LOCALBOOT 0\n"
    initrd = f"initrd={spec.initrd} " if spec.initrd else ""
    # IPAPPEND 2 adds BOOTIF=<mac> so the installer configures the interface that booted
    return head + (f"  KERNEL {spec.kernel}\n  APPEND {initrd}{' '.join(spec.args)}\n"
                   "  IPAPPEND 2\n")


def grub_word(word: str) -> str:
    """Quote one kernel argument for grub.cfg; an unquoted '&' or ';' is GRUB syntax, and quoting
    the whole command line would pass it to the kernel as a single argument."""
    if word and "?" not in word and _GRUB_PLAIN.issuperset(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


_grub_word_cached = functools.lru_cache(maxsize=1024)(grub_word)


# Upstream GRUB reads only grub.cfg over the network (per-client names are an EL patch), so the
# fall-back configuration hands a known machine on to its own file; if there is none, the
# failed configfile is reported and the script goes on to the fall-back entry.
GRUB_CHAIN = ('if [ -n "$net_default_mac" ]; then\n'
              '  configfile "$prefix/grub.cfg-$net_default_mac"\n'
              "fi\n")


# Booting the local disk from network GRUB on UEFI: `exit` alone returns EFI_SUCCESS, after
# which EDK2 firmware (OVMF, many servers) stops at its boot menu instead of trying the next
# boot option; so chain the installed system's loader from its EFI system partition (the
# distribution's shim, else the removable-media path), and only then give up with `exit`.
EFI_LOADERS = ("/EFI/rocky/shimx64.efi", "/EFI/almalinux/shimx64.efi", "/EFI/redhat/shimx64.efi",
               "/EFI/centos/shimx64.efi", "/EFI/BOOT/BOOTX64.EFI")
GRUB_LOCAL = "menuentry 'local disk' {\n" + "".join(
    f"  if search --no-floppy --set=root --file {f}; then\n    chainloader {f}\n    boot\n  fi\n"
    for f in EFI_LOADERS) + "  exit\n}\n"


@functools.lru_cache(maxsize=256)
def grub_text(spec: BootSpec) -> str:
    head = f"# rocks: {_label(spec.label)}\nset default=0\nset timeout=0\n"
    if spec.local:
        return head + GRUB_LOCAL
    # every host's arguments but the kickstart URL are the same: quote those once
    args = " ".join([grub_word(a) if "?" in a else _grub_word_cached(a) for a in spec.args])
    lines = [f"menuentry '{_label(spec.label)}' {{",
             f"  linux /{grub_word(spec.kernel.lstrip('/'))} {args}"]
    if spec.initrd:
        lines.append(f"  initrd /{grub_word(spec.initrd.lstrip('/'))}")
    return head + "\n".join([*lines, "}", ""])


def _url(inp: SyncInput, path: str, base: str = "") -> str:
    return path if "://" in path else f"{base or inp.kernel_base}/{path.lstrip('/')}"


def ipxe_text(inp: SyncInput, spec: BootSpec) -> str:
    head = f"#!ipxe\n# rocks: {_label(spec.label)}\n"
    if spec.local:
        return head + "exit\n"
    # iPXE on EFI hands the kernel its initrd only when the command line names it
    initrd_name = spec.initrd.rsplit("/", 1)[-1]
    named = f" initrd={initrd_name}" if spec.initrd else ""
    # a stateless /init finds the interface that booted by BOOTIF=, as PXELINUX's IPAPPEND 2
    bootif = " BOOTIF=01-${netX/mac:hexhyp}" if spec.bootif else ""
    lines = [f"kernel {_url(inp, spec.kernel, spec.files)}{named} {' '.join(spec.args)}"
             f"{bootif}"]
    if spec.initrd:
        lines.append(f"initrd {_url(inp, spec.initrd, spec.files)}")
    return head + "\n".join([*lines, "boot", ""])


def ipxe_script(inp: SyncInput, host: Host) -> str:
    """The iPXE script for one host; raises RocksError when its boot action cannot be built
    (or the frontend facts it carries cannot be written)."""
    check_frontend(inp)
    spec = boot_spec(inp, {a.name: a for a in inp.boot_actions}, host)
    if isinstance(spec, Diagnostic):
        raise RocksError(spec)
    return ipxe_text(inp, spec)


def ipxe_script_for_mac(inp: SyncInput, mac: str) -> str:
    """The script for whichever host has this MAC (':' or '-' separated, any case); unknown
    MACs get the discovery script or a local boot."""
    want = mac.strip().lower().replace("-", ":")
    for host in inp.hosts:
        if any(i.mac == want for i in host.interfaces):
            return ipxe_script(inp, host)
    check_frontend(inp)
    return ipxe_text(inp, discovery_spec(inp, {a.name: a for a in inp.boot_actions}))


def plan_host(site: Site, host: Host) -> tuple[list[DesiredFile], list[Diagnostic]]:
    """The TFTP files of one host (empty for non-kickstartable appliances and iPXE-only
    configurations)."""
    inp = site.inp
    if not site.kickstartable(host):
        return [], []
    nics = [n for n in site.nics_by_host.get(host.name, ())
            if n.net.network.pxe and n.iface.mac and not n.iface.bmc]
    if not nics:
        return [], []
    spec = boot_spec(inp, site.actions, host)
    if isinstance(spec, Diagnostic):
        return [], [spec]
    if spec.local and site.discovery is None and not inp.local_boot_files:
        return [], []  # the fall-back configuration boots the local disk
    return _files_for(site, host.name, spec, nics), []


def _files_for(site: Site, owner: str, spec: BootSpec, nics: list[Nic]) -> list[DesiredFile]:
    inp = site.inp
    files: list[DesiredFile] = []
    pxl = inp.bios_loader is BiosLoader.PXELINUX
    grub = inp.uefi_loader is UefiLoader.GRUB
    ptext = pxelinux_text(spec).encode() if pxl else b""
    gtext = grub_text(spec).encode() if grub else b""
    macs = inp.pxe_mac_names
    for nic in nics:
        if pxl:
            if macs:
                dashed = nic.iface.mac.replace(":", "-")
                files.append(DesiredFile(f"{PXELINUX_DIR}/01-{dashed}", ptext, 0o644, None,
                                         owner))
            files.append(DesiredFile(f"{PXELINUX_DIR}/{nic.hexip}", ptext, 0o644, None, owner))
        if grub:
            # what the fall-back grub.cfg chains to (Debian's network GRUB looks for nothing
            # else): the MAC as GRUB's $net_default_mac spells it
            files.append(DesiredFile(f"{GRUB_DIR}/grub.cfg-{nic.iface.mac}", gtext, 0o644, None,
                                     owner))
            if macs:
                dashed = nic.iface.mac.replace(":", "-")
                files.append(DesiredFile(f"{GRUB_DIR}/grub.cfg-01-{dashed}", gtext, 0o644, None,
                                         owner))
                files.append(DesiredFile(f"{GRUB_DIR}/grub.cfg-{nic.hexip}", gtext, 0o644, None,
                                         owner))
    return files


def default_files(site: Site) -> list[DesiredFile]:
    """The fall-back configurations unknown clients read."""
    inp = site.inp
    spec = discovery_spec(inp, site.actions, site.discovery is not None)
    files: list[DesiredFile] = []
    if inp.bios_loader is BiosLoader.PXELINUX:
        files.append(DesiredFile(f"{PXELINUX_DIR}/default", pxelinux_text(spec).encode(), 0o644,
                                 None, SHARED))
    if inp.uefi_loader is UefiLoader.GRUB:
        files.append(DesiredFile(f"{GRUB_DIR}/grub.cfg", (GRUB_CHAIN + grub_text(spec)).encode(),
                                 0o644, None, SHARED))
    return files
