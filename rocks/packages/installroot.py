"""Installing packages into a directory tree (an "installroot") with the dnf command line.

Offline and isolated from the host: no host repositories or dnf config, a private HOME whose
~/.rpmmacros puts the rpmdb at /var/lib/rpm (Debian's rpm defaults to ~/.rpmdb), and a
/dev/null inside the root so scriptlets can redirect to it. dnf needs root privileges here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rocks.errors import RocksError, SourceLocation
from rocks.packages.depsolve import repo_url


@dataclass(frozen=True, slots=True)
class InstallResult:
    root: Path
    returncode: int
    installed: tuple[str, ...]  # NEVRAs found in the root's rpmdb afterwards, sorted
    output: str  # dnf's stdout and stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _dev_null(root: Path) -> None:
    dev = root / "dev"
    dev.mkdir(parents=True, exist_ok=True)
    null = dev / "null"
    if null.exists():
        return
    try:
        os.mknod(null, 0o666 | 0o020000, os.makedev(1, 3))
        os.chmod(null, 0o666)
    except OSError:  # without CAP_MKNOD scriptlets just lose their redirected output
        pass


def query_root(root: Path) -> tuple[str, ...]:
    """NEVRAs installed in `root` (its rpmdb at /var/lib/rpm), sorted."""
    proc = subprocess.run(
        ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa",
         "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n"],
        capture_output=True, text=True, check=False,
    )
    lines = [ln.replace("-0:", "-", 1) for ln in proc.stdout.split()]
    return tuple(sorted(lines))


def install_into(
    root: Path, repo: str | Path, packages: Sequence[str], groups: Sequence[str] = (),
    excluded: Sequence[str] = (), *, releasever: str = "9", noscripts: bool = False,
    timeout: float = 900.0,
) -> InstallResult:
    """`dnf install` packages and @groups from `repo` into the directory `root`."""
    dnf = shutil.which("dnf")
    if dnf is None:
        raise RocksError.of("dnf-missing", "dnf is not installed",
                            hint="install the Debian package 'dnf'")
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    _dev_null(root)
    with tempfile.TemporaryDirectory(prefix="rocks-installroot-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
        config = Path(tmp) / "dnf.conf"
        config.write_text("[main]\ngpgcheck=0\ninstall_weak_deps=False\n")
        cmd = [
            dnf, "-y", "--quiet", f"--releasever={releasever}", f"--config={config}",
            "--setopt=reposdir=/dev/null", "--disablerepo=*", "--nogpgcheck",
            f"--setopt=cachedir={tmp}/cache", f"--installroot={root}",
            f"--repofrompath=rocks,{repo_url(repo)}", "--enablerepo=rocks",
        ]
        cmd += [f"--exclude={e}" for e in excluded]
        if noscripts:
            cmd.append("--setopt=tsflags=noscripts")
        cmd += ["install", *packages, *(f"@{g.removeprefix('@')}" for g in groups)]
        env = {**os.environ, "HOME": str(home), "LC_ALL": "C.UTF-8"}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise RocksError.of("install-timeout",
                                f"dnf install into {root} took longer than {timeout:.0f} s",
                                SourceLocation(str(root))) from exc
    output = (proc.stdout + proc.stderr).strip()
    return InstallResult(root, proc.returncode, query_root(root), output)
