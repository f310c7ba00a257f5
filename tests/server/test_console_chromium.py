"""The console at 10,000 hosts in headless Chromium (driven over the DevTools pipe): the one
failed host is on the first screen without scrolling, a filter finds a host, a card filters,
and a second failure reaches the open page by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.cdp import Chromium
from tests.server.conftest import Cluster, Server
from tests.server.racks import make_racked_cluster, wait_until
from tests.server.test_install import client

FAILED = "compute-57-43"  # row 5,744 in name order
LATER = "compute-88-8"
ROWS = "[...document.querySelectorAll('#hosts tr[data-name]')].map(t => t.dataset.name)"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Server]]:
    cluster = make_racked_cluster(tmp_path_factory.mktemp("big"), 100, 100,
                                  installing=[FAILED, LATER])
    srv = Server(cluster, tmp_path_factory.mktemp("server"), refresh_interval=0.5)
    srv.start(timeout=120)
    yield cluster, srv
    srv.stop()
    cluster.inventory.close()


def fail(srv: Server, cluster: Cluster, name: str) -> None:
    token = cluster.tokens[name]
    with client(srv, cluster.addresses[name]) as c:
        assert c.get(f"/install/kickstart?token={token}").status_code == 200
        r = c.post("/install/events", data={"stage": "failed", "token": token,
                                            "message": "installer failed\nERROR: disk"})
        assert r.text == "ok\n"


def test_console_at_ten_thousand_hosts(big: tuple[Cluster, Server], tmp_path: Path) -> None:
    cluster, srv = big
    fail(srv, cluster, FAILED)
    wait_until(lambda: httpx.get(f"{srv.base}/console.json",
                                 params={"state": "failed"}).json()["total"] == 1)
    page = httpx.get(srv.base + "/")
    assert page.status_code == 200 and len(page.content) < 200_000  # a page, not 10,000 rows
    with Chromium(tmp_path / "profile", width=1280, height=800) as browser:
        browser.open(srv.base + "/")
        assert browser.js("document.querySelector('#pageinfo').textContent") == \
            "page 1 of 100 · 10000 hosts"
        top, bottom, height, scrolled = browser.js(
            f"(() => {{ const r = document.querySelector('tr[data-name=\"{FAILED}\"]')"
            ".getBoundingClientRect(); return [r.top, r.bottom, innerHeight, scrollY]; })()")
        assert scrolled == 0 and 0 <= top < bottom <= height  # on the first screen
        assert browser.js(ROWS)[0] == FAILED
        assert browser.js("document.getElementById('n-failed').textContent") == "1"

        # a filter finds a host among 10,000
        browser.js("document.querySelector('input[name=q]').focus()")
        browser.type("compute-42-7")
        names = browser.wait_for(f"(n => n[0] === 'compute-42-7' && n)({ROWS})")
        assert names == ["compute-42-7"] + [f"compute-42-{k}" for k in range(70, 80)]
        assert "q=compute-42-7" in browser.js("location.search")

        # the failed card shows the failed hosts; a second failure arrives by itself
        browser.js("document.querySelector('input[name=q]').value = ''")
        browser.js("document.querySelector('a.card[data-state=failed]').click()")
        assert browser.wait_for(f"(n => n.length === 1 && n)({ROWS})") == [FAILED]
        fail(srv, cluster, LATER)
        names = browser.wait_for(f"(n => n.length === 2 && n)({ROWS})", timeout=20)
        assert set(names) == {FAILED, LATER}
        cards = json.loads(browser.js(
            "JSON.stringify([...document.querySelectorAll('#cards b')].map(b => b.id + '=' "
            "+ b.textContent))"))
        assert "n-failed=2" in cards and "n-hosts=10000" in cards
