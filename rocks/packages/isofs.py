"""ISO 9660 images without mounting: write a directory tree as an ISO, list and extract one.

Uses pycdlib (pure Python), so no loop devices and no root privileges are needed. Names are kept
through Rock Ridge; images without it are read through Joliet or plain ISO 9660 names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from rocks.errors import RocksError, SourceLocation


def _unreadable(path: Path, exc: Exception) -> RocksError:
    return RocksError.of(
        "iso-unreadable", f"not a readable ISO image: {path} ({exc})", SourceLocation(str(path)),
        hint="the image is truncated or corrupt; re-create or re-download it",
    )


def write_iso(tree: Path, out: Path, volume_id: str) -> None:
    """Write every file and directory under `tree` into a new ISO image at `out`."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, rock_ridge="1.09", vol_ident=volume_id[:32])
    try:
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            rel = Path(dirpath).relative_to(tree)
            base = "/" + rel.as_posix() if rel.parts else ""
            for d in dirnames:
                iso.add_directory(f"{base}/{d}", rr_name=d)
            for f in sorted(filenames):
                iso.add_file(str(Path(dirpath) / f), f"{base}/{f}", rr_name=f)
        tmp = out.with_name(f".{out.name}.part")
        iso.write(str(tmp))
        os.replace(tmp, out)
    finally:
        iso.close()


class IsoImage:
    """An open ISO image: `files()` lists regular files, `extract()` copies some out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(path))
        except (PyCdlibException, OSError, ValueError, IndexError) as exc:
            raise _unreadable(path, exc) from exc
        declared = self._iso.pvd.space_size * self._iso.pvd.log_block_size
        actual = path.stat().st_size
        if actual < declared:
            self._iso.close()
            raise _unreadable(path, ValueError(f"truncated: {actual} of {declared} bytes"))
        if self._iso.has_rock_ridge():
            self._key = "rr_path"
        elif self._iso.has_joliet():
            self._key = "joliet_path"
        else:
            self._key = "iso_path"

    def __enter__(self) -> IsoImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self._iso.close()

    def _clean(self, name: str) -> str:
        # Plain ISO 9660 names carry a ";1" version suffix and may end in a bare dot.
        if self._key == "iso_path":
            name = name.split(";", 1)[0].rstrip(".").lower()
        return name

    def files(self) -> list[str]:
        """Relative paths of all regular files (symlinks skipped), sorted."""
        out: list[str] = []
        try:
            for dirname, _dirs, filenames in self._iso.walk(**{self._key: "/"}):
                for name in filenames:
                    full = f"{dirname.rstrip('/')}/{name}"
                    record = self._iso.get_record(**{self._key: full})
                    if self._key == "rr_path" and record.is_symlink():
                        continue
                    out.append(full.lstrip("/"))
        except (PyCdlibException, OSError, ValueError, IndexError) as exc:
            raise _unreadable(self.path, exc) from exc
        return sorted(out)

    def extract(self, dest: Path, want: Callable[[str], bool] = lambda _p: True) -> list[str]:
        """Copy the files for which `want(relative path)` is true under `dest`; returns them."""
        done: list[str] = []
        for rel in self.files():
            if not want(self._clean(rel)):
                continue
            target = dest / self._clean(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._iso.get_file_from_iso(str(target), **{self._key: "/" + rel})
            except (PyCdlibException, OSError, ValueError, IndexError) as exc:
                raise _unreadable(self.path, exc) from exc
            done.append(self._clean(rel))
        return done


def is_iso(path: Path) -> bool:
    """True if `path` looks like an ISO 9660 image (the "CD001" volume descriptor magic)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0x8001)
            return fh.read(5) == b"CD001"
    except OSError:
        return False
