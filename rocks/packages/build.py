"""Building binary RPMs from spec files with rpmbuild, in a private throwaway _topdir.

Used by `rocks create roll` for rolls carrying `src/*.spec` and by the test fixtures.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rocks.errors import RocksError, SourceLocation

_TAIL_LINES = 12


def rpmbuild_binary() -> str:
    found = shutil.which("rpmbuild")
    if not found:
        raise RocksError.of(
            "rpmbuild-missing", "rpmbuild is not installed",
            hint="install the Debian package 'rpm' (apt-get install rpm)",
        )
    return found


def build_spec(
    spec: Path, out_dir: Path, *, defines: Sequence[tuple[str, str]] = (), timeout: float = 600.0,
) -> list[Path]:
    """Build the binary packages of one spec file into `out_dir`; returns them sorted."""
    spec = spec.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rocks-rpmbuild-") as tmp:
        top = Path(tmp)
        for sub in ("BUILD", "BUILDROOT", "RPMS", "SOURCES", "SPECS", "SRPMS"):
            (top / sub).mkdir()
        cmd = [
            rpmbuild_binary(), "-bb", "--quiet",
            "--define", f"_topdir {top}",
            "--define", f"_sourcedir {spec.parent}",
            "--define", "_build_id_links none",
        ]
        for key, value in defines:
            cmd += ["--define", f"{key} {value}"]
        cmd.append(str(spec))
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise RocksError.of(
                "rpmbuild-failed", f"rpmbuild of {spec.name} took longer than {timeout:.0f} s",
                SourceLocation(str(spec)),
            ) from exc
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-_TAIL_LINES:])
            raise RocksError.of(
                "rpmbuild-failed",
                f"rpmbuild of {spec.name} failed (exit {proc.returncode}):\n{tail}",
                SourceLocation(str(spec)),
            )
        built = sorted((top / "RPMS").glob("*/*.rpm"))
        results = []
        for rpm_path in built:
            dest = out_dir / rpm_path.name
            shutil.move(rpm_path, dest)
            results.append(dest)
        return results


def build_rpms(spec_dir: Path, out_dir: Path, *, timeout: float = 600.0) -> list[Path]:
    """Build every `*.spec` in `spec_dir` (sorted by name) into `out_dir`."""
    specs = sorted(spec_dir.glob("*.spec"))
    if not specs:
        raise RocksError.of(
            "rpmbuild-no-specs", f"no *.spec files in {spec_dir}", SourceLocation(str(spec_dir)),
        )
    results: list[Path] = []
    for spec in specs:
        results.extend(build_spec(spec, out_dir, timeout=timeout))
    return sorted(results)
