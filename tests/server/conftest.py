"""A real frontend for the server tests: an inventory with N installing compute nodes, each
with its own loopback address, and uvicorn in a subprocess on an ephemeral port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy.orm import Session

from rocks.inventory import Inventory, open_inventory
from rocks.inventory import queries as q
from rocks.inventory.install import begin_install_many
from rocks.model.inventory import Host, Interface, Network, Scope
from rocks.server.config import ServerConfig
from tests.server.nodes import node_address

REPO = Path(__file__).resolve().parents[2]
API_TOKEN = "test-api-token-0123456789"
ROOTPW = "$6$saltsalt$secrethashvalue"  # a secret attribute that must never leak
T = TypeVar("T")


def ensure_appliances(session: Session) -> None:
    """Seed boot actions and the bundled graph's appliances, as a new state does."""
    from rocks.model.inventory import Appliance
    from rocks.profiles import cluster_graph

    if q.has_appliances(session):
        return
    graph = cluster_graph(None, None).graph
    q.seed_defaults(session, [Appliance(a.name, a.node, a.kickstartable, a.public)
                              for a in sorted(graph.appliances.values(), key=lambda a: a.name)])


def mac(i: int) -> str:
    return f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    url: str
    state: Path
    inventory: Inventory
    tokens: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.addresses, key=lambda n: int(n.rsplit("-", 1)[1]))


def make_cluster(state: Path, n: int, url: str | None = None, idle: tuple[str, ...] = ()
                 ) -> Cluster:
    """compute-0-0 … compute-0-<n-1> at 127.10.x.y, all installing except `idle`."""
    url = url or f"sqlite:///{state / 'rocks.db'}"
    inv = open_inventory(url)
    cluster = Cluster(url, state, inv)
    with inv.transaction() as s:
        ensure_appliances(s)
        q.add_network(s, Network("loop", "127.0.0.0", "255.0.0.0", zone="local", pxe=True))
        hosts = []
        for i in range(n):
            name = f"compute-0-{i}"
            cluster.addresses[name] = node_address(i)
            hosts.append(Host(name, "compute", 0, i, interfaces=(
                Interface(name, "eth0", mac(i), node_address(i), "loop"),)))
        q.add_hosts_bulk(s, hosts)
        q.set_attr(s, Scope.GLOBAL, "", "rootpw_hash", ROOTPW, secret=True)
        q.set_attr(s, Scope.GLOBAL, "", "Kickstart_FrontendURL", "http://127.0.0.1:1")
        chosen = [h for h in cluster.names() if h not in idle]
        cluster.tokens = begin_install_many(s, chosen)
    return cluster


class Server:
    """`python -m rocks.server.run` in a subprocess; its log is kept for the tests."""

    def __init__(self, cluster: Cluster, tmp: Path, *, state: Path | None = None,
                 **config: object) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.log = tmp / "server.log"
        host = str(config.pop("host", "127.0.0.1"))  # another 127.x: another frontend
        self.config = ServerConfig(database_url=cluster.url,
                                   state_dir=str(state or cluster.state), host=host,
                                   port=self.port, **config)  # type: ignore[arg-type]
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0, preexec_fn: Callable[[], object] | None = None
              ) -> None:
        env = {**os.environ, "ROCKS_SERVER_CONFIG": self.config.to_env(),
               "ROCKS_API_TOKEN": API_TOKEN, "PYTHONPATH": str(REPO)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "rocks.server.run"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                         preexec_fn=preexec_fn)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/status.json", timeout=1, headers={
                        "Authorization": f"Bearer {API_TOKEN}"}).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop(kill=True)  # never leave a half-started server behind
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def logs(self) -> str:
        return self.log.read_text()

    def wait_refresh(self, seconds: float = 0.0) -> None:
        """Let the server notice an inventory change (it checks every refresh_interval)."""
        time.sleep(max(seconds, self.config.refresh_interval * 2.5))


def until(probe: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Poll `probe` until it returns something true (the server acts asynchronously: its event
    writer and snapshot refresher); fail with `what` after `timeout` seconds, however loaded
    the machine is (a generous bound, never a measurement)."""
    end = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Shared by a module's tests (a server start costs seconds): each test uses its own hosts.
    compute-0-3 is not set to install."""
    c = make_cluster(tmp_path_factory.mktemp("cluster"), 8, idle=("compute-0-3",))
    yield c
    c.inventory.close()


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(cluster, tmp_path_factory.mktemp("server"), refresh_interval=0.2)
    srv.start()
    yield srv
    srv.stop()
