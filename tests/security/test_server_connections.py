"""Idle and slow connections cannot lock nodes out (issue 13).

A real frontend process whose descriptor limit is the common default (1,024, soft and hard):
1,100 sockets that connect and send nothing used to take every descriptor, after which the
frontend refused everyone. Now the oldest idle connection makes room for a new one, so a node
still gets its kickstart — with header and keep-alive timeouts set far beyond the test, so only
the connection cap can be what let it in. When every connection is busy a newcomer is told 503
with Retry-After; a request whose headers trickle in is closed after the header timeout.
"""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import Cluster, Server, make_cluster
from tests.server.test_install import client

IDLE = 1100
FILES = 1024


def _files_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILES, FILES))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = make_cluster(tmp_path_factory.mktemp("cluster"), 2)
    yield c
    c.inventory.close()


@pytest.fixture
def enough_files() -> Iterator[None]:
    """This test process holds the idle sockets: it needs more than 1,100 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE + 200
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.fail(f"the test needs {want} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_idle(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
    return socks


def closed_by_server(s: socket.socket, wait: float) -> bool:
    s.settimeout(wait)
    try:
        return s.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_1100_idle_connections_and_a_node_still_gets_its_kickstart(
        cluster: Cluster, tmp_path: Path, enough_files: None) -> None:
    srv = Server(cluster, tmp_path, keep_alive_timeout=600.0, header_timeout=600.0)
    srv.start(preexec_fn=_files_1024)
    socks: list[socket.socket] = []
    try:
        socks = open_idle(srv.port, IDLE)
        name = "compute-0-0"
        with client(srv, cluster.addresses[name]) as c:
            r = c.get(f"/install/kickstart?token={cluster.tokens[name]}")
            assert r.status_code == 200 and f"hostname={name}" in r.text
            assert c.get("/status.json").status_code == 200
        # the oldest idle sockets were closed to make room; the newest are still open
        assert closed_by_server(socks[0], 5.0)
        assert not closed_by_server(socks[-1], 0.2)
        log = srv.logs()
        assert "Too many open files" not in log and "Traceback" not in log
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_all_connections_busy_is_503_and_slow_headers_are_closed(
        cluster: Cluster, tmp_path: Path) -> None:
    srv = Server(cluster, tmp_path, max_connections=20, header_timeout=1.0,
                 keep_alive_timeout=600.0, body_timeout=600.0)
    srv.start()
    busy: list[socket.socket] = []
    try:
        # 20 requests in progress: headers sent, the body still to come
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"POST /install/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n\r\nstage=")
            busy.append(s)
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        extra.settimeout(10)
        reply = b""
        while chunk := extra.recv(4096):
            reply += chunk
        extra.close()
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 2" in head.lower() and body == b"busy, retry later\n"
        for s in busy:
            s.close()
        busy.clear()
        # headers that never finish: closed after the header timeout (1 s here)
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        slow.sendall(b"GET /status.json HTTP/1.1\r\nHost: x\r\n")
        assert closed_by_server(slow, 15.0)
        slow.close()
        assert "reason=all-20-connections-busy" in srv.logs()
    finally:
        for s in busy:
            s.close()
        srv.stop()
