"""Installing a %packages set into a directory tree with the dnf command line (--installroot).

Offline and isolated from the machine it runs on: no host repositories or dnf configuration, a
private HOME whose ~/.rpmmacros puts the rpmdb at /var/lib/rpm (Debian's rpm defaults to
~/.rpmdb), and a /dev/null inside the root so scriptlets can redirect to it. dnf needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DnfResult:
    root: Path
    returncode: int
    output: str  # dnf's stdout and stderr
    command: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class DnfMissing(RuntimeError):
    """dnf is not installed where the install runs."""


def repo_url(repo: str | Path) -> str:
    text = str(repo)
    return text if "://" in text else Path(text).absolute().as_uri()


def ensure_dev_null(root: Path) -> None:
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


def installed(root: Path) -> tuple[str, ...]:
    """NEVRAs installed in `root` (its rpmdb at /var/lib/rpm), sorted."""
    proc = subprocess.run(
        ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa",
         "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n"],
        capture_output=True, text=True, check=False,
    )
    return tuple(sorted(ln.replace("-0:", "-", 1) for ln in proc.stdout.split()))


def install(
    root: Path, repos: Sequence[tuple[str, str | Path]], packages: Sequence[str],
    groups: Sequence[str] = (), excluded: Sequence[str] = (), *, releasever: str = "9",
    noscripts: bool = False, nodocs: bool = False, ignore_missing: bool = False,
    quiet: bool = True, timeout: float = 3600.0, on_line: Callable[[str], None] | None = None,
) -> DnfResult:
    """`dnf install` packages and @groups from `repos` ((name, url or path), …) into `root`.
    With `on_line`, dnf's output is handed over line by line as it comes."""
    dnf = shutil.which("dnf")
    if dnf is None:
        raise DnfMissing("dnf is not installed")
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    ensure_dev_null(root)
    with tempfile.TemporaryDirectory(prefix="rocks-dnf-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
        config = Path(tmp) / "dnf.conf"
        config.write_text("[main]\ngpgcheck=0\ninstall_weak_deps=False\n")
        cmd = [dnf, "-y", f"--releasever={releasever}", f"--config={config}",
               "--setopt=reposdir=/dev/null", "--disablerepo=*", "--nogpgcheck",
               f"--setopt=cachedir={tmp}/cache", f"--installroot={root}"]
        if quiet:
            cmd.append("--quiet")
        for name, url in repos:
            cmd += [f"--repofrompath={name},{repo_url(url)}", f"--enablerepo={name}"]
        cmd += [f"--exclude={e}" for e in excluded]
        flags = [f for f, on in (("noscripts", noscripts), ("nodocs", nodocs)) if on]
        if flags:
            cmd.append(f"--setopt=tsflags={','.join(flags)}")
        if ignore_missing:
            cmd.append("--setopt=strict=False")
        cmd += ["install", *packages, *(f"@{g.removeprefix('@')}" for g in groups)]
        env = {**os.environ, "HOME": str(home), "LC_ALL": "C.UTF-8"}
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env,
                                errors="replace", start_new_session=True)
        lines: list[str] = []
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            proc.kill()

        watchdog = threading.Timer(timeout, expire)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if fired.is_set():
            raise TimeoutError(f"dnf install into {root} took longer than {timeout:.0f} s")
    return DnfResult(root, proc.returncode, "".join(lines).strip(), tuple(cmd))
