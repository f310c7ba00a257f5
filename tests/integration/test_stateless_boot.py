"""A stateless node, end to end, in the reinstall test's network namespace with its bootable test
OS: `rocks create image compute` builds the image from the test OS roll, `rocks set host boot …
action=stateless` and sync write its PXELINUX entry, and a diskless-booting qemu VM (BIOS,
SeaBIOS + pxelinux, ISC dhcpd) loads the image over TFTP, runs from memory, fetches its own
state from `rocks start frontend` with its token, starts the test OS, and reports `up`;
`rocks list host status` sees it up and `rocks run host` logs in with the cluster key its state
carried, checking the host key the frontend made for it (no key learnt). Its disk stays blank.
Then `action=install` and a reboot install it on its disk (the reinstall test's loop), and
`action=stateless` and a reboot bring the image back, with the same host key as before.

Last, a second node boots the same image with UEFI (OVMF, GRUB over TFTP) and gets its own host
name and host key.

Not built yet (see README, Stateless nodes): the iPXE stateless boot in qemu, and the boot-to-up
benchmark.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.integration.cluster import NODES, ROCKS, Assets, Cluster, Node, build_cluster
from tests.integration.netlab import Lab, Vm
from tests.integration.test_reinstall import PHASE_TIMEOUT, Loop, Variant, _start_servers

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_stateless_node_boots_from_memory_and_reports_up(assets: Assets, tmp_path: Path) -> None:
    node, other = NODES
    c = build_cluster(tmp_path / "state", assets, dhcp="isc", bios_loader="pxelinux",
                      uefi_loader="grub", nodes=NODES)
    built = c.rocks("create", "image", "compute", timeout=1800)
    assert "image compute " in built and "packages" in built, built
    print(built.strip())
    c.rocks("add", "bootaction", "stateless", "kernel=image",
            "args=console=ttyS0,115200 panic=-1")
    c.rocks("set", "host", "boot", node.name, other.name, "action=stateless")
    c.sync(None)
    pxe = c.boot_files(node)["pxelinux"]
    assert "KERNEL images/compute/current/vmlinuz" in pxe, pxe
    token = c.token(node)
    work = tmp_path / "run"
    work.mkdir()
    with Lab(f"rocks-i18-{os.getpid()}", work) as lab:
        _start_servers(lab, c, Variant("bios-isc", "bios", "virtio", "isc"), work)
        vm = lab.vm(firmware="bios", nic="virtio", mac=node.mac, label=node.name)
        try:
            state_at, up_at = stateless_boot(vm, node.name)
            text = vm.text(0)
            assert "PXELINUX" in text and "ROCKS-INSTALLER" not in text
            c.wait_stage(node, "up", 120)
            events = c.events(node)
            assert any(m.startswith("stateless: image ") for s, m in events if s == "up"), events
            # the frontend's view: up, on the current image, no reboot needed
            r = lab.run(str(ROCKS), "list", "host", "status", node.name, env=c.env)
            assert r.returncode == 0 and r.stdout.splitlines()[1].split()[1] == "up", r.stdout
            rows = json.loads(c.rocks("list", "host", "image", "output-format=json"))
            assert [(x["host"], x["reboot"]) for x in rows] == [
                (node.name, "no"), (other.name, None)], rows  # the other has not booted yet
            # operated as an installed node: the cluster key came with its state, and the
            # host key is the one the frontend made and recorded (strict checking, no learning)
            out = run_host(lab, c, node.name, "hostname; cat /etc/rocks-image; "
                           "awk '$2 == \"/\"' /proc/mounts; cat /proc/partitions")
            assert node.name in out
            digest = json.loads(c.rocks("list", "image", "output-format=json"))[0]["image"]
            assert digest in out, out
            assert "rootfs / rootfs" in out or "none / rootfs" in out or " / tmpfs" in out, out
            assert "vda1" not in out  # its disk is untouched: it runs from memory
            # the token it fetched its state with is in no file of the image
            assert token.encode() not in (c.tftp / "images/compute/current/initrd.img").read_bytes()
            known = (c.state / "ssh" / "known_hosts").read_text()
            print(f"stateless boot: state fetched {state_at:.0f} s, test OS up {up_at:.0f} s "
                  "after power-on")

            # install it on its disk: the reinstall test's own steps
            loop = Loop(Variant("bios-isc", "bios", "virtio", "isc"), assets, tmp_path,
                        node=node, c=c, vm=vm, lab=lab)
            loop.reinstall()
            loop.install("new")
            t_disk = time.monotonic()
            loop.booted()
            disk_up = time.monotonic() - t_disk
            out = run_host(lab, c, node.name, "awk '$2 == \"/\"' /proc/mounts", learn=True)
            assert "/dev/vda" in out, out
            assert c.boot_state(node) == "os"

            # and back to stateless: the image again, the same host key as its first boot
            c.rocks("set", "host", "boot", node.name, "action=stateless")
            loop.wait_frontend("os")
            vm.set_mark()
            before = len(c.events(node))  # its stage is `up` already (the installed system's)
            lab.run(str(ROCKS), "run", "host", node.name, "command=reboot", "timeout=20",
                    env=c.env, timeout=60)
            _, stateless_up = stateless_boot(vm, node.name)
            _wait_stateless_up(c, node, before, 120)
            # boot-to-up, same run, from the reboot (installed: from the installer's reboot)
            print(json.dumps({"bench": "stateless-boot", "installed_boot_to_up_s":
                              round(disk_up, 1), "stateless_boot_to_up_s":
                              round(stateless_up, 1)}))
            out = run_host(lab, c, node.name, "awk '$2 == \"/\"' /proc/mounts; hostname")
            assert "/dev/vda" not in out and node.name in out, out
            line = next(ln for ln in known.splitlines() if ln.startswith(node.name + " "))
            assert line in (c.state / "ssh" / "known_hosts").read_text()
            vm.stop()

            # a second node, UEFI (OVMF + GRUB over TFTP), the same image: its own name and key
            vm = lab.vm(firmware="uefi", nic="virtio", mac=other.mac, label=other.name)
            stateless_boot(vm, other.name)
            assert f"Booting `{other.name} stateless'" in vm.text(0)
            c.wait_stage(other, "up", 120)
            out = run_host(lab, c, other.name, "hostname; cat /etc/rocks-image")
            assert other.name in out and digest in out, out
            keys = {ln.split()[0]: ln.split()[2]
                    for ln in (c.state / "ssh" / "known_hosts").read_text().splitlines()}
            assert keys[other.name] != keys[node.name]
        except BaseException:
            print(vm.text(0)[-6000:])
            for proc in lab.procs:
                print(f"--- {proc.name} ---\n{proc.tail(25)}")
            raise
        finally:
            vm.stop()


def stateless_boot(vm: Vm, name: str) -> tuple[float, float]:
    """Wait for the image's /init to have the host's state, then for the test OS to be up;
    seconds from now to each."""
    t0 = time.monotonic()
    vm.wait_for(rf"ROCKS-STATELESS: host {name}, image [0-9a-f]{{64}}", PHASE_TIMEOUT,
                fail=("ROCKS-STATELESS: failed", "ROCKS-INSTALLER: stage1"))
    state_at = time.monotonic() - t0
    vm.wait_for(r"ROCKS-TESTOS: up at", PHASE_TIMEOUT, fail=("Kernel panic",))
    text = vm.text()
    assert "ROCKS-TESTOS: unit sshd.service: started" in text, text[-3000:]
    return state_at, time.monotonic() - t0


def _wait_stateless_up(c: Cluster, node: Node, after: int, timeout: float) -> None:
    """Until the node reports `up` from its image in an event newer than the first `after`
    (its stage alone cannot tell: an installed boot reports `up` too)."""
    deadline = time.monotonic() + timeout
    while not any(st == "up" and m.startswith("stateless: image ")
                  for st, m in c.events(node)[after:]):
        if time.monotonic() >= deadline:
            pytest.fail(f"{node.name}: no `up` from its image within {timeout:.0f} s "
                        f"(events: {c.events(node)[after:]})", pytrace=False)
        time.sleep(0.5)


def run_host(lab: Lab, c: Cluster, name: str, command: str, learn: bool = False) -> str:
    # a node that has just said `up` may not listen for SSH yet: unreachable is retried for a
    # while, any other failure is final
    deadline = time.monotonic() + 90
    while True:
        r = lab.run(str(ROCKS), "run", "host", name, f"command={command}",
                    *(["hostkey=learn"] if learn else []), "timeout=60", env=c.env, timeout=120)
        if r.returncode == 0 or "unreachable" not in r.stderr or time.monotonic() >= deadline:
            break
        time.sleep(2)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout
