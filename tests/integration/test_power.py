"""Power and console through a real BMC in front of a real VM.

In a private network namespace, OpenIPMI's ipmi_sim is the BMC of a qemu VM: qemu's
ipmi-bmc-extern device (KCS) talks to it, its chassis control (tests/integration/chassis.py)
is the VM's power supply and boot-flag store, and its Serial-over-LAN is bridged to the VM's
serial port. `rocks set host power` switches the VM, `set host boot … reboot=yes` alone makes it
PXE-boot and fetch its kickstart from the frontend, `open host console` reads its serial
output, and `start console-logger` logs it under <state>/console/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.bmcsim import ipmi_sim_missing, write_ipmi_sim
from tests.integration.cluster import NODES, ROCKS, Assets, Cluster, build_cluster
from tests.integration.netlab import SERVER, Lab
from tests.integration.test_reinstall import E2E_TOKEN, Variant, _start_servers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BMC_IP = "10.2.0.100"
BMC_MAC = "52:54:00:e2:01:10"
PASSWORD = "Ipmi-S3cret-pw"
NODE = NODES[0]
FRONTEND = f"http://{SERVER}:8080"
BOOT_TIMEOUT = float(os.environ.get("ROCKS_E2E_BOOT_TIMEOUT", "240"))


class PowerLab:
    def __init__(self, lab: Lab, c: Cluster, vmdir: Path) -> None:
        self.lab, self.c, self.vmdir = lab, c, vmdir

    def rocks(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`rocks …` inside the namespace (power commands reach the BMC's address there)."""
        return self.lab.run(str(ROCKS), *args, env=self.c.env, timeout=timeout)

    def ok(self, *args: str, timeout: float = 120) -> str:
        r = self.rocks(*args, timeout=timeout)
        assert r.returncode == 0, f"rocks {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
        assert PASSWORD not in r.stdout + r.stderr
        return r.stdout

    def status(self) -> str:
        out = self.ok("set", "host", "power", NODE.name, "action=status")
        return out.splitlines()[-1].strip()

    def wait_state(self, want: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (state := self.status()) != want:
            if time.monotonic() >= deadline:  # a timeout, not a timing
                pytest.fail(f"power state stayed {state}, wanted {want}")
            time.sleep(1)

    def qemu_pid(self) -> int | None:
        try:
            return int((self.vmdir / "qemu.pid").read_text())
        except (OSError, ValueError):
            return None

    def chassis_log(self) -> str:
        path = self.vmdir / "chassis.log"
        return path.read_text() if path.exists() else ""

    def serial(self) -> str:
        path = self.vmdir / "serial.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stage(self) -> str:
        out = self.c.rocks("list", "host", "install", NODE.name).splitlines()
        return out[1].split()[1] if len(out) > 1 else ""

    def kill_vm(self) -> None:
        pid = self.qemu_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def power_lab(assets: Assets, tmp_path: Path) -> Iterator[PowerLab]:
    missing = ipmi_sim_missing()
    assert missing is None, missing
    c = build_cluster(tmp_path / "state", assets, dhcp="isc", bios_loader="pxelinux",
                      uefi_loader="grub", nodes=(NODE,))
    c.rocks("add", "network", "ipmi", "subnet=10.2.0.0", "netmask=255.255.255.0", "zone=ipmi")
    c.rocks("add", "host", "interface", NODE.name, "ipmi", f"ip={BMC_IP}", f"mac={BMC_MAC}",
            "network=ipmi", "bmc=ipmi")
    c.rocks("set", "attr", "bmc_username", "admin")
    c.rocks("set", "attr", "bmc_password", PASSWORD, "secret=yes")
    c.sync(None)
    dhcpd = (c.root / "etc/dhcp/dhcpd.conf").read_text()
    # the BMC gets its reservation, and no boot file
    bmc_block = dhcpd.split(f"hardware ethernet {BMC_MAC};")[1].split("}")[0]
    assert f"fixed-address {BMC_IP};" in bmc_block and "filename" not in bmc_block, dhcpd
    work = tmp_path / "run"
    vmdir = tmp_path / "vm"
    work.mkdir()
    vmdir.mkdir()
    with Lab(f"rocks-pw-{os.getpid()}", work, taps=1) as lab:
        # the BMC's address is local to the namespace (dhcpd on br0 sees one subnet only)
        lab.ip("addr", "add", f"{BMC_IP}/32", "dev", "lo")
        # a disk, so that the test installer installs (printing on the serial console that
        # SOL reads) instead of failing at once for want of one and powering off
        disk = vmdir / "disk.img"
        with disk.open("wb") as fh:  # sparse: costs only what the guest writes
            fh.truncate(3 << 30)
        argv = lab.qemu_argv(
            firmware="bios", nic="virtio", mac=NODE.mac, tap=0, label="node", memory=1024,
            serial_argv=("-chardev", "socket,id=con0,host=127.0.0.1,port=9003,server=on,"
                         f"wait=off,telnet=on,logfile={vmdir / 'serial.log'},logappend=on",
                         "-serial", "chardev:con0"),
            # (the disk without a boot index: chassis.py sets the boot order with -boot)
            extra=("-drive", f"file={disk},format=raw,if=virtio,cache=unsafe",
                   "-chardev", "socket,id=ipmi0,host=127.0.0.1,port=9002,reconnect=1",
                   "-device", "ipmi-bmc-extern,chardev=ipmi0,id=bmc0",
                   "-device", "isa-ipmi-kcs,bmc=bmc0"))
        (vmdir / "qemu.json").write_text(json.dumps(argv))
        sim = write_ipmi_sim(work / "bmc", "node-bmc", [(BMC_IP, 623)], "admin", PASSWORD,
                             vmdir=vmdir, vm_port=9002, sol="telnet:127.0.0.1:9003")
        lab.start("ipmi_sim", sim)
        v = Variant("power", "bios", "virtio", "isc")
        _start_servers(lab, c, v, work)
        pl = PowerLab(lab, c, vmdir)
        try:
            yield pl
        finally:
            pl.kill_vm()


def _wait(what: str, check: object, timeout: float, pl: PowerLab) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tail = "\n".join(pl.serial().splitlines()[-60:])
            procs = "".join(f"--- {p.name} ---\n{p.tail(20)}\n" for p in pl.lab.procs
                            if p.name in ("ipmi_sim", "console-logger"))
            pytest.fail(f"{what} not within {timeout:.0f} s\n--- chassis ---\n"
                        f"{pl.chassis_log()}\n{procs}--- serial ---\n{tail}", pytrace=False)
        time.sleep(1)


def test_power_and_reinstall_through_ipmi_sim(power_lab: PowerLab) -> None:
    pl = power_lab
    assert pl.status() == "off"
    listed = pl.ok("list", "host", "power")
    assert re.search(rf"{NODE.name}\s+off\s+ipmi {BMC_IP}:623", listed), listed

    # the frontend's console logger follows hosts that install
    logger = pl.lab.start("console-logger", [str(ROCKS), "start", "console-logger",
                                             "interval=1"], env=pl.c.env)
    # the one command that reinstalls: boot action, next boot PXE through the BMC, cycle
    out = pl.ok("set", "host", "boot", NODE.name, "action=install", "reboot=yes")
    assert out == (f"----- {NODE.name} -----\npower cycled, next boot pxe\n"
                   "1 host set to install\n"), out
    assert "set boot pxe" in pl.chassis_log() and "-boot n (flag pxe)" in pl.chassis_log()
    assert pl.status() == "on"
    # the node PXE-boots and asks the frontend for its kickstart
    _wait("the kickstart fetch", lambda: pl.stage() not in ("", "waiting"), BOOT_TIMEOUT, pl)
    log = pl.c.state / "console" / f"{NODE.name}.log"
    _wait("the console log", lambda: log.exists() and len(log.read_bytes()) > 2000, 60, pl)
    assert f"=== rocks console log of {NODE.name}" in log.read_text(errors="replace")
    assert oct(log.stat().st_mode & 0o777) == "0o600" and PASSWORD not in log.read_text(
        errors="replace")
    # lines logged before the page is asked for (the log grows meanwhile)
    before = [ln.strip()[:30] for ln in log.read_text(errors="replace").splitlines()
              if ln.strip() and not any(c in ln for c in "\x1b<>&'\"")][-10:]
    page = pl.lab.run("curl", "-fsS", "--max-time", "10", "-H",  # off loopback: a login
                      f"Authorization: Bearer {E2E_TOKEN}", f"{FRONTEND}/hosts/{NODE.name}")
    assert page.returncode == 0, page.stderr
    assert "Console (end of the log" in page.stdout, page.stdout[-2000:]
    assert any(line in page.stdout for line in before), (before, page.stdout[-3000:])
    logger.popen.terminate()
    logger.popen.wait(timeout=20)
    assert "logging its console to" in logger.tail(), logger.tail()
    # its console through SOL, non-interactively
    # (an installing node is quiet while dnf works — half a minute or more on a loaded machine:
    # read again until it prints, for as long as an install and its reboot take)
    reads: list[str] = []
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        r = pl.rocks("open", "host", "console", NODE.name, "duration=8", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert PASSWORD not in r.stdout + r.stderr
        console = r.stdout
        reads.append(r.stderr.strip())
        if console.strip():
            break
        if time.monotonic() >= deadline:
            pytest.fail(f"nothing read from the SOL console in {len(reads)} reads of 8 s "
                        f"(stderr of the last: {reads[-1]!r})\n--- serial ---\n"
                        f"{pl.serial()[-2000:]}", pytrace=False)
    assert console in pl.serial() or console.strip()[-20:] in pl.serial()

    # off, on again (next boot only: the flag was spent), cycle with PXE
    out = pl.ok("set", "host", "power", NODE.name, "action=off")
    assert out == f"----- {NODE.name} -----\npowered off\n"
    assert pl.status() == "off"
    pl.ok("set", "host", "power", NODE.name, "action=on")
    assert pl.chassis_log().rstrip().endswith("-boot c (flag default)"), pl.chassis_log()
    assert pl.status() == "on"
    out = pl.ok("set", "host", "power", NODE.name, "action=cycle", "next-boot=pxe")
    assert out == f"----- {NODE.name} -----\npower cycled, next boot pxe\n"
    assert pl.chassis_log().rstrip().endswith("-boot n (flag pxe)"), pl.chassis_log()
    pl.ok("set", "host", "power", NODE.name, "action=off")
    assert pl.status() == "off"
