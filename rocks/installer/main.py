"""The test installer's run, in Anaconda's order: fetch and parse the kickstart, %pre, parse
again with %include, refuse what is not executed, lay out and mount the disks, %pre-install,
install %packages with dnf, write the system configuration, install the boot loader, %post
(chrooted or not), keep the logs in the installed system, unmount, and tell stage 1 whether to
reboot, power off or halt.

Progress goes to the console as `ROCKS-INSTALLER: …` lines. A failed install is reported to the
frontend as stage `failed` (and a failed script that does not stop the install, with a message)
through the kickstart's own phone-home URL and token; the machine then powers off.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from rocks.installer import bootloader, kickstart, packages, storage, system
from rocks.installer.events import Reporter
from rocks.installer.kickstart import InstallError
from rocks.installer.scripts import KsScript, ScriptResult, run_script

LOG = Path("/tmp/rocks-installer.log")
ACTION = Path("/run/installer-action")
NET = Path("/run/installer-net")


class Console:
    def __init__(self, log: Path = LOG) -> None:
        self.log = log
        self.t0 = time.monotonic()

    def __call__(self, text: str) -> None:
        line = f"ROCKS-INSTALLER: {text}"
        print(line, flush=True)
        try:
            with self.log.open("a", encoding="utf-8") as fh:
                fh.write(f"{time.monotonic() - self.t0:7.1f} {text}\n")
        except OSError:
            pass

    def step(self, name: str) -> None:
        self(f"step {name} at {_uptime()}")


def _uptime() -> str:
    try:
        return Path("/proc/uptime").read_text().split()[0] + "s"
    except OSError:
        return "?"


def boot_args(cmdline: str) -> dict[str, str]:
    """key=value words of the kernel command line (bare words map to "")."""
    out: dict[str, str] = {}
    for word in cmdline.split():
        key, _, value = word.strip("'\"").partition("=")
        out.setdefault(key, value)
    return out


class Installer:
    def __init__(self, args: dict[str, str], say: Console) -> None:
        self.args = args
        self.say = say
        self.reporter: Reporter | None = None
        self.storage = storage.Storage(say=say)
        self.layout: storage.Layout | None = None
        self.action = "poweroff"
        self.failed_scripts: list[ScriptResult] = []
        self.net = _read_net()

    # -- the whole run --------------------------------------------------------------------------
    def run(self) -> int:
        try:
            self._install()
            return 0
        except InstallError as exc:
            self.say(f"FAILED: {exc}")
            if self.reporter is not None:
                self.reporter.post("failed", f"installer: {exc}")
            return 1
        except Exception as exc:  # a bug of the installer: still tell the frontend
            self.say(f"FAILED (installer bug): {type(exc).__name__}: {exc}")
            if self.reporter is not None:
                self.reporter.post("failed", f"installer bug: {type(exc).__name__}: {exc}")
            raise
        finally:
            if self.layout is not None:
                self.storage.unmount(self.layout)

    def _install(self) -> None:
        url = self.args.get("inst.ks", "")
        if not url:
            raise InstallError("no inst.ks= on the kernel command line")
        headers = kickstart.mac_headers() if "inst.ks.sendmac" in self.args else {}
        self.say(f"cmdline inst.ks={url} sendmac={'yes' if headers else 'no'}")
        self.say.step("kickstart")
        got = kickstart.fetch(url, headers)
        text = got.text
        Path("/tmp/ks.cfg").write_text(text)
        os.chmod("/tmp/ks.cfg", 0o600)
        host = re.search(r"--hostname=(\S+)", text)
        self.say(f"kickstart {len(text)} bytes for host={host.group(1) if host else '?'} "
                 f"(attempt {got.attempts}, MAC headers: {len(headers)})")
        first = kickstart.parse(text, includes=False)
        pre = [s for s in kickstart.scripts(first) if s.kind == "pre"]
        self.reporter = Reporter.from_scripts(kickstart.scripts(first), self.say)
        if self.reporter is None:
            self.say("no phone-home line in the kickstart: stages are not reported")
        self.say.step("pre")
        self._scripts(pre, root=None)
        handler = kickstart.parse(text, includes=True)
        problems = kickstart.check_supported(handler)
        if problems:
            raise InstallError("; ".join(problems))
        fw = bootloader.firmware()
        self.say.step(f"storage ({fw})")
        self.layout = self.storage.apply(handler, fw)
        self.storage.bind_system(self.layout)
        later = kickstart.scripts(handler)
        self._scripts([s for s in later if s.kind == "pre-install"], root=None)
        self.say.step("packages")
        self._packages(handler)
        self.say.step("system")
        system.System(self.layout.root, self.say).configure(handler, self.layout,
                                                            self.net.get("mac", ""))
        self.say.step("bootloader")
        bootloader.install(handler, self.layout, fw, self.say)
        self.say.step("post")
        self._scripts([s for s in later if s.kind == "post"], root=self.layout.root)
        self._keep_logs()
        self.action = _action(handler)
        self.say(f"done at {_uptime()}"
                 + (f"; {len(self.failed_scripts)} script(s) failed" if self.failed_scripts
                    else ""))

    # -- steps ----------------------------------------------------------------------------------
    def _scripts(self, scripts: list[KsScript], root: Path | None) -> None:
        env = {"ANA_INSTALL_PATH": str(storage.TARGET)}
        for s in scripts:
            res = run_script(s, root=root, env=env)
            self.say(f"{s.title}: {res.label} in {res.seconds:.1f} s"
                     + (f" ({res.note})" if res.note else ""))
            if res.ok:
                continue
            for line in res.output.strip().splitlines()[-15:]:
                self.say(f"  | {line}")
            if s.error_on_fail:
                raise InstallError(f"script failed (--erroronfail): {res.summary()}")
            self.failed_scripts.append(res)
            if self.reporter is not None:
                self.reporter.post(s.kind if s.kind != "pre-install" else "pre",
                                   f"script failed: {res.summary()}")

    def _packages(self, handler: Any) -> None:
        from pykickstart.constants import KS_MISSING_IGNORE

        assert self.layout is not None
        pk = handler.packages
        repos: list[tuple[str, str | Path]] = []
        base = handler.url.url or self.args.get("inst.repo", "")
        if not base:
            raise InstallError("no installation source: the kickstart has no url and the "
                               "kernel command line no inst.repo=")
        repos.append(("install", base))
        for r in handler.repo.repoList:
            if not r.baseurl:
                raise InstallError(f"kickstart line {r.lineno}: repo {r.name}: only --baseurl "
                                   "is supported by the rocks test installer")
            repos.append((r.name, r.baseurl))
        excluded = list(pk.excludedList)
        names = list(pk.packageList)
        if "kernel" not in excluded and "kernel" not in names:
            names.append("kernel")  # as Anaconda adds it
        groups = [g.name for g in pk.groupList]
        if pk.environment:
            groups.append(f"^{pk.environment}")
        if pk.excludedGroupList:
            raise InstallError("%packages: excluding groups (-@group) is not supported by the "
                               "rocks test installer")
        self.say(f"packages from {base}: {len(names)} named, groups "
                 f"{', '.join(groups) or '-'}, {len(excluded)} excluded")
        res = packages.install(self.layout.root, repos, names, groups, excluded,
                               ignore_missing=pk.handleMissing == KS_MISSING_IGNORE,
                               nodocs=bool(pk.excludeDocs), quiet=False,
                               on_line=lambda ln: self.say(f"  dnf: {ln}") if ln.strip() else None)
        if not res.ok:
            tail = " | ".join(res.output.splitlines()[-6:])
            raise InstallError(f"dnf could not install the packages ({res.returncode}): {tail}")
        self.say(f"packages: {len(packages.installed(self.layout.root))} installed")

    def _keep_logs(self) -> None:
        assert self.layout is not None
        dest = self.layout.root / "var" / "log" / "rocks-installer"
        dest.mkdir(parents=True, exist_ok=True)
        os.chmod(dest, 0o700)
        for src in (Path("/tmp/ks.cfg"), LOG):
            if src.is_file():
                (dest / src.name).write_bytes(src.read_bytes())
                os.chmod(dest / src.name, 0o600)


def _read_net() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in NET.read_text().splitlines():
            key, _, value = line.partition("=")
            out[key] = value
    except OSError:
        pass
    return out


def _action(handler: Any) -> str:
    from pykickstart.constants import KS_REBOOT, KS_SHUTDOWN, KS_WAIT

    action = handler.reboot.action
    if action == KS_REBOOT:
        return "reboot"
    if action == KS_SHUTDOWN:
        cmd = handler.reboot.currentCmd
        return "halt" if cmd == "halt" else "poweroff"
    if action == KS_WAIT:
        return "halt"
    return "halt"  # Anaconda waits for a key; a VM under test is better halted


def main() -> int:
    if not NET.exists():
        # this wipes disks: only where stage 1 (scripts/e2e/stage1-init.sh) set things up
        print("rocks.installer runs only in the test installer's image (no /run/installer-net)",
              file=sys.stderr)
        return 2
    say = Console()
    try:
        cmdline = Path("/proc/cmdline").read_text()
    except OSError:
        cmdline = ""
    installer = Installer(boot_args(cmdline), say)
    say(f"rocks test installer (pykickstart, dnf --installroot) started at {_uptime()}")
    rc = installer.run()
    with contextlib.suppress(OSError):
        ACTION.write_text(installer.action + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
