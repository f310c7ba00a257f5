"""Comps (package group) files with libcomps: load with located errors, merge by group id."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import libcomps

from rocks.errors import RocksError, SourceLocation

_COMPRESSED = (".gz", ".xz", ".bz2", ".zst")


def _invalid(path: Path, detail: str) -> RocksError:
    return RocksError.of(
        "comps-invalid", f"cannot parse comps file {path}: {detail}", SourceLocation(str(path)),
        hint="each <group> needs <id>, <name> and a <packagelist> of <packagereq>",
    )


def load_comps(path: Path) -> Any:
    """A libcomps.Comps from `path` (plain or compressed XML); RocksError naming the file."""
    comps = libcomps.Comps()
    with tempfile.TemporaryDirectory(prefix="rocks-comps-") as tmp:
        opened = path
        if path.suffix in _COMPRESSED:
            import createrepo_c

            opened = Path(tmp) / path.stem
            try:
                createrepo_c.decompress_file(
                    str(path), str(opened), createrepo_c.AUTO_DETECT_COMPRESSION
                )
            except Exception as exc:  # createrepo_c raises its own untyped errors
                raise _invalid(path, str(exc)) from exc
        try:
            rc = comps.fromxml_f(str(opened))
        except (libcomps.ParserError, OSError) as exc:
            raise _invalid(path, str(exc)) from exc
    if rc and any(not g.id for g in comps.groups):
        raise _invalid(path, "; ".join(e.strip() for e in comps.get_last_errors()[:5]))
    return comps


def merge_comps(paths: Iterable[Path]) -> Any:
    """Union of all groups, categories and environments; a later file adds to earlier groups."""
    merged = libcomps.Comps()
    for path in paths:
        merged = merged + load_comps(path)
    return merged


def group_ids(comps: Any) -> tuple[str, ...]:
    return tuple(sorted(g.id for g in comps.groups))


def write_comps(comps: Any, path: Path) -> None:
    comps.xml_f(str(path))
