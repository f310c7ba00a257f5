"""A private network namespace for boot tests: a bridge at 10.1.1.1/24, one tap per VM, servers
started inside it, qemu (TCG only) VMs that boot from the network.

Nothing here listens outside the namespace; every process is bounded in time and stopped by
`Lab.close()`, which the fixtures call in a `finally`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVER = "10.1.1.1"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


def lab_unavailable() -> str | None:
    """Why this machine (as root) cannot run the boot tests, or None: a setup bug to report."""
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun (qemu taps): load the tun module"
    if shutil.which("ip") is None:
        return "no ip(8): apt-get install iproute2 (scripts/apt-packages.txt)"
    probe = f"rocks-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"ip netns unavailable: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True, slots=True)
class Boot:
    serial: str
    seconds: float
    timed_out: bool
    returncode: int | None


class Lab:
    """`with Lab(name, workdir, taps=1) as lab:` — the namespace and everything started in it."""

    def __init__(self, name: str, workdir: Path, taps: int = 1) -> None:
        self.ns = name
        self.workdir = workdir
        self.taps = taps
        self.procs: list[Proc] = []
        self.sockets: list[Path] = []

    def __enter__(self) -> Lab:
        try:
            self._up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.ns, *args], check=True, capture_output=True)

    def _up(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True)
        self.ip("link", "set", "lo", "up")
        self.ip("link", "add", "br0", "type", "bridge")
        self.ip("link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        for i in range(self.taps):
            self.ip("tuntap", "add", "dev", f"tap{i}", "mode", "tap")
            self.ip("link", "set", f"tap{i}", "master", "br0")
            self.ip("link", "set", f"tap{i}", "up")
        # A bridge port with carrier keeps br0 RUNNING before qemu opens a tap: Kea ignores an
        # interface that is down at start (no dummy links in some sandbox kernels: a veth pair).
        self.ip("link", "add", "kp0", "type", "veth", "peer", "name", "kp1")
        self.ip("link", "set", "kp0", "master", "br0")
        self.ip("link", "set", "kp0", "up")
        self.ip("link", "set", "kp1", "up")
        self.ip("addr", "add", f"{SERVER}/24", "dev", "br0")
        # iPXE waits ~15 s for IPv6 router advertisements unless one arrives: dnsmasq sends them
        self.ip("addr", "add", "fd00:e2e::1/64", "dev", "br0", "nodad")
        self.ip("link", "set", "br0", "up")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = subprocess.run(["ip", "-n", self.ns, "-br", "link", "show", "br0"],
                                 capture_output=True, text=True).stdout
            if " UP " in out:
                return
            time.sleep(0.1)
        raise RuntimeError(f"br0 in {self.ns} did not come up")

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def run(self, *argv: str, timeout: float = 60, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*argv), capture_output=True, text=True, timeout=timeout,
                              env=env)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(self.argv(*argv), stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def wait_http(self, url: str, proc: Proc, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
            r = self.run("curl", "-fsS", "-o", "/dev/null", "--max-time", "2", url, timeout=10)
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{url} not answering after {timeout} s:\n{proc.tail()}")

    def qemu_argv(self, *, firmware: str, nic: str, mac: str, tap: int, label: str,
                  serial: Path | None = None, memory: int = 512, disk: Path | None = None,
                  monitor: Path | None = None, reboot: bool = False,
                  extra: Sequence[str] = (), serial_argv: Sequence[str] = ()) -> list[str]:
        """qemu (TCG) that boots from the network first, then `disk` if given. `extra` is
        appended as it is (e.g. a BMC device for power control); `serial_argv` replaces
        `-serial file:<serial>` (e.g. a chardev a BMC's Serial-over-LAN reads)."""
        dev = f"{'virtio-net-pci' if nic == 'virtio' else nic},netdev=n0,mac={mac},bootindex=1"
        if firmware == "uefi":
            vars_copy = self.workdir / f"vars-{label}.fd"
            shutil.copyfile(OVMF_VARS, vars_copy)
            # no option ROM: OVMF's own PXE client (arch 7, no iPXE user class), as real UEFI
            fw = ["-machine", "q35",
                  "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                  "-drive", f"if=pflash,format=raw,file={vars_copy}"]
            dev += ",romfile="
        else:
            sercon = self.workdir / "sercon-port"
            sercon.write_bytes(b"\xf8\x03")  # SeaBIOS mirrors its console to COM1 (0x3f8)
            fw = ["-machine", "pc", "-fw_cfg", f"name=etc/sercon-port,file={sercon}"]
        argv = ["qemu-system-x86_64", *fw, "-accel", "tcg", "-m", str(memory), "-smp", "1",
                "-nodefaults", "-display", "none",
                "-monitor", f"unix:{monitor},server,nowait" if monitor else "none",
                *(serial_argv or ("-serial", f"file:{serial}")),
                "-netdev", f"tap,id=n0,ifname=tap{tap},script=no,downscript=no", "-device", dev]
        if not reboot:
            argv.append("-no-reboot")
        if disk is not None:
            argv += ["-drive", f"file={disk},format=raw,if=none,id=d0,cache=unsafe",
                     "-device", "virtio-blk-pci,drive=d0,bootindex=2"]
        else:
            argv += ["-boot", "n"]
        return [*argv, *extra]

    def vm(self, *, firmware: str, nic: str, mac: str, tap: int = 0, label: str = "vm",
           disk_gib: int = 3, memory: int = 1024, extra: Sequence[str] = ()) -> Vm:
        """Power on a diskful VM that boots from the network, then its disk, and keeps
        running across reboots (its installer reboots it) until `Vm.stop`."""
        disk = self.workdir / f"disk-{label}.img"
        with disk.open("wb") as fh:  # sparse: costs only what the guest writes
            fh.truncate(disk_gib << 30)
        serial = self.workdir / f"serial-{label}.log"
        # a UNIX socket path must stay under 108 bytes: the namespace's name is short and unique
        monitor = Path(tempfile.gettempdir()) / f"{self.ns}-{tap}.mon"
        self.sockets.append(monitor)
        argv = self.qemu_argv(firmware=firmware, nic=nic, mac=mac, tap=tap, label=label,
                              serial=serial, memory=memory, disk=disk, monitor=monitor,
                              reboot=True, extra=extra)
        return Vm(label, self.start(f"qemu-{label}", argv), serial, monitor, disk)

    def boot(self, *, firmware: str, nic: str, mac: str, tap: int = 0, label: str = "vm",
             timeout: float = 240, extra: Sequence[str] = ()) -> Boot:
        """Power a diskless VM on with network boot and wait until it powers itself off."""
        serial = self.workdir / f"serial-{label}.log"
        argv = self.qemu_argv(firmware=firmware, nic=nic, mac=mac, tap=tap, label=label,
                              serial=serial, extra=extra)
        t0 = time.monotonic()
        proc = self.start(f"qemu-{label}", argv)
        timed_out = False
        deadline = t0 + timeout
        while proc.popen.poll() is None:
            if time.monotonic() > deadline or _stuck(serial):
                timed_out = True
                # kill before waiting: a wait on a live qemu never returns
                _stop(proc, grace=2)
                break
            time.sleep(0.5)
        seconds = time.monotonic() - t0
        text = serial.read_text(errors="replace") if serial.exists() else ""
        if proc.tail():
            text += f"\n--- qemu output ---\n{proc.tail()}"
        return Boot(text, seconds, timed_out, proc.popen.returncode)

    def close(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)
        self.procs.clear()
        for sock in self.sockets:
            sock.unlink(missing_ok=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@dataclass
class Vm:
    """A running VM: its serial console (read as it grows), its monitor, its disk."""

    label: str
    proc: Proc
    serial: Path
    monitor: Path
    disk: Path
    mark: int = 0  # where in the serial log the current phase began
    started: float = field(default_factory=time.monotonic)

    def text(self, since: int | None = None) -> str:
        try:
            data = self.serial.read_bytes()
        except OSError:
            return ""
        return data[self.mark if since is None else since:].decode(errors="replace")

    def set_mark(self) -> int:
        """Later waits look only at what the console prints from now on."""
        try:
            self.mark = self.serial.stat().st_size
        except OSError:
            self.mark = 0
        return self.mark

    def wait_for(self, pattern: str, timeout: float, fail: Sequence[str] = ()
                 ) -> re.Match[str]:
        """The first match of `pattern` in the console since the mark. Raises VmError when
        `fail` (or a firmware dead end) shows first, when qemu ends, or on timeout."""
        deadline = time.monotonic() + timeout
        want = re.compile(pattern)
        stops = [re.compile(re.escape(f)) for f in (*fail, *STUCK)]
        while True:
            text = self.text()
            m = want.search(text)
            if m:
                return m
            for stop in stops:
                bad = stop.search(text)
                if bad:
                    raise VmError(f"{self.label}: {bad.group(0)!r} on the console")
            if not self.proc.alive():
                raise VmError(f"{self.label}: qemu ended ({self.proc.popen.returncode}) "
                              f"while waiting for {pattern!r}")
            if time.monotonic() > deadline:
                raise VmError(f"{self.label}: no {pattern!r} on the console within "
                              f"{timeout:.0f} s")
            time.sleep(0.5)

    def command(self, line: str) -> str:
        """One human-monitor command (system_reset, system_powerdown, quit, …)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.monitor))
            sock.sendall(line.encode() + b"\n")
            time.sleep(0.3)
            try:
                return sock.recv(65536).decode(errors="replace")
            except TimeoutError:
                return ""

    def reset(self) -> None:
        self.command("system_reset")

    def stop(self) -> None:
        _stop(self.proc, grace=2)


class VmError(AssertionError):
    pass


# Firmware messages after which a VM never gets anywhere: end it at once.
STUCK = ("No bootable device", "Kernel panic", "grub rescue>", 'starting Boot0000 "UiApp"',
         "Shell> ")


def _stuck(serial: Path) -> bool:
    try:
        text = serial.read_text(errors="replace")
    except OSError:
        return False
    return any(marker in text for marker in STUCK)


def _stop(proc: Proc, grace: float = 5) -> None:
    if proc.popen.poll() is not None:
        return
    try:
        os.killpg(proc.popen.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.popen.wait(timeout=10)
