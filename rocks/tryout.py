"""Trying a compiled profile without a reinstall: its packages installed into a directory with dnf
from the distribution, then its %post scripts run chrooted there one by one, each reported with
its exit status and the node file and line it came from. Both steps are the test installer's
own (`rocks.installer.packages`, `rocks.installer.scripts`): a trial runs what a node runs.

`--nochroot` scripts are not run: they expect the installer's environment (/mnt/sysimage) and
would run on this machine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rocks.errors import RocksError, SourceLocation
from rocks.installer.scripts import DEFAULT_INTERPRETER, KsScript
from rocks.installer.scripts import run_script as run_ks_script
from rocks.model.profile import SLOT_CLOSE, SLOT_OPEN, Origin, Profile, Script
from rocks.packages.installroot import InstallResult, install_into

_SLOT = re.compile(f"{SLOT_OPEN}([^{SLOT_CLOSE}]*){SLOT_CLOSE}")


@dataclass(frozen=True, slots=True)
class ScriptRun:
    index: int  # 1-based, in kickstart order
    origin: Origin
    interpreter: str
    status: int | None  # exit status; None when not run
    output: str
    note: str = ""  # why it was not run, or what went wrong around it

    @property
    def ok(self) -> bool:
        return self.status == 0 or (self.status is None and not self.note.startswith("error"))

    @property
    def label(self) -> str:
        if self.status is None:
            return "skipped" if self.ok else "error"
        return "ok" if self.status == 0 else f"exit {self.status}"


@dataclass(frozen=True, slots=True)
class TryResult:
    root: Path
    install: InstallResult
    scripts: tuple[ScriptRun, ...]

    @property
    def failed(self) -> tuple[ScriptRun, ...]:
        return tuple(s for s in self.scripts if not s.ok)


def fill_slots(text: str, values: Mapping[str, str]) -> str:
    """The script text with its attribute slots replaced by `values` (missing ones: empty)."""
    return _SLOT.sub(lambda m: values.get(m.group(1), ""), text)


def _interpreter(script: Script) -> str:
    if script.interpreter:
        return script.interpreter
    m = re.search(r"--interpreter[= ](\S+)", script.args)
    return m.group(1) if m else DEFAULT_INTERPRETER


def as_ks_script(script: Script, values: Mapping[str, str]) -> KsScript:
    """The profile's script as the installer runs it (attribute slots filled in)."""
    args = script.args.split()
    log = next((a.split("=", 1)[1] for a in args if a.startswith("--log=")), "")
    return KsScript(script.kind.value, fill_slots(script.body, values), _interpreter(script),
                    chroot="--nochroot" not in args, log=log,
                    error_on_fail="--erroronfail" in args, lineno=script.origin.line)


def run_script(root: Path, index: int, script: Script, values: Mapping[str, str],
               timeout: float) -> ScriptRun:
    """Run one %post chrooted in `root`, as the installer does on a node."""
    ks = as_ks_script(script, values)
    if not ks.chroot:
        return ScriptRun(index, script.origin, ks.interp, None, "",
                         "--nochroot: runs outside the installed system, not tried")
    res = run_ks_script(ks, root=root, timeout=timeout, env={"LANG": "C"})
    note = res.note.replace("the installed system", "the root")
    return ScriptRun(index, script.origin, ks.interp, res.status, res.output.strip(), note)


def try_profile(profile: Profile, values: Mapping[str, str], root: Path, repo: Path, *,
                script_timeout: float = 120.0) -> TryResult:
    """Install the profile's %packages from `repo` into `root`, then run its %post scripts."""
    if os.geteuid() != 0:
        raise RocksError.of("try-needs-root",
                            "installing into a directory and chrooting need root",
                            hint="run it as root (sudo)")
    if not (repo / "repodata").is_dir():
        raise RocksError.of("no-distro", f"no distribution at {repo}",
                            hint="rocks create distro")
    pkgs = [p.name for p in profile.packages if not p.name.startswith("@")]
    groups = [p.name[1:] for p in profile.packages if p.name.startswith("@")]
    excluded = [p.name for p in profile.excluded]
    result = install_into(root, repo, pkgs, groups, excluded)
    if not result.ok:
        tail = "\n".join(result.output.splitlines()[-15:])
        raise RocksError.of("try-install-failed",
                            f"dnf could not install the profile into {root}:\n{tail}",
                            SourceLocation(str(root)),
                            hint="rocks check appliance shows each missing package's node file")
    runs = tuple(run_script(root, i, s, values, script_timeout)
                 for i, s in enumerate(profile.post, start=1))
    return TryResult(root, result, runs)


def report_table(result: TryResult) -> str:
    """SCRIPT ORIGIN STATUS, one row per %post, then the output of each failed one."""
    rows = [("SCRIPT", "ORIGIN", "STATUS")]
    rows += [(f"post-{r.index:02d} {r.interpreter}",
              f"{r.origin.roll}:{r.origin.file}:{r.origin.line}", r.label)
             for r in result.scripts]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]
    for r in result.failed:
        lines += ["", f"--- post-{r.index:02d} ({r.origin}): {r.label}"]
        if r.note:
            lines.append(r.note)
        if r.output:
            lines.append(r.output)
    return "\n".join(lines) + "\n"
