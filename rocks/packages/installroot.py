"""Installing packages into a directory tree (an "installroot") with the dnf command line.

The work is `rocks.installer.packages.install`, the same call the test installer makes on a
node; this wrapper turns its failures into RocksErrors for the commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rocks.errors import RocksError, SourceLocation
from rocks.installer import packages as dnf


@dataclass(frozen=True, slots=True)
class InstallResult:
    root: Path
    returncode: int
    installed: tuple[str, ...]  # NEVRAs found in the root's rpmdb afterwards, sorted
    output: str  # dnf's stdout and stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def query_root(root: Path) -> tuple[str, ...]:
    """NEVRAs installed in `root` (its rpmdb at /var/lib/rpm), sorted."""
    return dnf.installed(root)


def install_into(
    root: Path, repo: str | Path, packages: Sequence[str], groups: Sequence[str] = (),
    excluded: Sequence[str] = (), *, releasever: str = "9", noscripts: bool = False,
    timeout: float = 900.0,
) -> InstallResult:
    """`dnf install` packages and @groups from `repo` into the directory `root`."""
    try:
        res = dnf.install(Path(root), [("rocks", repo)], packages, groups, excluded,
                          releasever=releasever, noscripts=noscripts, timeout=timeout)
    except dnf.DnfMissing as exc:
        raise RocksError.of("dnf-missing", str(exc), hint="install the Debian package 'dnf'"
                            ) from exc
    except TimeoutError as exc:
        raise RocksError.of("install-timeout", str(exc), SourceLocation(str(root))) from exc
    return InstallResult(res.root, res.returncode, query_root(res.root), res.output)
