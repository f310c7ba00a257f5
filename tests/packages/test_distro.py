"""Building the distribution from rolls, and depsolving / installing against it with dnf."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rocks.errors import RocksError
from rocks.packages.comps import load_comps
from rocks.packages.depsolve import Problem, ProblemKind, depsolve
from rocks.packages.distro import STAMP, create_distro
from rocks.packages.roll import RollRecord, add_roll
from tests.packages.conftest import RollDirMaker


@pytest.fixture
def rolls(roll_dir: RollDirMaker, os_media: Path, tmp_path: Path) -> list[RollRecord]:
    store = tmp_path / "store"
    os_roll = add_roll(os_media, store)
    old = add_roll(roll_dir("old", ["hello-1.0", "mailx"], comps={"mail": ["mailx"]}), store)
    new = add_roll(
        roll_dir("new", ["hello-2.0", "postfix-lite"], comps={"mail": ["postfix-lite"],
                                                              "core": ["hello"]}),
        store,
    )
    # hello-2.0 is the *older* file: the version decides, not the file time
    os.utime(new.rpms_dir / "hello-2.0-1.noarch.rpm", (1_000_000, 1_000_000))
    return [os_roll, old, new]


def _rpms(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "RPMS").iterdir())


def test_highest_version_wins_and_comps_merge(rolls: list[RollRecord], tmp_path: Path) -> None:
    seen: list[str] = []
    out = tmp_path / "distro"
    res = create_distro(rolls, out, progress=lambda stage, done, total: seen.append(stage))
    assert res.unchanged is False
    assert res.packages == 7
    assert _rpms(out) == [
        "base-files-1.0-1.noarch.rpm", "config-1.0-1.noarch.rpm", "extra-1.0-1.noarch.rpm",
        "hello-2.0-1.noarch.rpm", "mailx-1.0-1.noarch.rpm", "postfix-lite-1.0-1.noarch.rpm",
        "rocks-busybox-sh-1.0-1.noarch.rpm",
    ]
    assert res.superseded == (str(rolls[1].rpms_dir / "hello-1.0-1.noarch.rpm"),)
    # linked, not copied
    assert (out / "RPMS" / "hello-2.0-1.noarch.rpm").stat().st_ino == (
        rolls[2].rpms_dir / "hello-2.0-1.noarch.rpm").stat().st_ino
    assert res.groups == ("core", "mail", "server")
    comps = load_comps(out / "comps.xml")
    members = {g.id: sorted(p.name for p in g.packages) for g in comps.groups}
    assert members == {
        "core": ["base-files", "config", "extra", "hello"],
        "mail": ["mailx", "postfix-lite"],
        "server": ["extra"],
    }
    assert res.boot_kernel == out / "images" / "pxeboot" / "vmlinuz"
    assert res.boot_kernel.read_bytes() == b"stand-in kernel\n"
    assert (out / "images" / "pxeboot" / "initrd.img").read_bytes() == b"stand-in initrd\n"
    assert (out / "images" / "install.img").is_file()
    assert "mainimage = images/install.img" in (out / ".treeinfo").read_text()
    assert any(p.name.endswith("comps.xml") for p in (out / "repodata").iterdir())
    assert seen[0] == "scan" and seen[-1] == "done" and "repodata" in seen
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unchanged_rerun_does_no_work(rolls: list[RollRecord], tmp_path: Path) -> None:
    out = tmp_path / "distro"
    create_distro(rolls, out)
    repomd = (out / "repodata" / "repomd.xml").stat()
    again = create_distro(rolls, out)  # how long it takes: bench/distro.py ("no change")
    assert again.unchanged is True
    assert again.packages == 7 and again.groups == ("core", "mail", "server")
    assert (out / "repodata" / "repomd.xml").stat().st_mtime_ns == repomd.st_mtime_ns
    # a changed input rebuilds, and the swap leaves a complete tree
    os.utime(rolls[1].rpms_dir / "mailx-1.0-1.noarch.rpm")
    third = create_distro(rolls, out)
    assert third.unchanged is False
    assert (out / STAMP).is_file() and len(_rpms(out)) == 7
    # dropping a roll drops its packages
    fourth = create_distro(rolls[:2], out)
    assert fourth.unchanged is False
    assert "postfix-lite-1.0-1.noarch.rpm" not in _rpms(out)
    assert "hello-1.0-1.noarch.rpm" in _rpms(out)


def test_bad_rpm_in_store_fails_and_keeps_old_distro(
    rolls: list[RollRecord], tmp_path: Path
) -> None:
    out = tmp_path / "distro"
    create_distro(rolls, out)
    bad = rolls[2].rpms_dir / "zz-bad-1.0-1.noarch.rpm"
    bad.write_bytes(b"not an rpm")
    with pytest.raises(RocksError) as err:
        create_distro(rolls, out)
    assert err.value.first.code == "rpm-unreadable"
    assert str(bad) in err.value.first.message
    assert len(_rpms(out)) == 7


def test_depsolve_group_and_virtual_provides(rolls: list[RollRecord], tmp_path: Path) -> None:
    out = tmp_path / "distro"
    create_distro(rolls, out)
    res = depsolve(out, ["mailx"], ["core"], [])
    assert res.problems == ()
    assert res.install == (
        "base-files-1.0-1.noarch", "config-1.0-1.noarch", "extra-1.0-1.noarch",
        "hello-2.0-1.noarch", "mailx-1.0-1.noarch", "postfix-lite-1.0-1.noarch",
        "rocks-busybox-sh-1.0-1.noarch",
    )


def test_depsolve_reports_every_problem(rolls: list[RollRecord], tmp_path: Path) -> None:
    out = tmp_path / "distro"
    create_distro(rolls[:2], out)  # without the roll that provides mta
    res = depsolve(out, ["nosuch-a", "mailx", "nosuch-b", "hello"], ["core", "nogroup"],
                   ["rocks-busybox-*"])
    assert res.install == ()
    assert res.problems == (
        Problem(ProblemKind.MISSING, "@nogroup", "no group nogroup in the repository",
                "@nogroup"),
        Problem(ProblemKind.MISSING, "nosuch-a", "cannot install nosuch-a: no package provides it",
                "nosuch-a"),
        Problem(ProblemKind.MISSING, "nosuch-b", "cannot install nosuch-b: no package provides it",
                "nosuch-b"),
        Problem(ProblemKind.BROKEN, "config",
                "package config-1.0-1.noarch requires /bin/sh, but none of the providers can be "
                "installed; package rocks-busybox-sh-1.0-1.noarch is filtered out by exclude "
                "filtering", "@core"),
        Problem(ProblemKind.BROKEN, "mailx", "nothing provides mta needed by mailx-1.0-1.noarch",
                "mailx"),
    )


def test_depsolve_conflict(tmp_path: Path) -> None:
    from tests.packages.rpmtools import make_rpm

    repo = tmp_path / "repo"
    make_rpm("left", dest=repo, conflicts=["right"])
    make_rpm("right", dest=repo)
    rec = add_roll(_roll_of(repo, tmp_path / "roll"), tmp_path / "store")
    create_distro([rec], tmp_path / "distro")
    res = depsolve(tmp_path / "distro", ["left", "right"])
    assert [(p.kind, p.name) for p in res.problems] == [(ProblemKind.CONFLICT, "left")]
    assert "conflicts with right" in res.problems[0].message


def _roll_of(rpm_dir: Path, root: Path) -> Path:
    (root / "RPMS").mkdir(parents=True)
    for p in rpm_dir.iterdir():
        os.link(p, root / "RPMS" / p.name)
    (root / "roll.xml").write_text(
        '<roll name="pair"><info version="1" arch="x86_64" os="linux"/></roll>\n'
    )
    return root


def test_depsolve_bad_repo(tmp_path: Path) -> None:
    with pytest.raises(RocksError) as err:
        depsolve(tmp_path / "nothing-here", ["x"])
    assert err.value.first.code == "depsolve-failed"
    assert "cannot load the repository" in err.value.first.message
