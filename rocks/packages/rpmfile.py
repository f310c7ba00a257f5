"""Reading RPM package headers without installing anything, and comparing versions.

The only place (with build/distro helpers) that touches the `rpm` bindings for package files:
callers get plain `RpmInfo` values and `compare_evr`, which uses rpm's own ordering.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import rpm

from rocks.errors import RocksError, SourceLocation

_SENSE = ((rpm.RPMSENSE_LESS, "<"), (rpm.RPMSENSE_GREATER, ">"), (rpm.RPMSENSE_EQUAL, "="))


@dataclass(frozen=True, slots=True)
class RpmInfo:
    """What the header of one package file says about it."""

    path: Path
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    summary: str
    provides: tuple[str, ...]
    requires: tuple[str, ...]
    source: bool = False

    @property
    def evr(self) -> str:
        head = f"{self.epoch}:" if self.epoch else ""
        return f"{head}{self.version}-{self.release}"

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"

    def evr_tuple(self) -> tuple[str, str, str]:
        return (str(self.epoch or 0), self.version, self.release)


@functools.cache
def _ts() -> rpm.TransactionSet:
    # Header reads need no rpmdb; skip signature/digest checks (no keys on a build host,
    # and a payload digest would mean reading the whole file).
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    return ts


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _deps(hdr: rpm.hdr, name_tag: int, flags_tag: int, ver_tag: int) -> tuple[str, ...]:
    names = hdr[name_tag] or []
    flags = hdr[flags_tag] or []
    versions = hdr[ver_tag] or []
    out: list[str] = []
    for i, raw in enumerate(names):
        dep = _text(raw)
        if dep.startswith("rpmlib("):
            continue  # rpm's internal feature markers, never satisfied by a package
        flag = flags[i] if i < len(flags) else 0
        ver = _text(versions[i]) if i < len(versions) else ""
        op = "".join(sym for bit, sym in _SENSE if flag & bit)
        out.append(f"{dep} {op} {ver}" if op and ver else dep)
    return tuple(dict.fromkeys(out))


def read_rpm(path: Path) -> RpmInfo:
    """The header of the package file at `path`; RocksError naming the file if unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise RocksError.of(
            "rpm-unreadable", f"cannot open package {path}: {exc.strerror}",
            SourceLocation(str(path)),
        ) from exc
    try:
        hdr = _ts().hdrFromFdno(fd)
    except (rpm.error, OSError) as exc:
        raise RocksError.of(
            "rpm-unreadable", f"not a readable RPM package: {path} ({exc})",
            SourceLocation(str(path)),
            hint="the file is truncated or corrupt; rebuild or re-download it",
        ) from exc
    finally:
        os.close(fd)
    epoch = hdr[rpm.RPMTAG_EPOCH]
    return RpmInfo(
        path=Path(path),
        name=_text(hdr[rpm.RPMTAG_NAME]),
        epoch=int(epoch) if epoch is not None else None,
        version=_text(hdr[rpm.RPMTAG_VERSION]),
        release=_text(hdr[rpm.RPMTAG_RELEASE]),
        arch=_text(hdr[rpm.RPMTAG_ARCH]),
        summary=_text(hdr[rpm.RPMTAG_SUMMARY]),
        provides=_deps(hdr, rpm.RPMTAG_PROVIDENAME, rpm.RPMTAG_PROVIDEFLAGS,
                       rpm.RPMTAG_PROVIDEVERSION),
        requires=_deps(hdr, rpm.RPMTAG_REQUIRENAME, rpm.RPMTAG_REQUIREFLAGS,
                       rpm.RPMTAG_REQUIREVERSION),
        source=not hdr[rpm.RPMTAG_SOURCERPM],
    )


def compare_evr(a: RpmInfo | tuple[str, str, str], b: RpmInfo | tuple[str, str, str]) -> int:
    """-1, 0 or 1 as rpm orders the (epoch, version, release) of `a` against `b`."""
    ta = a.evr_tuple() if isinstance(a, RpmInfo) else a
    tb = b.evr_tuple() if isinstance(b, RpmInfo) else b
    return int(rpm.labelCompare(ta, tb))
