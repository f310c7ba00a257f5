"""Getting and reading the kickstart as Anaconda does.

`fetch` asks the URL of inst.ks= with one `X-RHN-Provisioning-MAC-<n>: <dev> <mac>` header per
interface when inst.ks.sendmac is set, retrying on connection errors and 5xx (sleeping what
Retry-After says). `parse` reads it with pykickstart: first without %include (the files may
not exist before %pre wrote them), then, after %pre, in full. `check_supported` refuses, before
any disk is touched, every command this installer does not execute.
"""

from __future__ import annotations

import copy
import functools
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rocks.installer.scripts import KsScript

VERSION = "RHEL9"


class InstallError(Exception):
    """The install cannot go on; the message says why (and where, when it can)."""


# Commands executed, with what the installer does for them; anything else that appears in a
# kickstart stops the install before the disks are touched.
EXECUTED = {
    "bootloader": "boot loader: extlinux (BIOS) or GRUB (UEFI) with --append and --timeout",
    "clearpart": "partitions removed (--all, --drives, --initlabel, --none)",
    "ignoredisk": "disks limited (--only-use, --drives)",
    "part": "partitions created or reused (--onpart, --noformat) and formatted",
    "reqpart": "biosboot or EFI system partition (and /boot with --add-boot)",
    "zerombr": "disks without a valid partition table are initialised",
    "network": "NetworkManager keyfile and /etc/hostname",
    "rootpw": "root's password in /etc/shadow (--iscrypted, --plaintext, --lock)",
    "sshkey": "the key in the user's ~/.ssh/authorized_keys",
    "lang": "/etc/locale.conf",
    "keyboard": "/etc/vconsole.conf",
    "timezone": "/etc/localtime and /etc/adjtime",
    "selinux": "/etc/selinux/config",
    "firewall": "firewall-offline-cmd in the installed system, when it has firewalld",
    "services": "systemctl enable/disable in the installed system",
    "skipx": "systemctl set-default multi-user.target",
    "url": "the installation repository",
    "repo": "an extra repository (--baseurl)",
    "reboot": "what the machine does at the end (reboot, poweroff, halt)",
}
# Commands that only shape Anaconda's own user interface or first boot: nothing to execute.
NO_EFFECT = {
    "text": "display mode of the installer",
    "cmdline": "display mode of the installer",
    "graphical": "display mode of the installer",
    "eula": "the license is not shown",
    "firstboot": "no initial-setup is installed",
    "sshpw": "the installer runs no SSH server",
}
ALIASES = {"partition": "part", "poweroff": "reboot", "halt": "reboot", "shutdown": "reboot"}


@dataclass(frozen=True, slots=True)
class Fetched:
    text: str
    url: str
    attempts: int


def mac_headers(sysfs: Path = Path("/sys/class/net")) -> dict[str, str]:
    """Anaconda's inst.ks.sendmac headers, one per network interface (loopback left out)."""
    headers: dict[str, str] = {}
    n = 0
    for dev in sorted(sysfs.iterdir()) if sysfs.is_dir() else []:
        if dev.name == "lo":
            continue
        try:
            mac = (dev / "address").read_text().strip()
        except OSError:
            continue
        headers[f"X-RHN-Provisioning-MAC-{n}"] = f"{dev.name} {mac}"
        n += 1
    return headers


def fetch(url: str, headers: Mapping[str, str], *, attempts: int = 6, timeout: float = 30.0,
          sleep: Callable[[float], None] = time.sleep) -> Fetched:
    last = ""
    for attempt in range(1, attempts + 1):
        req = urllib.request.Request(url, headers=dict(headers))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Fetched(resp.read().decode("utf-8"), url, attempt)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", errors="replace").strip()[:200]
            last = f"HTTP {exc.code} {body}"
            if exc.code < 500:
                raise InstallError(f"the frontend refused the kickstart: {last}") from None
            wait = exc.headers.get("Retry-After", "") if exc.headers else ""
            delay = float(wait) if wait.isdigit() else 2.0 * attempt
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
            delay = 2.0 * attempt
        if attempt < attempts:
            sleep(min(delay, 30.0))
    raise InstallError(f"cannot fetch the kickstart {url}: {last}")


@functools.cache
def _handler(version: str) -> Any:
    from pykickstart.version import makeVersion, stringToVersion

    return makeVersion(stringToVersion(version))


def parse(text: str, *, includes: bool, version: str = VERSION) -> Any:
    """The pykickstart handler of `text`; with includes=False, %include lines are skipped."""
    from pykickstart.errors import KickstartError
    from pykickstart.parser import KickstartParser

    handler = copy.deepcopy(_handler(version))  # building one costs seconds under TCG
    parser = KickstartParser(handler, followIncludes=includes, missingIncludeIsFatal=includes,
                             errorsAreFatal=True)
    try:
        parser.readKickstartFromString(text)
    except KickstartError as exc:
        where = f"kickstart line {exc.lineno}: " if getattr(exc, "lineno", None) else ""
        raise InstallError(f"{where}{' '.join(str(exc.message).split())}") from None
    return handler


def seen_commands(handler: Any) -> dict[str, int]:
    """Commands the kickstart used, by canonical name, with the line of each."""
    out: dict[str, int] = {}
    done: set[int] = set()
    for name, cmd in sorted(handler.commands.items()):
        if not getattr(cmd, "seen", False) or id(cmd) in done:
            continue
        done.add(id(cmd))
        out[ALIASES.get(name, name)] = int(getattr(cmd, "lineno", 0) or 0)
    return out


def check_supported(handler: Any) -> list[str]:
    """What the installer will not do for this kickstart, one line each with its line."""
    problems = []
    for name, line in sorted(seen_commands(handler).items(), key=lambda kv: kv[1]):
        if name not in EXECUTED and name not in NO_EFFECT:
            problems.append(f"kickstart line {line}: `{name}` is not executed by the rocks test "
                            "installer (README: what it executes)")
    pk = handler.packages
    for opt, used in (("--nocore", pk.nocore), ("--multilib", pk.multiLib),
                      ("--instLangs", pk.instLangs is not None)):
        if used:
            problems.append(f"%packages {opt} is not supported by the rocks test installer")
    return problems


def scripts(handler: Any) -> list[KsScript]:
    """The kickstart's %pre, %pre-install and %post scripts, in order."""
    from pykickstart.constants import KS_SCRIPT_POST, KS_SCRIPT_PRE, KS_SCRIPT_PREINSTALL

    kinds = {KS_SCRIPT_PRE: "pre", KS_SCRIPT_PREINSTALL: "pre-install", KS_SCRIPT_POST: "post"}
    out = []
    for s in handler.scripts:
        kind = kinds.get(s.type)
        if kind is None:  # %traceback and %onerror: run only by Anaconda's error handling
            continue
        out.append(KsScript(kind, s.script, s.interp or "", bool(s.inChroot), s.logfile or "",
                            bool(s.errorOnFail), int(s.lineno or 0)))
    return out
