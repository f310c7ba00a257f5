"""The console against a real server: pages, natural and rack order, filters, problems first,
cards and racks, deltas (since= and ETag), removed hosts, the live host page, up/down, package
progress from distribution fetches, stalls, MACs behind the login, and the access log."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from rocks.inventory import queries as q
from tests.server.conftest import API_TOKEN, Cluster, Server
from tests.server.racks import make_racked_cluster, wait_until
from tests.server.test_install import client, events_of

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
RACKS, PER_RACK = 3, 12
INSTALLING = [f"compute-{r}-{k}" for r in (0, 1) for k in range(PER_RACK)]


@pytest.fixture(scope="module")
def racked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = make_racked_cluster(tmp_path_factory.mktemp("racked"), RACKS, PER_RACK,
                            installing=INSTALLING)
    yield c
    c.inventory.close()


@pytest.fixture(scope="module")
def console(racked: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(racked, tmp_path_factory.mktemp("console"), refresh_interval=0.2)
    srv.start()
    yield srv
    srv.stop()


def page(server: Server, headers: dict[str, str] | None = None, **params: Any) -> Any:
    r = httpx.get(f"{server.base}/console.json", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def post_event(server: Server, cluster: Cluster, name: str, stage: str,
               message: str = "") -> httpx.Response:
    with client(server, cluster.addresses[name]) as c:
        return c.post("/install/events", data={"stage": stage, "message": message,
                                               "token": cluster.tokens.get(name, "")})


def test_pages_in_natural_order(racked: Cluster, console: Server) -> None:
    first = page(console, size=10, problems="no")
    assert first["total"] == RACKS * PER_RACK and first["pages"] == 4 and first["full"]
    assert first["names"] == [f"compute-0-{k}" for k in range(10)]
    assert set(first["rows"]) == set(first["names"])  # a page, not the inventory
    second = page(console, size=10, page=2, problems="no")
    # natural: compute-0-10 and compute-0-11 after compute-0-9, then rack 1 (1 < 10)
    assert second["names"] == ["compute-0-10", "compute-0-11"] + [
        f"compute-1-{k}" for k in range(8)]
    last = page(console, size=10, page=99)
    assert last["page"] == 4 and len(last["names"]) == 6
    row = first["rows"]["compute-0-3"]
    assert (row["rack"], row["rank"], row["ips"]) == (0, 3, [racked.addresses["compute-0-3"]])
    assert row["macs"] == []  # no login on loopback: no MACs


def test_rack_order_filters_and_cards(racked: Cluster, console: Server) -> None:
    by_rack = page(console, sort="rack", size=500, problems="no")["names"]
    assert by_rack[:3] == ["compute-0-0", "compute-0-1", "compute-0-2"]
    assert by_rack.index("compute-0-11") < by_rack.index("compute-1-0")
    assert page(console, rack=2)["total"] == PER_RACK
    assert page(console, rack="rack1", problems="no")["names"][0] == "compute-1-0"
    assert page(console, appliance="compute")["total"] == RACKS * PER_RACK
    assert page(console, appliance="nas")["total"] == 0
    assert page(console, state="installing")["total"] == len(INSTALLING)
    assert page(console, state="os")["total"] == PER_RACK
    assert page(console, q="compute-2-1")["names"] == ["compute-2-1", "compute-2-10",
                                                      "compute-2-11"]
    assert page(console, q="compute-1-?")["total"] == 10  # a glob
    address = racked.addresses["compute-2-5"]
    assert page(console, q=address)["names"] == ["compute-2-5"]
    assert page(console, state="bogus", sort="bogus")["total"] == RACKS * PER_RACK
    racks = {r["rack"]: r for r in page(console)["racks"]}
    assert racks[1]["hosts"] == PER_RACK and racks[1]["installing"] == PER_RACK
    html = httpx.get(console.base + "/").text
    for state in ("installing", "finished", "failed", "stalled", "up", "down"):
        assert f'href="/?state={state}"' in html  # every card filters
    assert 'href="/?rack=2"' in html


def test_a_failure_comes_first_and_is_counted(racked: Cluster, console: Server) -> None:
    name = "compute-1-7"
    assert post_event(console, racked, name, "failed", "installer failed\nERROR: disk").text \
        == "ok\n"
    data = wait_until(lambda: (d := page(console, size=10))["names"][0] == name and d)
    assert data["summary"]["failed"] == 1
    assert data["rows"][name]["stage"] == "failed"
    assert data["rows"][name]["message"] == r"installer failed … ERROR: disk"
    assert {r["rack"]: r["failed"] for r in data["racks"]}[1] == 1
    assert page(console, state="failed")["names"] == [name]
    assert page(console, state="problems")["names"][0] == name
    # problems first can be turned off: then it is in its place
    assert name not in page(console, size=10, problems="no")["names"]
    html = httpx.get(console.base + "/?size=10").text
    assert html.index(f'data-name="{name}"') < html.index('data-name="compute-0-0"')


def test_deltas_carry_only_what_changed(racked: Cluster, console: Server) -> None:
    r = httpx.get(f"{console.base}/console.json", params={"size": 50})
    version, etag = r.json()["version"], r.headers["etag"]
    same = httpx.get(f"{console.base}/console.json", params={"size": 50},
                     headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    name = "compute-0-5"
    post_event(console, racked, name, "pre", "installer started")
    delta = wait_until(lambda: (d := page(console, size=50, since=version))["rows"] and d)
    assert not delta["full"]
    assert set(delta["rows"]) == {name}  # one row, not the page
    assert delta["rows"][name]["stage"] == "pre"
    assert len(delta["names"]) == RACKS * PER_RACK and delta["version"] != version
    post_event(console, racked, name, "pre", "still starting")
    again = wait_until(lambda: (d := page(console, size=50, since=delta["version"]))["rows"]
                       and d)
    assert set(again["rows"]) == {name} and "racks" not in again  # rack counts did not move
    assert len(json.dumps(again)) < 4000
    # a version of another process (a restart, another worker): the whole page
    assert page(console, size=50, since="deadbeef.3")["full"]
    assert page(console, size=50, since="garbage")["full"]


def test_removed_hosts_vanish(racked: Cluster, console: Server) -> None:
    from rocks.model.inventory import Host

    name = "compute-9-0"
    with racked.inventory.transaction() as s:
        q.add_host(s, Host(name, "compute", 9, 0))
    live = wait_until(lambda: (r := httpx.get(f"{console.base}/hosts/{name}/live"))
                      .status_code == 200 and r)
    assert live.json()["row"]["name"] == name
    before = page(console, size=500)
    with racked.inventory.transaction() as s:
        q.remove_host(s, name)
    delta = wait_until(lambda: (d := page(console, size=500, since=before["version"]))[
        "removed"] and d)
    assert delta["removed"] == [name] and name not in delta["names"]
    assert delta["total"] == before["total"] - 1
    assert httpx.get(f"{console.base}/hosts/{name}/live").status_code == 404
    assert name not in httpx.get(console.base + "/").text


def test_host_page_is_live(racked: Cluster, console: Server) -> None:
    name = "compute-0-8"
    page_html = httpx.get(f"{console.base}/hosts/{name}").text
    assert '/hosts/" + encodeURIComponent(INIT.name) + "/live"' in page_html
    first = httpx.get(f"{console.base}/hosts/{name}/live")
    tag = first.headers["etag"]
    assert httpx.get(f"{console.base}/hosts/{name}/live",
                     headers={"If-None-Match": tag}).status_code == 304
    post_event(console, racked, name, "pre", "hello from the installer")

    def changed() -> Any:
        r = httpx.get(f"{console.base}/hosts/{name}/live", headers={"If-None-Match": tag})
        return r.status_code == 200 and r.json()

    data = wait_until(changed)
    assert data["row"]["stage"] == "pre"
    assert data["events"][-1]["message"] == "hello from the installer"


def test_up_and_down(racked: Cluster, console: Server) -> None:
    from rocks.remote.status import Source, State, record

    name = "compute-2-3"  # boots its os
    assert page(console, q=name)["rows"][name]["live"] == ""
    with client(console, racked.addresses[name]) as c:
        assert c.post("/install/events", data={"stage": "up", "message": "booted"}).text == \
            "ok\n"
    row = wait_until(lambda: (r := page(console, q=name)["rows"][name])["live"] and r)
    assert (row["live"], row["live_source"]) == ("up", "heartbeat")
    assert name in page(console, state="up")["names"]
    assert name not in page(console, state="down")["names"]
    # a later probe that found it down wins (rocks list host status probe=yes records it)
    with racked.inventory.transaction() as s:
        record(s, {name: (State.DOWN, Source.PROBE.value)}, datetime.now(UTC))
    row = wait_until(lambda: (r := page(console, q=name)["rows"][name])["live"] == "down"
                     and r)
    assert row["live_source"] == "probe"
    assert page(console, state="down")["names"] == [name]
    # a host set to install is reported by its installer, not by `up`
    with client(console, racked.addresses["compute-0-9"]) as c:
        assert c.post("/install/events", data={"stage": "up"}).status_code == 409


def test_package_progress_from_distro_fetches(racked: Cluster, console: Server) -> None:
    from rocks.profiles import ClusterSource, GraphOptions, profile_service, remember_depsolve

    distro = racked.state / "distro"
    (distro / "repodata").mkdir(parents=True, exist_ok=True)
    (distro / "repodata" / "repomd.xml").write_text("<repomd/>")
    (distro / "Packages").mkdir(exist_ok=True)
    for i in range(30):
        (distro / "Packages" / f"p{i}-1.0-1.x86_64.rpm").write_bytes(b"rpm")

    def fetch(name: str, numbers: range) -> None:
        with client(console, racked.addresses[name]) as c:
            for i in numbers:
                r = c.get(f"/install/distro/Packages/p{i}-1.0-1.x86_64.rpm")
                assert r.status_code == 200

    # no package check was run: the profile's own package list is the (estimated) total
    guess = "compute-1-1"
    post_event(console, racked, guess, "pre")
    fetch(guess, range(3))
    row = wait_until(lambda: (r := page(console, q=guess)["rows"][guess])["progress"]
                     and r["progress"][1] and r)
    assert row["progress"][0] == 3 and row["progress"][2] is True
    # `set host boot`'s package check remembered the depsolve: a real total
    with racked.inventory.transaction() as s:
        svc = profile_service(s, ClusterSource(racked.state), GraphOptions("el9"))
        view = svc.view(q.resolve_attrs_many(s, ["compute-1-2"])["compute-1-2"])
        remember_depsolve(svc.compiled(view).profile, distro,
                          tuple(f"p{i}-1.0-1.x86_64" for i in range(20)))
    name = "compute-1-2"
    post_event(console, racked, name, "pre")
    fetch(name, range(1))
    wait_until(lambda: (p := page(console, q=name)["rows"][name]["progress"]) and p[1] == 20)
    wait_until(lambda: events_of(racked, name)[-1][0] == "packages")
    fetch(name, range(1, 10))
    fetch(name, range(9, 10))  # a retry of the same file does not count
    row = page(console, q=name)["rows"][name]
    assert row["progress"] == [10, 20, False] and row["stage"] == "packages"
    stages = wait_until(lambda: (e := events_of(racked, name))[-1][1].startswith("10/20") and e)
    assert [m for s, m in stages if s == "packages"] == [
        "fetching packages from the distribution", "2/20 packages (10%)",
        "4/20 packages (20%)", "6/20 packages (30%)", "8/20 packages (40%)",
        "10/20 packages (50%)"]
    live = page(console, q=name)["rows"][name]
    assert (live["live"], live["live_source"]) == ("up", "installer")


def test_access_log_lines(racked: Cluster, console: Server) -> None:
    name = "compute-1-4"
    with client(console, racked.addresses[name]) as c:
        assert c.get(f"/install/kickstart?token={racked.tokens[name]}").status_code == 200
        assert c.get("/install/kickstart?token=wrong").status_code == 403
    post_event(console, racked, name, "pre")
    with client(console, racked.addresses[name]) as c:
        c.get("/install/distro/nothing-here.rpm")
    address = re.escape(racked.addresses[name])
    log = wait_until(lambda: "nothing-here" in (text := console.logs()) and text)
    assert re.search(rf"served path=/install/kickstart status=200 client={address} "
                     rf"host={name} bytes=\d+", log)
    assert re.search(rf"refused path=/install/kickstart status=403 "
                     rf"reason=missing-or-invalid-token client={address} host={name}", log)
    assert re.search(rf"served path=/install/events status=200 client={address} host={name} "
                     "stage=pre", log)
    assert re.search(rf"refused path=/install/distro/nothing-here.rpm status=404 "
                     rf"client={address} host={name} bytes=\d+", log)
    assert "\x1b" not in log


# -- a server that stalls installs after two seconds ----------------------------------------
@pytest.fixture()
def quick(tmp_path: Path) -> Iterator[tuple[Cluster, Server]]:
    names = ["compute-0-0", "compute-0-1"]
    c = make_racked_cluster(tmp_path / "state", 1, 4, installing=names)
    srv = Server(c, tmp_path, refresh_interval=0.2, stall_after=2.0)
    srv.start()
    yield c, srv
    srv.stop()
    c.inventory.close()


def test_silent_installs_stall_and_fetching_ones_do_not(quick: tuple[Cluster, Server]
                                                        ) -> None:
    cluster, srv = quick
    (cluster.state / "distro" / "Packages").mkdir(parents=True, exist_ok=True)
    for i in range(10):
        (cluster.state / "distro" / "Packages" / f"p{i}.rpm").write_bytes(b"rpm")
    for name in ("compute-0-0", "compute-0-1"):
        post_event(srv, cluster, name, "pre")
    with client(srv, cluster.addresses["compute-0-1"]) as c:
        for i in range(10):  # 3 s of fetching: never quiet for two seconds
            c.get(f"/install/distro/Packages/p{i}.rpm")
            time.sleep(0.3)
    rows = wait_until(lambda: (d := page(srv)["rows"])["compute-0-0"]["stage"] == "stalled"
                      and d)
    assert rows["compute-0-1"]["stage"] == "packages"
    assert page(srv, size=10)["names"][0] == "compute-0-0"  # a problem: first
    assert page(srv)["summary"]["stalled"] == 1
    # and then it falls silent too
    wait_until(lambda: page(srv)["rows"]["compute-0-1"]["stage"] == "stalled")


def test_macs_only_behind_the_login(tmp_path: Path) -> None:
    from rocks.server.config import write_token

    c = make_racked_cluster(tmp_path / "state", 1, 3)
    write_token(c.state / "readonly-token")
    srv = Server(c, tmp_path, refresh_interval=0.2, login="yes")
    srv.start()
    try:
        assert httpx.get(f"{srv.base}/console.json").status_code == 401
        assert httpx.get(f"{srv.base}/").status_code == 303
        readonly = (c.state / "readonly-token").read_text().strip()
        for token in (API_TOKEN, readonly):
            data = page(srv, headers={"Authorization": f"Bearer {token}"})
            assert data["rows"]["compute-0-1"]["macs"] == ["52:54:00:00:00:01"]
        with httpx.Client(base_url=srv.base) as browser:
            assert browser.post("/login", data={"token": readonly}).status_code == 303
            html = browser.get("/").text
            assert "52:54:00:00:00:01" in html  # not an admin: no action links
            assert "/actions/reinstall?hosts=compute-0-1" not in html
            assert browser.post("/login", data={"token": API_TOKEN}).status_code == 303
            assert "/actions/reinstall?hosts=compute-0-1" in browser.get("/").text
    finally:
        srv.stop()
        c.inventory.close()


def test_the_api_lists_pages_and_filters_too(racked: Cluster, console: Server) -> None:
    r = httpx.get(f"{console.base}/api/hosts", headers=AUTH,
                  params={"rack": 1, "page": 2, "size": 5})
    assert r.status_code == 200
    hosts = r.json()
    assert [h["name"] for h in hosts] == [f"compute-1-{k}" for k in range(5, 10)]
    assert (hosts[0]["rack"], hosts[0]["rank"]) == (1, 5)
    everyone = httpx.get(f"{console.base}/api/hosts", headers=AUTH).json()
    assert len(everyone) >= RACKS * PER_RACK and everyone[10]["name"] == "compute-0-10"
    assert httpx.get(f"{console.base}/api/hosts", headers=AUTH,
                     params={"q": "compute-2-1?"}).json()[0]["name"] == "compute-2-10"
    assert httpx.get(f"{console.base}/api/hosts", headers=AUTH,
                     params={"state": "bogus"}).status_code == 422
