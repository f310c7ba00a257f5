"""`rocks set host boot … action=stateless|install|os` through the CLI: the boot files sync
writes for a stateless host (its appliance's current image, the URL of its own state with its
token), and the way back to installing and to the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocks.errors import Diagnostic
from rocks.model.inventory import BootAction, BootState, Host
from rocks.sync.inputs import Frontend, SyncInput
from rocks.sync.pxe import BootSpec, boot_spec, grub_text, ipxe_text, pxelinux_text
from tests.cli.test_sync_commands import Cluster

PXE = "tftpboot/pxelinux.cfg/0A01FFFD"  # compute-0-1, 10.1.255.253
GRUB = "tftpboot/grub/grub.cfg-52:54:00:00:02:01"


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    c = Cluster(tmp_path)
    c.ok("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes",
         "servedns=yes", "zone=local")
    for i, mac in enumerate(["52:54:00:00:02:00", "52:54:00:00:02:01"]):
        c.ok("add", "host", f"compute-0-{i}")
        c.ok("add", "host", "interface", f"compute-0-{i}", "eth0", f"mac={mac}",
             f"ip=10.1.255.{254 - i}", "network=private")
    return c


def _token(text: str) -> str:
    return text.split("/install/state?token=")[1].split()[0].strip("'\"")


def test_stateless_and_back(cluster: Cluster) -> None:
    r = cluster.ok("set", "host", "boot", "compute-0-1", "action=stateless")
    assert r.stdout == "1 host set to stateless\n"
    assert "no stateless image of compute yet" in r.stderr
    assert "rocks create image compute" in r.stderr
    text = (cluster.root / PXE).read_text()
    assert "KERNEL images/compute/current/vmlinuz\n" in text
    assert "APPEND initrd=images/compute/current/initrd.img rocks.state=" \
        "http://10.1.1.1:8080/install/state?token=" in text
    assert "IPAPPEND 2" in text and "inst.ks" not in text
    token = _token(text)
    assert len(token) >= 24
    grub = (cluster.root / GRUB).read_text()
    assert "linux /images/compute/current/vmlinuz 'rocks.state=http://10.1.1.1:8080/install/" \
        f"state?token={token}'" in grub
    assert "initrd /images/compute/current/initrd.img" in grub
    boots = cluster.ok("list", "host", "boot").stdout
    assert boots == "HOST         ACTION\ncompute-0-0  os\ncompute-0-1  stateless\n"
    assert not (cluster.root / "tftpboot/pxelinux.cfg/0A01FFFE").exists()  # compute-0-0

    # a boot action named stateless adds its arguments (a serial console, say)
    cluster.ok("add", "bootaction", "stateless", "kernel=image", "args=console=ttyS0,115200")
    cluster.ok("set", "host", "boot", "compute-0-1", "action=stateless")
    text = (cluster.root / PXE).read_text()
    assert " rdinit=/init console=ttyS0,115200\n" in text and "quiet" not in text
    token = _token(text)

    # install: the kickstart, and afterwards the disk (the run action is os again)
    cluster.ok("set", "host", "boot", "compute-0-1", "action=install")
    text = (cluster.root / PXE).read_text()
    assert "inst.ks=" in text and "rocks.state" not in text
    assert token not in text
    hosts = cluster.ok("list", "host", "compute-0-1", "output-format=csv").stdout
    assert ",os," in hosts and "stateless" not in hosts

    # stateless again: a new token; then os: the file goes, the default boots the disk
    cluster.ok("set", "host", "boot", "compute-0-1", "action=stateless")
    again = _token((cluster.root / PXE).read_text())
    assert again != token
    cluster.ok("set", "host", "boot", "compute-0-1", "action=os")
    assert not (cluster.root / PXE).exists()
    assert cluster.ok("list", "host", "boot", "compute-0-1").stdout.split()[-1] == "os"


def test_ipxe_boots_the_image_over_http() -> None:
    inp = SyncInput(Frontend("fe", "10.1.1.1", "http://10.1.1.1:8080"), (), (),
                    (), (BootAction("install", "vmlinuz", "initrd.img", ""),),
                    tokens={"c-0-0": "tok-en_1"})
    host = Host("c-0-0", "compute", run_action="stateless", boot=BootState.OS)
    spec = boot_spec(inp, {a.name: a for a in inp.boot_actions}, host)
    assert isinstance(spec, BootSpec)
    script = ipxe_text(inp, spec)
    assert script.splitlines()[2:] == [
        "kernel http://10.1.1.1:8080/boot/images/compute/current/vmlinuz initrd=initrd.img "
        "rocks.state=http://10.1.1.1:8080/install/state?token=tok-en_1 rdinit=/init quiet "
        "BOOTIF=01-${netX/mac:hexhyp}",
        "initrd http://10.1.1.1:8080/boot/images/compute/current/initrd.img",
        "boot"]
    assert "KERNEL images/compute/current/vmlinuz" in pxelinux_text(spec)
    assert "linux /images/compute/current/vmlinuz" in grub_text(spec)
    # stateless without a token (never issued): a problem, not a file
    missing = boot_spec(SyncInput(inp.frontend, (), (), (), inp.boot_actions), {}, host)
    assert isinstance(missing, Diagnostic) and missing.code == "sync.no-token"


def test_list_host_image_says_who_needs_a_reboot(cluster: Cluster, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from rocks.images import Manifest, _point_current
    from rocks.inventory import open_inventory
    from rocks.inventory.events import add_event

    cluster.ok("set", "host", "boot", "compute", "action=stateless")
    r = cluster.ok("list", "host", "image", "output-format=csv")
    assert r.stdout.splitlines()[1:] == ["compute-0-0,compute,,,,,", "compute-0-1,compute,,,,,"]
    # two images of compute, the second current
    app = cluster.root / "tftpboot/images/compute"
    for d in ("a" * 64, "b" * 64):
        (app / d).mkdir(parents=True)
        m = Manifest("compute", d, "p", "d", datetime.now(UTC).isoformat(timespec="seconds"),
                     "6.1", 3, 10, 100, 10, 50, 1.0)
        (app / d / "manifest.json").write_bytes(m.encode())
    _point_current(app, "b" * 64)
    with open_inventory(str(tmp_path / "state" / "rocks.db")) as inv, inv.transaction() as s:
        add_event(s, "compute-0-0", "up", f"stateless: image {'a' * 64}, kernel 6.1")
        add_event(s, "compute-0-1", "up", f"stateless: image {'a' * 64}, kernel 6.1")
        add_event(s, "compute-0-1", "up", f"stateless: image {'b' * 64}, kernel 6.1")
        add_event(s, "compute-0-1", "up", "up: kernel 6.1, booted now")  # its normal boot's
    rows = cluster.ok("list", "host", "image", "output-format=csv").stdout.splitlines()
    assert rows[0] == "host,appliance,image,built,running,up,reboot"
    c0, c1 = (r.split(",") for r in rows[1:])
    assert (c0[2], c0[4], c0[6]) == ("b" * 12, "a" * 12, "yes")
    assert (c1[2], c1[4], c1[6]) == ("b" * 12, "b" * 12, "no")
    assert c0[3].endswith("ago") and c0[5].endswith("ago")
    listed = cluster.ok("list", "image", "output-format=csv").stdout.splitlines()[1:]
    assert sorted(r.split(",")[-1] for r in listed) == ["no", "yes"]
    # a host on its disk is no stateless host
    cluster.ok("set", "host", "boot", "compute-0-0", "action=os")
    assert cluster.ok("list", "host", "image").stdout.count("compute-0-") == 1
