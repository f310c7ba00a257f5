"""Distribution files, the admin API and the dashboard, against a real server."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import time
import zlib
from pathlib import Path

import httpx

from rocks.inventory import queries as q
from tests.conftest import require_tool
from tests.server.conftest import API_TOKEN, ROOTPW, Cluster, Server
from tests.server.nodes import Connection
from tests.server.test_install import client, events_of

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def distro_file(cluster: Cluster) -> bytes:
    data = bytes(range(256)) * 40
    path = cluster.state / "distro" / "BaseOS" / "repodata" / "repomd.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def test_distro_range_requests(cluster: Cluster, server: Server) -> None:
    data = distro_file(cluster)
    url = f"{server.base}/install/distro/BaseOS/repodata/repomd.xml"
    full = httpx.get(url)
    assert (full.status_code, full.content) == (200, data)
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = httpx.get(url, headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, data[-10:])
    assert httpx.get(url, headers={"Range": "bytes=99999-"}).status_code == 416
    assert httpx.post(url).status_code == 405


def test_distro_traversal_is_impossible(cluster: Cluster, server: Server) -> None:
    distro_file(cluster)
    outside = cluster.state / "distro" / "escape"
    if not outside.exists():
        outside.symlink_to(cluster.state / "rocks.db")

    async def raw(path: str) -> int:
        conn = Connection(server.port)
        try:
            return (await conn.request("GET", path)).status
        finally:
            await conn.close()

    for path in ("/install/distro/../rocks.db", "/install/distro/%2e%2e/rocks.db",
                 "/install/distro/BaseOS/../../rocks.db", "/install/distro/%2e%2e%2frocks.db",
                 "/install/distro/escape", "/install/distro//etc/passwd"):
        assert asyncio.run(raw(path)) == 404, path


def test_fetching_packages_infers_the_packages_stage(cluster: Cluster, server: Server) -> None:
    distro_file(cluster)
    name = "compute-0-7"
    with client(server, cluster.addresses[name]) as c:
        assert c.get(f"/install/kickstart?token={cluster.tokens[name]}").status_code == 200
        time.sleep(0.2)
        for _ in range(3):
            assert c.get("/install/distro/BaseOS/repodata/repomd.xml").status_code == 200
    time.sleep(0.3)
    assert [s for s, _ in events_of(cluster, name)] == ["fetched-kickstart", "packages"]


def test_api_needs_the_token_and_masks_secrets(cluster: Cluster, server: Server) -> None:
    for path in ("/api/hosts", "/api/hosts/compute-0-1", "/api/appliances", "/api/events"):
        r = httpx.get(server.base + path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert httpx.get(server.base + path,
                         headers={"Authorization": "Bearer wrong"}).status_code == 401
    hosts = httpx.get(f"{server.base}/api/hosts", headers=AUTH).json()
    assert [h["name"] for h in hosts] == sorted(cluster.addresses)
    assert hosts[1]["ips"] == [cluster.addresses[hosts[1]["name"]]]
    r = httpx.get(f"{server.base}/api/hosts/compute-0-1", headers=AUTH)
    detail = r.json()
    assert detail["attrs"]["rootpw_hash"] == "********"
    assert "install_token" not in detail["attrs"]
    assert detail["attrs"]["hostname"] == "compute-0-1"
    assert ROOTPW not in r.text
    assert not any(t in r.text for t in cluster.tokens.values())
    apps = {a["name"]: a for a in httpx.get(f"{server.base}/api/appliances",
                                            headers=AUTH).json()}
    assert apps["compute"]["hosts"] == 8
    assert httpx.get(f"{server.base}/api/hosts/nope", headers=AUTH).status_code == 404
    schema = httpx.get(f"{server.base}/api/openapi.json").json()
    assert {"/api/hosts", "/api/hosts/{name}", "/api/appliances",
            "/api/events"} <= set(schema["paths"])


def test_api_events(cluster: Cluster, server: Server) -> None:
    name = "compute-0-1"
    with client(server, cluster.addresses[name]) as c:
        c.get(f"/install/kickstart?token={cluster.tokens[name]}")
        r = c.post("/install/events", data={"stage": "pre", "message": "hello",
                                            "token": cluster.tokens[name]})
        assert r.status_code == 200
    events = httpx.get(f"{server.base}/api/hosts/{name}/events", headers=AUTH).json()
    assert events[-1]["stage"] == "pre" and events[-1]["message"] == "hello"
    assert events[-1]["source"] == cluster.addresses[name]


def test_dashboard_pages(cluster: Cluster, server: Server) -> None:
    page = httpx.get(server.base + "/")
    assert page.status_code == 200
    for name in cluster.addresses:
        assert f'<a href="/hosts/{name}">{name}</a>' in page.text
    status = httpx.get(server.base + "/status.json").json()
    assert status["summary"]["hosts"] == 8
    host = httpx.get(server.base + "/hosts/compute-0-1")
    assert host.status_code == 200
    assert "# rocks: base:nodes/base.xml:" in host.text  # provenance
    assert "--hostname=compute-0-1.local" in host.text
    assert ROOTPW not in host.text and "********" in host.text
    assert not any(t in host.text for t in cluster.tokens.values())
    assert httpx.get(server.base + "/hosts/nope").status_code == 404
    graph = httpx.get(server.base + "/appliances/compute/graph")
    assert graph.status_code == 200
    require_tool("dot", "graphviz")  # the page embeds the SVG drawn by dot
    assert "<svg" in graph.text
    assert "digraph" in graph.text


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def png_distinct_rows(data: bytes) -> int:
    """How many distinct pixel rows the image has (a blank page has one)."""
    _width, height = png_size(data)
    raw = b""
    pos = 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            raw += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    pixels = zlib.decompress(raw)
    stride = len(pixels) // height
    return len({pixels[i * stride + 1:(i + 1) * stride] for i in range(height)})


def test_dashboard_in_headless_chromium(cluster: Cluster, server: Server, tmp_path: Path) -> None:
    common = [require_tool("chromium", "chromium"), "--headless", "--no-sandbox",
              "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
              "--window-size=1280,800", "--virtual-time-budget=3000"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run([*common, "--dump-dom", server.base + "/"], capture_output=True,
                         text=True, timeout=90, env=env)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in cluster.addresses:
        assert f">{name}</a>" in dom.stdout
    shot = tmp_path / "dashboard.png"
    run = subprocess.run([*common, f"--screenshot={shot}", server.base + "/"],
                         capture_output=True, text=True, timeout=90, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert png_size(data) == (1280, 800)
    assert png_distinct_rows(data) > 50  # text and table rows, not a blank page
    keep = os.environ.get("ROCKS_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(data)


def test_list_host_install_cli(cluster: Cluster, server: Server) -> None:
    from rocks.cli.context import run_cli

    env = {"ROCKS_DATABASE_URL": cluster.url}
    with cluster.inventory.transaction() as s:
        q.add_event(s, "compute-0-2", "pre", "installer started")
    out = run_cli(["list", "host", "install", "compute-0-2", "compute-0-3", "compute-0-5"], env)
    assert out.code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["HOST", "STAGE", "SINCE", "LAST-MESSAGE"]
    assert lines[1].split()[:2] == ["compute-0-2", "pre"]
    assert lines[1].endswith("installer started")
    assert lines[2].split() == ["compute-0-3", "-", "-", "-"]
    time.sleep(1.1)
    out = run_cli(["list", "host", "install", "compute-0-2", "stall-after=1",
                   "output-format=json"], env)
    assert out.code == 0, out.stderr
    import json

    rows = json.loads(out.stdout)
    assert rows[0]["host"] == "compute-0-2" and rows[0]["stage"] == "stalled"
    assert rows[0]["last-message"] == "installer started"


def test_ipxe_script_per_mac_and_boot_files(cluster: Cluster, server: Server) -> None:
    from tests.server.conftest import mac

    kernel = cluster.state / "distro" / "images" / "pxeboot" / "vmlinuz"
    kernel.write_bytes(b"kernel bytes")
    with client(server, cluster.addresses["compute-0-1"]) as c:
        r = c.get("/boot/ipxe", params={"mac": mac(1).replace(":", "-")})
        assert r.status_code == 200
        assert r.text.startswith("#!ipxe\n")
        assert f"token={cluster.tokens['compute-0-1']}" in r.text
        assert "inst.ks.sendmac" in r.text and "initrd=initrd.img" in r.text
        assert r.headers["cache-control"] == "no-store"
        # the host's address with another host's MAC: refused like every refusal
        r = c.get("/boot/ipxe", params={"mac": mac(2)})
        assert (r.status_code, r.text) == (403, "refused\n")
        assert c.get("/boot/ipxe", params={"mac": "nope"}).status_code == 400
    # a host that is not installing boots its disk
    with client(server, cluster.addresses["compute-0-3"]) as c:
        idle = c.get("/boot/ipxe", params={"mac": mac(3)})
        assert idle.status_code == 200 and "token=" not in idle.text
        assert "\nexit\n" in idle.text
    assert httpx.get(f"{server.base}/boot/files/vmlinuz").content == b"kernel bytes"
    assert httpx.get(f"{server.base}/boot/files/../rocks.db").status_code == 404
