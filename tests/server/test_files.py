"""The distribution and the boot files sent by the connection protocol with sendfile (files.py,
conn.py): ranges, conditional requests, what falls back to StaticFiles, and the rules of the
lookup (nothing outside the served directory)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from pathlib import Path

import httpx
import pytest

from rocks.server.files import Unsatisfiable, answer, lookup, parse_range
from tests.server.conftest import Cluster, Server, until
from tests.server.nodes import Connection

BIG = 3 * 1024 * 1024 + 17  # several sendfile calls, not a multiple of any buffer


# -- units ----------------------------------------------------------------------------------
def test_parse_range() -> None:
    assert parse_range("bytes=0-99", 1000) == (0, 100)
    assert parse_range("bytes=900-", 1000) == (900, 1000)
    assert parse_range("bytes=-10", 1000) == (990, 1000)
    assert parse_range("bytes=-5000", 1000) == (0, 1000)
    assert parse_range("bytes=10-99999", 1000) == (10, 1000)
    assert parse_range(" BYTES = 1 - 2 ", 1000) == (1, 3)  # the unit is case-insensitive
    assert parse_range("items=0-1", 1000) is None
    assert parse_range("bytes=x-y", 1000) is None
    assert parse_range("bytes=-", 1000) is None
    assert parse_range("bytes=0-1,5-6", 1000) == []
    for bad in ("bytes=1000-", "bytes=5-4", "bytes=-0"):
        with pytest.raises(Unsatisfiable):
            parse_range(bad, 1000)
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=-1", 0)


def test_lookup_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "distro"
    (root / "Packages").mkdir(parents=True)
    (root / "Packages" / "a.rpm").write_bytes(b"rpm")
    (tmp_path / "secret").write_text("no")
    (root / "out").symlink_to(tmp_path / "secret")
    (root / "in").symlink_to(root / "Packages" / "a.rpm")
    d = os.path.realpath(root)
    found = lookup(d, "Packages/a.rpm")
    assert found is not None and found[0] == str(root / "Packages" / "a.rpm")
    assert lookup(d, "Packages//a.rpm") is not None
    assert lookup(d, "in") is not None  # a link that stays inside is followed
    for rel in ("../secret", "Packages/../../secret", "out", "/etc/passwd", "", "Packages",
                "Packages/none.rpm", "a\x00b", "Packages/a.rpm/x", "x" * 5000):
        assert lookup(d, rel) is None, rel


def test_answer_headers(tmp_path: Path) -> None:
    f = tmp_path / "a.xml"
    f.write_bytes(b"0123456789")
    st = os.stat(f)
    whole = answer(str(f), st, [], head=False)
    assert whole is not None and (whole.status, whole.offset, whole.count) == (200, 0, 10)
    hdrs = dict(whole.headers)
    assert hdrs[b"content-type"] == b"application/xml"
    etag = hdrs[b"etag"]
    head = answer(str(f), st, [], head=True)
    assert head is not None and head.count == 0 and dict(head.headers)[b"content-length"] == b"10"
    same = answer(str(f), st, [(b"if-none-match", b'"x", ' + etag)], head=False)
    assert same is not None and same.status == 304 and same.count == 0
    part = answer(str(f), st, [(b"range", b"bytes=2-4")], head=False)
    assert part is not None and (part.status, part.offset, part.count) == (206, 2, 3)
    assert dict(part.headers)[b"content-range"] == b"bytes 2-4/10"
    stale = answer(str(f), st, [(b"range", b"bytes=2-4"), (b"if-range", b'"old"')], head=False)
    assert stale is not None and stale.status == 200
    fresh = answer(str(f), st, [(b"range", b"bytes=2-4"), (b"if-range", etag)], head=False)
    assert fresh is not None and fresh.status == 206
    past = answer(str(f), st, [(b"range", b"bytes=10-")], head=False)
    assert past is not None and past.status == 416
    assert dict(past.headers)[b"content-range"] == b"bytes */10"
    assert answer(str(f), st, [(b"range", b"bytes=0-1,3-4")], head=False) is None


# -- against a real server ------------------------------------------------------------------
def big_file(cluster: Cluster) -> tuple[bytes, str]:
    data = os.urandom(BIG)
    path = cluster.state / "distro" / "Packages" / "big pkg-1.0.rpm"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path.read_bytes(), "/install/distro/Packages/big%20pkg-1.0.rpm"


async def _requests(port: int, path: str, asks: list[dict[str, str]],
                    method: str = "GET") -> list[tuple[int, dict[str, str], bytes]]:
    """Several requests on one keep-alive connection."""
    conn = Connection(port)
    try:
        out = []
        for headers in asks:
            r = await conn.request(method, path, headers)
            out.append((r.status, r.headers, r.body))
        return out
    finally:
        await conn.close()


def test_whole_file_ranges_and_keep_alive(cluster: Cluster, server: Server) -> None:
    data, path = big_file(cluster)
    n = len(data)
    got = asyncio.run(_requests(server.port, path, [
        {}, {"Range": "bytes=1000000-"}, {"Range": "bytes=-7"}, {"Range": "bytes=5-5"},
        {"Range": f"bytes={n}-"}, {}]))
    (s1, h1, b1), (s2, h2, b2), (s3, _, b3), (s4, _, b4), (s5, h5, b5), (s6, _, b6) = got
    assert (s1, b1 == data, h1["accept-ranges"], h1["content-type"]) == \
        (200, True, "bytes", "application/x-redhat-package-manager")
    assert (s2, b2 == data[1000000:], h2["content-range"]) == \
        (206, True, f"bytes 1000000-{n - 1}/{n}")
    assert (s3, b3, s4, b4) == (206, data[-7:], 206, data[5:6])
    assert (s5, h5["content-range"], b5) == (416, f"bytes */{n}", b"")
    assert (s6, b6 == data) == (200, True)  # the connection still serves after all that
    log = until(lambda: (t := server.logs()).count("Packages/big pkg-1.0.rpm") >= 6
                and t, "access lines")
    assert re.search(rf"served path=\"/install/distro/Packages/big pkg-1.0.rpm\" status=200 "
                     rf"client=127.0.0.1 bytes={n}\b", log)
    assert re.search(r"served path=\"/install/distro/Packages/big pkg-1.0.rpm\" status=206 "
                     r"client=127.0.0.1 bytes=7\b", log)


def test_head_and_conditional(cluster: Cluster, server: Server) -> None:
    data, path = big_file(cluster)
    [(s, h, b)] = asyncio.run(_requests(server.port, path, [{}], method="HEAD"))
    assert (s, b, int(h["content-length"])) == (200, b"", len(data))
    etag, modified = h["etag"], h["last-modified"]
    got = asyncio.run(_requests(server.port, path, [
        {"If-None-Match": etag}, {"If-None-Match": '"other"'}, {"If-Modified-Since": modified},
        {"Range": "bytes=0-9", "If-Range": etag}, {"Range": "bytes=0-9", "If-Range": '"old"'}]))
    assert [s for s, _, _ in got] == [304, 200, 304, 206, 200]
    assert got[0][1]["etag"] == etag and got[0][2] == b""
    assert got[3][2] == data[:10] and got[4][2] == data
    # the same ETag as Starlette's StaticFiles gave before (caches and dnf keep theirs)
    r = httpx.get(server.base + path, headers={"Range": "bytes=0-1,4-5"})  # multipart: StaticFiles
    assert r.status_code == 206 and r.headers["etag"] == etag
    assert r.headers["content-type"].startswith("multipart/byteranges")
    # a range header that cannot be parsed is ignored (RFC 9110), where StaticFiles said 400:
    # this is the protocol's answer, not the fallback's
    [(s, _, b)] = asyncio.run(_requests(server.port, path, [{"Range": "bytes=x-y"}]))
    assert (s, b == data) == (200, True)


def test_missing_outside_and_directories_are_404(cluster: Cluster, server: Server) -> None:
    big_file(cluster)
    (cluster.state / "secret.txt").write_text("secret")
    link = cluster.state / "distro" / "leak"
    if not link.exists():
        link.symlink_to(cluster.state / "secret.txt")
    for path in ("/install/distro/Packages/none.rpm", "/install/distro/leak",
                 "/install/distro/%2e%2e/secret.txt",
                 "/install/distro/Packages/%2e%2e%2f..%2fsecret.txt",
                 "/install/distro/Packages/..%5c..%5csecret.txt", "/install/distro/%00",
                 "/boot/files/../../secret.txt", "/install/distro/Packages/\xe9.rpm"):
        [(s, _, body)] = asyncio.run(_requests(server.port, path, [{}]))
        assert s in (400, 404) and b"secret" not in body, path  # 400: httptools' own
    assert httpx.post(server.base + "/install/distro/Packages/none.rpm").status_code == 405


def test_boot_files(cluster: Cluster, server: Server) -> None:
    kernel = cluster.state / "distro" / "images" / "pxeboot" / "vmlinuz"
    kernel.parent.mkdir(parents=True, exist_ok=True)
    kernel.write_bytes(b"k" * 100_000)
    [(s, h, b)] = asyncio.run(_requests(server.port, "/boot/files/vmlinuz", [{}]))
    assert (s, b, h["content-length"]) == (200, b"k" * 100_000, "100000")


def test_a_client_that_leaves_mid_file(cluster: Cluster, server: Server) -> None:
    data, path = big_file(cluster)
    for _ in range(5):  # reads the head and a little, then resets the connection
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            s.recv(1000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    got = asyncio.run(_requests(server.port, path, [{}, {"Range": "bytes=-3"}]))
    assert got[0][2] == data and got[1][2] == data[-3:]


def test_http10_closes(cluster: Cluster, server: Server) -> None:
    data, path = big_file(cluster)
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
    assert body == data
