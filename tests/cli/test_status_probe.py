"""`rocks list host status` against a real sshd and against listeners that are not sshd, all on
loopback addresses of their own: up means the SSH banner came, and without probe=yes the
command sends nothing and shows the last observation."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from tests.remote.nodes import SSHD, keygen

BASE = f"127.{50 + os.getpid() % 150}.{os.getpid() // 150 % 250}"


def _port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[str, int]]:
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        pytest.fail("sshd is not installed: apt-get install openssh-server")
    address = f"{BASE}.10"
    port = _port(address)
    key = tmp_path / "host_ed25519"
    keygen(key, "probe-test")
    config = tmp_path / "sshd.conf"
    config.write_text("\n".join([
        f"Port {port}", f"ListenAddress {address}", f"HostKey {key}", "PidFile none",
        "UsePAM no", "StrictModes no", "LogLevel ERROR", "PasswordAuthentication no", ""]))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            try:
                with socket.create_connection((address, port), timeout=1):
                    break
            except OSError:
                if time.monotonic() >= deadline:  # a timeout, not a timing
                    pytest.fail("sshd did not come up")
                time.sleep(0.05)
        yield address, port
    finally:
        proc.terminate()
        proc.wait(10)


class Listener:
    """A TCP listener on loopback that accepts and then says `greeting` (or nothing)."""

    def __init__(self, address: str, greeting: bytes = b"") -> None:
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.address, self.port = address, int(self.sock.getsockname()[1])
        self.greeting = greeting
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        held = []
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            self.accepted += 1
            if self.greeting:
                conn.sendall(self.greeting)
                conn.close()
            else:
                held.append(conn)  # keep it open and silent
        for conn in held:
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def test_up_needs_the_ssh_banner_and_probing_needs_probe_yes(
        tmp_path: Path, sshd: tuple[str, int]) -> None:
    env = {"ROCKS_STATE": str(tmp_path / "state")}

    def ok(*argv: str) -> str:
        r = run_cli(list(argv), env=env)
        assert (r.code, r.stderr) == (0, ""), (argv, r.stderr)
        return r.stdout

    silent = Listener(f"{BASE}.11")
    http = Listener(f"{BASE}.12", b"HTTP/1.0 400 Bad Request\r\n\r\n")
    try:
        ends = {"node-ssh": sshd, "node-tcp": (silent.address, silent.port),
                "node-http": (http.address, http.port)}
        for name, (address, port) in ends.items():
            ok("add", "host", name, "appliance=compute")
            ok("set", "host", "attr", name, "ssh_address", address)
            ok("set", "host", "attr", name, "ssh_port", str(port))

        def states(*extra: str) -> dict[str, tuple[str, str]]:
            rows = ok("list", "host", "status", "node-*", "output-format=csv",
                      *extra).splitlines()[1:]
            return {r.split(",")[0]: (r.split(",")[1], r.split(",")[3]) for r in rows}

        # by default nothing is sent: nothing known yet
        assert states() == {n: ("unknown", "none") for n in ends}
        assert silent.accepted == 0 and http.accepted == 0
        assert states("probe=yes", "timeout=2") == {
            "node-ssh": ("up", "probe"),
            "node-tcp": ("down", "probe"),  # accepted the connection, sent no banner
            "node-http": ("down", "probe"),  # answered, but not as sshd
        }
        assert silent.accepted == 1 and http.accepted == 1
    finally:
        silent.close()
        http.close()
    # the last observation, without a probe (the listeners are gone; nothing is asked)
    assert states() == {"node-ssh": ("up", "probe"), "node-tcp": ("down", "probe"),
                        "node-http": ("down", "probe")}


def test_probe_details() -> None:
    from rocks.remote.probe import probe

    silent = Listener(f"{BASE}.13")
    banner = Listener(f"{BASE}.14", b"a pre-banner line\r\nSSH-2.0-Fake_1.0 hi\r\n")
    try:
        found = probe([(silent.address, silent.port), (banner.address, banner.port),
                       (f"{BASE}.15", silent.port)], 1.0)
    finally:
        silent.close()
        banner.close()
    assert (found[(silent.address, silent.port)].up,
            found[(silent.address, silent.port)].detail) == (False, "no SSH banner")
    assert (found[(banner.address, banner.port)].up,
            found[(banner.address, banner.port)].detail) == (True, "SSH-2.0-Fake_1.0 hi")
    assert found[(f"{BASE}.15", silent.port)].detail == "refused"
