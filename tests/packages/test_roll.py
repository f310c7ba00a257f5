"""Creating roll ISOs/tarballs and adding rolls and OS media to a roll store."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import pytest

from rocks.errors import RocksError
from rocks.packages.comps import group_ids, load_comps
from rocks.packages.isofs import IsoImage
from rocks.packages.roll import RollFormat, add_roll, create_roll, list_rolls, remove_roll
from tests.packages.conftest import RollDirMaker
from tests.packages.rpmtools import spec_text


def _store_files(store: Path) -> list[str]:
    return sorted(
        str(p.relative_to(store)) for p in store.rglob("*") if p.is_file()
    )


def test_create_iso_layout_and_add(roll_dir: RollDirMaker, tmp_path: Path) -> None:
    src = roll_dir("mail", ["mailx", "postfix-lite"], comps={"mail": ["mailx"]})
    iso = create_roll(src, tmp_path / "out")
    assert iso.name == "mail-1.0-1.x86_64.disk1.iso"
    with IsoImage(iso) as image:
        assert image.files() == [
            ".discinfo",
            "mail/1.0/x86_64/RedHat/RPMS/mailx-1.0-1.noarch.rpm",
            "mail/1.0/x86_64/RedHat/RPMS/postfix-lite-1.0-1.noarch.rpm",
            "mail/1.0/x86_64/RedHat/base/comps.xml",
            "mail/1.0/x86_64/profile/graphs/default/mail.xml",
            "mail/1.0/x86_64/profile/nodes/mail.xml",
            "mail/1.0/x86_64/roll-mail.xml",
        ]
    store = tmp_path / "store"
    rec = add_roll(iso, store)
    assert (rec.name, rec.version, rec.arch, rec.os, rec.release) == (
        "mail", "1.0", "x86_64", "linux", "1",
    )
    assert rec.path == store / "mail" / "1.0" / "x86_64"
    assert rec.boot_kernel is None and rec.boot_initrd is None
    assert _store_files(store) == [
        "mail/1.0/x86_64/RPMS/mailx-1.0-1.noarch.rpm",
        "mail/1.0/x86_64/RPMS/postfix-lite-1.0-1.noarch.rpm",
        "mail/1.0/x86_64/comps.xml",
        "mail/1.0/x86_64/graphs/default/mail.xml",
        "mail/1.0/x86_64/nodes/mail.xml",
        "mail/1.0/x86_64/roll.xml",
    ]
    assert (rec.path / "roll.xml").read_bytes() == (src / "roll.xml").read_bytes()
    assert list_rolls(store) == [rec]


def test_create_tar_builds_specs_and_add(roll_dir: RollDirMaker, tmp_path: Path) -> None:
    src = roll_dir("tools", ["extra"])
    (src / "src").mkdir()
    (src / "src" / "tool.spec").write_text(spec_text("tool", "4.2"))
    tar = create_roll(src, tmp_path / "out", fmt=RollFormat.TAR)
    assert tar.name == "tools-1.0-1.x86_64.disk1.tar.gz"
    with tarfile.open(tar) as tf:
        names = sorted(m.name for m in tf.getmembers() if m.isfile())
    assert "tools/1.0/x86_64/RedHat/RPMS/tool-4.2-1.noarch.rpm" in names
    assert "tools/1.0/x86_64/RedHat/RPMS/extra-1.0-1.noarch.rpm" in names
    rec = add_roll(tar, tmp_path / "store")
    assert sorted(p.name for p in rec.rpms_dir.iterdir()) == [
        "extra-1.0-1.noarch.rpm", "tool-4.2-1.noarch.rpm",
    ]


def test_add_directory_twice_needs_clean(roll_dir: RollDirMaker, tmp_path: Path) -> None:
    store = tmp_path / "store"
    src = roll_dir("hello", ["hello-1.0"])
    add_roll(src, store)
    with pytest.raises(RocksError) as err:
        add_roll(src, store)
    assert err.value.first.code == "roll-exists"
    assert err.value.first.message == f"roll hello 1.0 x86_64 is already in {store}"
    assert "clean=yes" in err.value.first.hint
    # replace the package set and re-add with clean: the new content is there, the old is gone
    (src / "RPMS" / "hello-1.0-1.noarch.rpm").unlink()
    shutil.copyfile(src / "nodes" / "hello.xml", src / "nodes" / "second.xml")
    rec = add_roll(src, store, clean=True)
    assert list(rec.rpms_dir.iterdir()) == []
    assert sorted(p.name for p in (rec.path / "nodes").iterdir()) == ["hello.xml", "second.xml"]
    assert [p.name for p in store.iterdir()] == ["hello"]  # no staging leftovers
    assert remove_roll(store, "hello", "1.0", "x86_64") is True
    assert list_rolls(store) == []
    assert list(store.iterdir()) == []
    assert remove_roll(store, "hello", "1.0", "x86_64") is False


def test_roll_without_roll_xml_adds_nothing(roll_dir: RollDirMaker, tmp_path: Path) -> None:
    store = tmp_path / "store"
    src = roll_dir("bare", ["extra"], roll_xml=False)
    with pytest.raises(RocksError) as err:
        add_roll(src, store)
    assert err.value.first.code == "roll-no-metadata"
    assert err.value.first.message.startswith(f"{src} has no roll.xml")
    assert list(store.iterdir()) == []
    with pytest.raises(RocksError, match=r"has no roll\.xml"):
        create_roll(src, tmp_path / "out")


def test_corrupt_iso(roll_dir: RollDirMaker, tmp_path: Path) -> None:
    store = tmp_path / "store"
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"\0" * 70000)
    with pytest.raises(RocksError) as err:
        add_roll(junk, store)
    assert err.value.first.code == "iso-unreadable"
    assert str(junk) in err.value.first.message
    good = create_roll(roll_dir("mail", ["mailx"]), tmp_path / "out")
    cut = tmp_path / "cut.iso"
    cut.write_bytes(good.read_bytes()[: 40 * 2048])
    with pytest.raises(RocksError) as err:
        add_roll(cut, store)
    assert err.value.first.code == "iso-unreadable"
    assert list(store.iterdir()) == []


def test_unreadable_rpm_is_named(roll_dir: RollDirMaker, tmp_path: Path) -> None:
    store = tmp_path / "store"
    src = roll_dir("mail", ["mailx"])
    bad = src / "RPMS" / "truncated-1.0-1.noarch.rpm"
    bad.write_bytes(b"\xed\xab\xee\xdb" + b"\0" * 50)
    with pytest.raises(RocksError) as err:
        add_roll(src, store)
    assert err.value.first.code == "rpm-unreadable"
    assert "truncated-1.0-1.noarch.rpm" in err.value.first.message
    assert list(store.iterdir()) == []
    with pytest.raises(RocksError, match=r"truncated-1\.0-1\.noarch\.rpm"):
        create_roll(src, tmp_path / "out")


def test_unknown_source(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    with pytest.raises(RocksError, match="neither a directory, an ISO nor a tarball"):
        add_roll(odd, tmp_path / "store")


def _check_os_record(rec_path: Path, kernel: Path | None, initrd: Path | None) -> None:
    assert kernel == rec_path / "images" / "pxeboot" / "vmlinuz"
    assert initrd == rec_path / "images" / "pxeboot" / "initrd.img"
    assert kernel.read_bytes() == b"stand-in kernel\n"
    assert sorted(p.name for p in (rec_path / "RPMS").iterdir()) == [
        "base-files-1.0-1.noarch.rpm", "config-1.0-1.noarch.rpm", "extra-1.0-1.noarch.rpm",
        "rocks-busybox-sh-1.0-1.noarch.rpm",
    ]
    comps = load_comps(rec_path / "comps.xml")
    assert group_ids(comps) == ("core", "server")
    core = next(g for g in comps.groups if g.id == "core")
    assert sorted(p.name for p in core.packages) == ["base-files", "config", "extra"]


def test_os_media_directory(os_media: Path, tmp_path: Path) -> None:
    rec = add_roll(os_media, tmp_path / "store")
    assert (rec.name, rec.version, rec.arch, rec.os) == ("os", "9.4", "x86_64", "linux")
    _check_os_record(rec.path, rec.boot_kernel, rec.boot_initrd)
    assert rec.stage2 == rec.path / "images" / "install.img"
    assert (rec.path / "nodes").is_dir() and (rec.path / "graphs" / "default").is_dir()
    # the source tree is left untouched
    assert (os_media / "BaseOS" / "Packages" / "c" / "config-1.0-1.noarch.rpm").is_file()


def test_os_media_iso(os_iso: Path, tmp_path: Path) -> None:
    rec = add_roll(os_iso, tmp_path / "store")
    assert (rec.name, rec.version) == ("os", "9.4")
    _check_os_record(rec.path, rec.boot_kernel, rec.boot_initrd)
    assert os.listdir(tmp_path / "store") == ["os"]
    with pytest.raises(RocksError, match=r"roll os 9\.4 x86_64 is already in"):
        add_roll(os_iso, tmp_path / "store")
    assert add_roll(os_iso, tmp_path / "store", clean=True) == rec
