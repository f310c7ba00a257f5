"""`rocks create image`, `list image`, `remove image` through the CLI: a test roll's appliance
built into a stateless image (dnf into a root, %post chrooted: what `rocks try` runs), packed as
a gzip'd cpio initramfs with the stateless /init, named by its content."""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from rocks.images import CURRENT, INITRD, KERNEL, MANIFEST, list_images
from rocks.inventory import open_inventory
from rocks.inventory.catalog import add_appliance
from rocks.model.inventory import Appliance
from tests.packages.rpmtools import make_busybox_rpm, make_rpm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("root"),  # dnf --installroot and chroot need root
]

HOST_SECRET = "host-only-s3cret-7f1e"
APP_SECRET = "appliance-s3cret-9c2d"
IMGBOX = textwrap.dedent("""\
    <?xml version="1.0"?>
    <kickstart>
    <package>rocks-busybox-sh</package>
    <package>trial-app</package>
    <post>
    echo "built for &appliance; name [&hostname;] pw [&db_password;]" > /etc/image-ok
    mkdir -p /etc/ssh /root/.ssh
    echo "a host key made by a package" > /etc/ssh/ssh_host_ed25519_key
    echo "{VERSION}" > /etc/imgbox-version
    </post>
    </kickstart>
    """)
OTHER = textwrap.dedent("""\
    <?xml version="1.0"?>
    <kickstart>
    <package>rocks-busybox-sh</package>
    <post>
    echo other > /etc/other-ok
    </post>
    </kickstart>
    """)


def _cli(env: dict[str, str], *argv: str) -> str:
    r = run_cli(list(argv), env=env)
    assert r.code == 0, (argv, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    roll = tmp_path / "imgroll"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "roll.xml").write_text('<roll name="imgroll" interface="4.0"><info version="1.0" '
                                   'release="1" arch="x86_64" os="linux"/></roll>\n')
    (roll / "nodes" / "imgbox.xml").write_text(IMGBOX.replace("{VERSION}", "one"))
    (roll / "nodes" / "otherbox.xml").write_text(OTHER)
    (roll / "graphs" / "default" / "imgroll.xml").write_text("<graph></graph>\n")
    make_busybox_rpm(roll / "RPMS")
    make_rpm("trial-app", "1.2", dest=roll / "RPMS",
             files={"/etc/trial-app/version": "trial-app 1.2\n"})
    make_rpm("kernel", "6.1.0", dest=roll / "RPMS",  # added to every image, as Anaconda does
             files={"/boot/vmlinuz-6.1.0-test": "not really a kernel\n",
                    "/lib/modules/6.1.0-test/modules.dep": "\n"})
    e = {"ROCKS_STATE": str(state)}
    for argv in (["add", "roll", str(roll)], ["enable", "roll", "imgroll"],
                 ["create", "distro", "force=yes"]):
        _cli(e, *argv)
    with open_inventory(str(state / "rocks.db")) as inv, inv.transaction() as s:
        add_appliance(s, Appliance("imgbox", "imgbox"))
        add_appliance(s, Appliance("otherbox", "otherbox"))
    _cli(e, "add", "host", "ib-1", "appliance=imgbox")
    _cli(e, "set", "host", "attr", "ib-1", "db_password", HOST_SECRET, "secret=yes")
    _cli(e, "set", "appliance", "attr", "imgbox", "db_password", APP_SECRET, "secret=yes")
    return e


def _unpacked(initrd: Path) -> bytes:
    return gzip.decompress(initrd.read_bytes())


def _members(cpio: bytes) -> dict[str, bytes]:
    """name -> data of a newc archive."""
    out: dict[str, bytes] = {}
    pos = 0
    while True:
        assert cpio[pos:pos + 6] == b"070701"
        f = [int(cpio[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        size, namesize = f[6], f[11]
        name = cpio[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return out
        out[name] = cpio[pos:pos + size]
        pos += size
        pos += -pos % 4


def test_image_is_built_once_named_by_content_and_holds_no_host_state(
        env: dict[str, str], tmp_path: Path) -> None:
    sync_root = tmp_path / "state" / "root"
    out = _cli(env, "create", "image", "imgbox", "otherbox")
    assert "image imgbox " in out and "image otherbox " in out and "packages" in out
    images = {m.appliance: m for m in list_images(sync_root)}
    first = images["imgbox"]
    where = sync_root / "tftpboot/images/imgbox" / first.digest
    assert (where / KERNEL).read_bytes() == b"not really a kernel\n"
    assert first.kernel_version == "6.1.0-test"
    assert (sync_root / "tftpboot/images/imgbox" / CURRENT).resolve() == where.resolve()

    members = _members(_unpacked(where / INITRD))
    # what the image's %post wrote, with the appliance's values and no host's
    assert members["etc/image-ok"] == b"built for imgbox name [] pw []\n"
    assert members["etc/trial-app/version"] == b"trial-app 1.2\n"
    assert members["etc/rocks-image"] == first.digest.encode() + b"\n"
    assert members["init"].startswith(b"#!/bin/sh")
    # per-host things are stripped: SSH host keys, root's keys, the kernel under /boot
    assert not [n for n in members if n.startswith(("etc/ssh/ssh_host_", "root/.ssh", "boot/"))]
    assert not [n for n in members if n.startswith("var/cache/dnf")]
    # no secret, no host name anywhere in the image (the archive decompressed, grepped)
    for blob in (_unpacked(where / INITRD), (where / MANIFEST).read_bytes()):
        assert HOST_SECRET.encode() not in blob
        assert APP_SECRET.encode() not in blob
        assert b"ib-1" not in blob

    # unchanged: nothing is built again, same digest, same bytes
    before = (where / INITRD).stat().st_mtime_ns
    again = _cli(env, "create", "image", "imgbox", "otherbox")
    assert f"image imgbox {first.short}: unchanged" in again
    assert f"image otherbox {images['otherbox'].short}: unchanged" in again
    assert (where / INITRD).stat().st_mtime_ns == before

    # a forced rebuild of unchanged inputs: same digest, same files with the same contents
    # (but the rpm database, which records when each package was installed)
    packed = members
    _cli(env, "create", "image", "imgbox", "force=yes")
    repacked = _members(_unpacked(where / INITRD))
    assert repacked.keys() == packed.keys()
    differ = sorted(n for n in packed if packed[n] != repacked[n])
    assert all(n.startswith("var/lib/rpm/") for n in differ), differ

    listed = _cli(env, "list", "image", "output-format=csv").splitlines()
    assert listed[0].split(",")[:2] == ["appliance", "image"]
    assert {tuple(r.split(",")[:2]) for r in listed[1:]} == {
        ("imgbox", first.short), ("otherbox", images["otherbox"].short)}


def test_changed_node_rebuilds_only_its_appliance_and_remove(
        env: dict[str, str], tmp_path: Path) -> None:
    sync_root = tmp_path / "state" / "root"
    _cli(env, "create", "image", "imgbox", "otherbox")
    old = {m.appliance: m for m in list_images(sync_root)}
    node = tmp_path / "state"
    # the roll as stored: change its imgbox node file
    stored = next(node.rglob("imgroll/**/nodes/imgbox.xml"))
    stored.write_text(IMGBOX.replace("{VERSION}", "two"))
    out = _cli(env, "create", "image", "imgbox", "otherbox")
    assert f"image otherbox {old['otherbox'].short}: unchanged" in out
    assert "image imgbox " in out and f"image imgbox {old['imgbox'].short}" not in out
    now = {m.digest: m for m in list_images(sync_root, "imgbox")}
    assert len(now) == 2 and old["imgbox"].digest in now
    new = next(d for d in now if d != old["imgbox"].digest)
    imgs = sync_root / "tftpboot/images/imgbox"
    assert (imgs / CURRENT).resolve().name == new
    assert _members(_unpacked(imgs / new / INITRD))["etc/imgbox-version"] == b"two\n"
    rows = _cli(env, "list", "image", "imgbox", "output-format=csv").splitlines()[1:]
    assert sorted(r.split(",")[-1] for r in rows) == ["no", "yes"]

    # back to the old node file: the old image is found again and made current, not rebuilt
    stored.write_text(IMGBOX.replace("{VERSION}", "one"))
    out = _cli(env, "create", "image", "imgbox")
    assert f"image imgbox {old['imgbox'].short}: unchanged" in out
    assert (imgs / CURRENT).resolve().name == old["imgbox"].digest

    # remove the current one: the other becomes current; then remove all
    out = _cli(env, "remove", "image", "imgbox", f"image={old['imgbox'].short}")
    assert f"removed image imgbox {old['imgbox'].short}" in out
    assert (imgs / CURRENT).resolve().name == new
    _cli(env, "remove", "image", "imgbox")
    assert not imgs.exists()
    r = run_cli(["remove", "image", "imgbox"], env=env)
    assert r.code != 0 and "no image of imgbox" in r.stderr and "rocks list image" in r.stderr
    assert [m.appliance for m in list_images(sync_root)] == ["otherbox"]


def test_create_image_of_an_appliance_without_a_kernel_says_so(
        env: dict[str, str], tmp_path: Path) -> None:
    with open_inventory(str(tmp_path / "state" / "rocks.db")) as inv, inv.transaction() as s:
        add_appliance(s, Appliance("nokernel", "imgbox-nokernel"))
    stored = next((tmp_path / "state").rglob("imgroll/**/nodes/otherbox.xml"))
    (stored.parent / "imgbox-nokernel.xml").write_text(
        OTHER.replace("<post>", '<package disable="1">kernel</package>\n<post>'))
    r = run_cli(["create", "image", "nokernel"], env=env)
    assert r.code != 0
    assert "install no kernel" in r.stderr and "add a kernel package" in r.stderr
    assert not list((tmp_path / "state" / "root" / "tftpboot" / "images").glob("nokernel*"))
