"""Real sshd nodes for the remote tests: each in its own network namespace with its own address.

Topology: a bridge in the root namespace (10.213.N.1/24, N random per run) and, per node, a
namespace whose eth0 (a veth whose peer is a bridge port) holds 10.213.N.(10+i). Every node is
a Debian `sshd -D -r` with its own config (-r: no re-exec per connection, which halves the
CPU the nodes take from this one machine); everything is torn down by `close()`, which the
fixtures call even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def unavailable() -> str:
    """Why real-sshd nodes cannot run here ('' when they can); as root, a setup bug."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not Path(SSHD).exists():
        return "sshd is not installed: apt-get install openssh-server"
    if shutil.which("ssh") is None or shutil.which("ip") is None:
        return "needs the ssh client and ip(8): apt-get install openssh-client iproute2"
    probe = f"rkprobe{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"ip netns is unavailable: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def keygen(path: Path, comment: str = "") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, capture_output=True, timeout=30)
    return path.with_name(path.name + ".pub").read_text().strip()


@dataclass
class Node:
    name: str
    netns: str
    address: str
    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class SshCluster:
    """`nodes` sshd processes on `spaces` namespaces (several ports per namespace if fewer)."""

    workdir: Path
    authorized_key: str  # the public key every node accepts for root
    tag: str = field(default_factory=lambda: f"{os.getpid() % 10000:04d}")
    subnet: int = field(default_factory=lambda: random.randint(0, 255))
    nodes: dict[str, Node] = field(default_factory=dict)
    spaces: list[str] = field(default_factory=list)
    bridge: str = ""
    host_key_pub: str = ""
    other_key_pub: str = ""

    def address(self, index: int) -> str:
        return f"10.213.{self.subnet}.{10 + index}"

    def setup(self, names: list[str], spaces: int | None = None,
              extra: dict[str, list[str]] | None = None, wrong_key: tuple[str, ...] = ()
              ) -> None:
        """Start one sshd per name. `extra[name]` adds sshd_config lines for that node; nodes
        in `wrong_key` serve a host key other than the one `known_hosts()` records."""
        spaces = len(names) if spaces is None else spaces
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        hostkey = self.workdir / "host_ed25519"
        self.host_key_pub = keygen(hostkey, "node")
        other = self.workdir / "other_ed25519"
        self.other_key_pub = keygen(other, "impostor")
        (self.workdir / "authorized_keys").write_text(self.authorized_key + "\n")
        self.bridge = f"rkb{self.tag}"
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"10.213.{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(spaces):
            ns = f"rkn{self.tag}-{i}"
            veth = f"rkv{self.tag}-{i}"
            _ip("netns", "add", ns)
            self.spaces.append(ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        for k, name in enumerate(names):
            i = k % spaces
            port = 2200 + k // spaces
            wrong = name in wrong_key
            lines = [
                f"Port {port}", f"ListenAddress {self.address(i)}",
                f"HostKey {other if wrong else hostkey}", "PidFile none",
                f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
                "LogLevel ERROR", "MaxStartups 500",
                # HOME elsewhere: root's real ~/.bashrc (bash sources it under sshd) is not
                # part of what is measured.
                f"SetEnv ROCKS_TEST_NODE={name} HOME={self.workdir}",
                *(extra or {}).get(name, []),
            ]
            config = self.workdir / f"sshd-{name}.conf"
            config.write_text("\n".join(lines) + "\n")
            self.nodes[name] = Node(name, self.spaces[i], self.address(i), port, config,
                                    self.workdir / f"sshd-{name}.log")
        for name in names:
            self.start(name, wait=False)
        for name in names:
            self.wait_up(name)

    def known_hosts(self) -> str:
        """known_hosts lines with the genuine key for every node (aliases = node names)."""
        return "".join(f"{n} {self.host_key_pub}\n" for n in self.nodes)

    def start(self, name: str, wait: bool = True) -> None:
        node = self.nodes[name]
        with open(node.log, "ab") as log:
            node.proc = subprocess.Popen(
                ["ip", "netns", "exec", node.netns, SSHD, "-r", "-D", "-e", "-f", str(node.config)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )
        if wait:
            self.wait_up(name)

    def wait_up(self, name: str, timeout: float = 10.0) -> None:
        node = self.nodes[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(f"sshd for {name} exited: {node.log.read_text()[-500:]}")
            try:
                with socket.create_connection((node.address, node.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"sshd for {name} did not come up in {timeout} s")

    def stop(self, name: str) -> None:
        node = self.nodes[name]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.terminate()
            try:
                node.proc.wait(5)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(5)
        node.proc = None

    def close(self) -> None:
        for name in list(self.nodes):
            with contextlib.suppress(Exception):  # keep tearing down the rest
                self.stop(name)
        for ns in self.spaces:
            # Sessions sshd forked for a killed test may still hold the namespace open; the
            # veth goes with it when the namespace is deleted.
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid), 9)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if self.bridge:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.spaces.clear()
