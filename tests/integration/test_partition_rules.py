"""Rocks' partition rules of the base roll, executed on a real (loop) disk in seconds: the %pre
of the compiled compute kickstart decides, the test installer's storage step lays out, formats
and mounts what the chosen shape says.

First install: a new layout. Reinstall: the layout is found, /, /var, /boot and swap are
reformatted in place and the data partition is kept with its files. nukedisks=yes: a new layout
again. On UEFI the kept layout reformats the EFI system partition the %pre found. The %pre runs
in a private mount namespace (its /tmp and, for UEFI, /sys/firmware are its own).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from rocks.compiler.check import include_shapes
from rocks.compiler.service import Compiler, load_graph, preview_attributes
from rocks.installer import kickstart
from rocks.installer.kickstart import InstallError
from rocks.installer.storage import Storage, run
from tests.integration.cluster import SMALL_DISK

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("root"),  # loop devices, mkfs and mount need root
]
INCLUDE = "/tmp/rocks-partition.ks"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A 3 GiB loop device with partition scanning, and a /sys/block that lists only it."""
    img = tmp_path / "disk.img"
    with img.open("wb") as fh:
        fh.truncate(3 << 30)
    dev = subprocess.run(["losetup", "--find", "--show", "--partscan", str(img)],
                         capture_output=True, text=True, check=True).stdout.strip()
    name = Path(dev).name
    block = tmp_path / "block" / name
    (block / "device").mkdir(parents=True)
    (block / "queue").mkdir()
    (block / "size").write_text(str((3 << 30) // 512))
    (block / "queue" / "logical_block_size").write_text("512")
    try:
        yield name, tmp_path / "block"
    finally:
        subprocess.run(["umount", "-R", str(tmp_path / "sysimage")], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def compute_kickstart(**attrs: str) -> str:
    graph = load_graph()
    values = {**preview_attributes(graph, "compute", "el9"), **SMALL_DISK, **attrs}
    return Compiler(graph).render("compute", values)


def decide(ks: str, *, uefi: bool = False) -> str:
    """Run the kickstart's partition %pre scripts as the installer would; the included text."""
    handler = kickstart.parse(ks, includes=False)
    pre = [s.body for s in kickstart.scripts(handler)
           if s.kind == "pre" and "partition.xml" in s.origin]
    assert pre
    efi = "mount -t tmpfs tmpfs /sys/firmware && mkdir /sys/firmware/efi && " if uefi else ""
    script = "\n".join(pre) + f"\ncat {INCLUDE}\n"
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs tmpfs /tmp && {efi}bash -s"],
        input=script, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _runner(argv: Sequence[str], **kw: Any) -> str:
    """The installer's own runner, except that where this machine's kernel cannot mount FAT
    (some sandbox kernels have no vfat), the EFI system partition is formatted but not
    mounted: the qemu boot tests mount it for real."""
    try:
        return run(argv, **kw)
    except InstallError as exc:
        if list(argv[:3]) == ["mount", "-t", "vfat"] and "unknown filesystem type" in str(exc):
            return ""
        raise


def lay_out(text: str, disk: tuple[str, Path], tmp: Path, firmware: str = "bios") -> Storage:
    handler = kickstart.parse(f"zerombr\n{text}", includes=False)
    said: list[str] = []
    st = Storage(say=said.append, runner=_runner, target=tmp / "sysimage", sys_block=disk[1],
                 skip=())
    layout = st.apply(handler, firmware)
    (tmp / "fstab").write_text(layout.fstab())
    st.unmount(layout)
    st.layout = layout  # type: ignore[attr-defined]
    st.said = said  # type: ignore[attr-defined]
    return st


def mounted(dev: str, tmp: Path) -> Path:
    where = tmp / "look"
    where.mkdir(exist_ok=True)
    subprocess.run(["mount", dev, str(where)], check=True)
    return where


def by_label(label: str) -> str:
    return subprocess.run(["blkid", "-c", "/dev/null", "-o", "device", "-t", f"LABEL={label}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def uuid_of(dev: str) -> str:
    return subprocess.run(["blkid", "-c", "/dev/null", "-o", "value", "-s", "UUID", dev],
                          capture_output=True, text=True, check=True).stdout.strip()


def touch(label: str, name: str, tmp: Path) -> None:
    where = mounted(by_label(label), tmp)
    try:
        (where / name).write_text("kept\n")
    finally:
        subprocess.run(["umount", str(where)], check=True)


def exists(label: str, name: str, tmp: Path) -> bool:
    where = mounted(by_label(label), tmp)
    try:
        return (where / name).exists()
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_layout_kept_across_reinstalls_until_nukedisks(disk: tuple[str, Path], tmp_path: Path
                                                       ) -> None:
    ks = compute_kickstart()
    shapes = include_shapes(ks.split("\n"))[INCLUDE]
    assert [name for name, _ in shapes] == ["new", "keep", "keep-efi"]
    # first install: nothing labelled rocks-* on any disk, a new layout
    first = decide(ks)
    assert first.startswith("clearpart --all --initlabel\nreqpart\n"), first
    lay_out(first, disk, tmp_path)
    fstab = (tmp_path / "fstab").read_text()
    assert "/state/partition1 xfs defaults 0 0" in fstab and " /boot ext4 " in fstab
    data, root = by_label("rocks-data1"), by_label("rocks-root")
    assert data.startswith(f"/dev/{disk[0]}p") and root.startswith(f"/dev/{disk[0]}p")
    data_uuid, root_uuid = uuid_of(data), uuid_of(root)
    touch("rocks-data1", "kept-file", tmp_path)
    touch("rocks-root", "old-os-file", tmp_path)
    # reinstall: the layout is found; the data partition is kept, the system ones are new
    second = decide(ks)
    assert "part /state/partition1 --onpart=LABEL=rocks-data1 --noformat" in second, second
    assert "clearpart" not in second
    st = lay_out(second, disk, tmp_path)
    assert any("/state/partition1 kept (xfs, --noformat)" in line for line in st.said)  # type: ignore[attr-defined]
    assert uuid_of(by_label("rocks-data1")) == data_uuid
    assert uuid_of(by_label("rocks-root")) != root_uuid
    assert exists("rocks-data1", "kept-file", tmp_path)
    assert not exists("rocks-root", "old-os-file", tmp_path)
    # nukedisks: a new layout, the data partition wiped with the rest
    nuke = compute_kickstart(nukedisks="yes")
    third = decide(nuke)
    assert third.startswith("clearpart --all --initlabel\n"), third
    lay_out(third, disk, tmp_path)
    assert not exists("rocks-data1", "kept-file", tmp_path)
    assert uuid_of(by_label("rocks-data1")) != data_uuid


def test_uefi_keeps_the_layout_and_reformats_the_esp(disk: tuple[str, Path], tmp_path: Path
                                                     ) -> None:
    ks = compute_kickstart()
    lay_out(decide(ks, uefi=True), disk, tmp_path, "uefi")
    esp = f"/dev/{disk[0]}p1"
    assert subprocess.run(["blkid", "-p", "-o", "value", "-s", "PART_ENTRY_TYPE", esp],
                          capture_output=True, text=True).stdout.strip() == \
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
    esp_uuid = uuid_of(esp)
    touch("rocks-data1", "kept-file", tmp_path)
    again = decide(ks, uefi=True)
    assert again.startswith(f"part /boot/efi --onpart={esp} --fstype=efi\n"), again
    lay_out(again, disk, tmp_path, "uefi")
    assert uuid_of(esp) != esp_uuid  # reformatted
    assert exists("rocks-data1", "kept-file", tmp_path)
    assert " /boot/efi vfat umask=0077,shortname=winnt 0 2" in (tmp_path / "fstab").read_text()


def test_a_missing_label_means_a_new_layout(disk: tuple[str, Path], tmp_path: Path) -> None:
    ks = compute_kickstart()
    lay_out(decide(ks), disk, tmp_path)
    subprocess.run(["xfs_admin", "-L", "other", by_label("rocks-var")], check=True,
                   capture_output=True)
    text = decide(ks)
    assert text.startswith("clearpart --all --initlabel\n"), text
