"""Reading real RPM headers, rpm's version ordering, and rpmbuild error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocks.errors import RocksError
from rocks.packages.build import build_rpms
from rocks.packages.rpmfile import compare_evr, read_rpm
from tests.packages.rpmtools import spec_text


def test_header_fields(rpms: dict[str, Path]) -> None:
    info = read_rpm(rpms["mailx"])
    assert (info.name, info.epoch, info.version, info.release, info.arch) == (
        "mailx", None, "1.0", "1", "noarch",
    )
    assert info.nevra == "mailx-1.0-1.noarch"
    assert info.summary == "rocks test package mailx"
    assert info.requires == ("mta",)
    assert info.source is False
    mta = read_rpm(rpms["postfix-lite"])
    assert mta.provides == ("mta", "postfix-lite = 1.0-1", "smtpdaemon")


def test_scriptlet_adds_bin_sh_requirement(rpms: dict[str, Path]) -> None:
    assert read_rpm(rpms["config"]).requires == ("/bin/sh", "base-files")


def test_corrupt_rpm_names_the_file(tmp_path: Path, rpms: dict[str, Path]) -> None:
    bad = tmp_path / "broken-1.0-1.noarch.rpm"
    bad.write_bytes(rpms["hello-1.0"].read_bytes()[:90])
    with pytest.raises(RocksError) as err:
        read_rpm(bad)
    assert err.value.first.code == "rpm-unreadable"
    assert str(bad) in err.value.first.message
    missing = tmp_path / "nope.rpm"
    with pytest.raises(RocksError, match=r"cannot open package .*nope\.rpm"):
        read_rpm(missing)


def test_compare_evr_uses_rpm_ordering(rpms: dict[str, Path]) -> None:
    one, two = read_rpm(rpms["hello-1.0"]), read_rpm(rpms["hello-2.0"])
    assert compare_evr(two, one) == 1
    assert compare_evr(one, two) == -1
    assert compare_evr(one, one) == 0
    assert compare_evr(("0", "1.10", "1"), ("0", "1.9", "1")) == 1  # not string order
    assert compare_evr(("1", "1.0", "1"), ("0", "9.0", "1")) == 1  # epoch wins
    assert compare_evr(("0", "1.0~rc1", "1"), ("0", "1.0", "1")) == -1


def test_build_rpms(tmp_path: Path) -> None:
    specs = tmp_path / "src"
    specs.mkdir()
    (specs / "b.spec").write_text(spec_text("bee", "3.1", requires=["ant"]))
    (specs / "a.spec").write_text(spec_text("ant", "0.5"))
    out = build_rpms(specs, tmp_path / "out")
    assert [p.name for p in out] == ["ant-0.5-1.noarch.rpm", "bee-3.1-1.noarch.rpm"]
    assert read_rpm(out[1]).requires == ("ant",)


def test_build_failure_carries_rpmbuild_stderr(tmp_path: Path) -> None:
    specs = tmp_path / "src"
    specs.mkdir()
    (specs / "bad.spec").write_text(spec_text("bad").replace("%install", "%install\nexit 7"))
    with pytest.raises(RocksError) as err:
        build_rpms(specs, tmp_path / "out")
    diag = err.value.first
    assert diag.code == "rpmbuild-failed"
    assert diag.location is not None and diag.location.file.endswith("bad.spec")
    assert "rpmbuild of bad.spec failed (exit 1)" in diag.message
    assert "Bad exit status" in diag.message


def test_build_without_specs(tmp_path: Path) -> None:
    with pytest.raises(RocksError, match=r"no \*\.spec files"):
        build_rpms(tmp_path, tmp_path / "out")
