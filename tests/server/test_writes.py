"""The write API and the dashboard's reinstall action against a real server: the CLI's checks
and error messages, one transaction per request, boot files written, the admin token required
(read-only refused), cookie writes only with the session's form token."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rocks.cli.context import run_cli
from rocks.inventory.schema import AttributeRow, HostRow
from tests.server.conftest import API_TOKEN, Cluster, Server
from tests.server.racks import make_racked_cluster, wait_until

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
TFTP = Path("tftpboot")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from rocks.server.config import write_token

    c = make_racked_cluster(tmp_path_factory.mktemp("writes"), 3, 4)
    write_token(c.state / "readonly-token")
    yield c
    c.inventory.close()


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(cluster, tmp_path_factory.mktemp("server"), refresh_interval=0.2)
    srv.start()
    yield srv
    srv.stop()


def api(server: Server, method: str, path: str, body: Any = None,
        headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.request(method, server.base + path, json=body,
                         headers=AUTH if headers is None else headers, timeout=60)


def snapshot(cluster: Cluster) -> tuple[list[Any], list[Any]]:
    """Every host row and attribute row: what a refused request must leave alone."""
    with cluster.inventory.transaction(readonly=True) as s:
        hosts = [tuple(r) for r in s.execute(select(
            HostRow.name, HostRow.rack, HostRow.rank, HostRow.boot, HostRow.install_token,
            HostRow.install_action, HostRow.comment).order_by(HostRow.name))]
        attrs = [tuple(r) for r in s.execute(select(
            AttributeRow.host_id, AttributeRow.name, AttributeRow.value).order_by(
            AttributeRow.id))]
    return hosts, attrs


def cli(cluster: Cluster, *argv: str) -> Any:
    return run_cli(list(argv), {"ROCKS_DATABASE_URL": cluster.url,
                                "ROCKS_STATE": str(cluster.state)})


# (the command line, the same request to the API)
SAME = [
    (("add", "host", "bogus-1"), ("POST", "/api/hosts", {"name": "bogus-1"})),
    (("add", "host", "compute-0-0"), ("POST", "/api/hosts", {"name": "compute-0-0"})),
    (("add", "host", "appliance=nope"), ("POST", "/api/hosts", {"appliance": "nope"})),
    (("add", "host", "compute-5-1", "installaction=instal"),
     ("POST", "/api/hosts", {"name": "compute-5-1", "installaction": "instal"})),
    (("add", "host"), ("POST", "/api/hosts", {})),
    (("set", "host", "boot", "compute-0-77", "action=install"),
     ("PUT", "/api/hosts/compute-0-77/boot", {"action": "install"})),
    (("set", "host", "attr", "compute-0-1", "bad name", "x"),
     ("PUT", "/api/hosts/compute-0-1/attrs/bad%20name", {"value": "x"})),
    (("set", "host", "attr", "compute-0-1", "x11", ""),
     ("PUT", "/api/hosts/compute-0-1/attrs/x11", {"value": ""})),
    (("remove", "host", "attr", "compute-0-1", "nosuch"),
     ("DELETE", "/api/hosts/compute-0-1/attrs/nosuch", None)),
    (("remove", "host", "compute-0-99"), ("DELETE", "/api/hosts/compute-0-99", None)),
]


@pytest.mark.parametrize(("argv", "request_"), SAME, ids=[" ".join(a) for a, _ in SAME])
def test_errors_are_the_clis(cluster: Cluster, server: Server, argv: tuple[str, ...],
                             request_: tuple[str, str, Any]) -> None:
    before = snapshot(cluster)
    out = cli(cluster, *argv)
    assert out.code == 2, out.stdout + out.stderr
    method, path, body = request_
    r = api(server, method, path, body)
    assert r.status_code in (404, 409, 422), r.text
    errors = r.json()["errors"]
    assert "".join(e["text"] + "\n" for e in errors) == out.stderr
    assert snapshot(cluster) == before  # neither changed anything


def test_writes_need_the_admin_token(cluster: Cluster, server: Server) -> None:
    readonly = (cluster.state / "readonly-token").read_text().strip()
    calls = [("POST", "/api/hosts", {"name": "compute-5-5"}),
             ("PATCH", "/api/hosts/compute-0-2", {"comment": "x"}),
             ("PUT", "/api/hosts/compute-0-2/boot", {"action": "install", "force": True}),
             ("POST", "/api/boot", {"hosts": ["rack0"], "action": "install"}),
             ("PUT", "/api/hosts/compute-0-2/attrs/x11", {"value": "yes"}),
             ("DELETE", "/api/hosts/compute-0-2/attrs/x11", None),
             ("DELETE", "/api/hosts/compute-0-2", None),
             ("DELETE", "/api/hosts?hosts=rack0", None)]
    before = snapshot(cluster)
    for method, path, body in calls:
        assert api(server, method, path, body, headers={}).status_code == 401
        r = api(server, method, path, body, headers={"Authorization": f"Bearer {readonly}"})
        assert r.status_code == 403, (method, path, r.text)
    assert snapshot(cluster) == before
    assert api(server, "GET", "/api/hosts/compute-0-2",
               headers={"Authorization": f"Bearer {readonly}"}).status_code == 200


def test_add_change_and_remove_a_host(cluster: Cluster, server: Server) -> None:
    r = api(server, "POST", "/api/hosts", {"name": "compute-7-3", "comment": "new"})
    assert r.status_code == 201 and r.json()["hosts"] == ["compute-7-3"]
    host = api(server, "GET", "/api/hosts/compute-7-3").json()  # visible at once
    assert host["appliance"] == "compute" and host["attrs"]["rack"] == "7"
    assert api(server, "POST", "/api/hosts", {"appliance": "compute", "rack": 7}).json()[
        "hosts"] == ["compute-7-4"]  # the next free rank, named as the CLI names it
    r = api(server, "PATCH", "/api/hosts/compute-7-3", {"rank": 9, "comment": "moved"})
    assert r.status_code == 200, r.text
    r = api(server, "PATCH", "/api/hosts/compute-7-3", {"name": "compute-7-9"})
    assert r.json()["hosts"] == ["compute-7-9"]
    listed = cli(cluster, "list", "host", "compute-7-9", "output-format=json")
    assert '"rank": 9' in listed.stdout and '"comment": "moved"' in listed.stdout
    for name in ("compute-7-9", "compute-7-4"):
        assert api(server, "DELETE", f"/api/hosts/{name}").status_code == 200
        assert api(server, "GET", f"/api/hosts/{name}").status_code == 404
    assert api(server, "POST", "/api/hosts", {"name": "x", "bogus": 1}).status_code == 422


def test_a_refused_change_changes_nothing(cluster: Cluster, server: Server) -> None:
    before = snapshot(cluster)
    r = api(server, "PATCH", "/api/hosts/compute-0-3", {"rack": 7, "installaction": "nope"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown-bootaction"
    assert snapshot(cluster) == before
    r = api(server, "POST", "/api/boot", {"hosts": ["compute-0-3", "nosuch"],
                                          "action": "install", "force": True})
    assert r.status_code == 404
    assert snapshot(cluster) == before


def test_boot_action_writes_the_boot_files(cluster: Cluster, server: Server) -> None:
    name, mac = "compute-1-2", "52-54-00-00-00-06"
    boot_file = cluster.state / "root" / TFTP / "grub" / f"grub.cfg-{mac.replace('-', ':')}"
    r = api(server, "PUT", f"/api/hosts/{name}/boot", {"action": "install", "force": True})
    assert r.status_code == 200, r.text
    with cluster.inventory.transaction(readonly=True) as s:
        boot, token = s.execute(select(HostRow.boot, HostRow.install_token)
                                .where(HostRow.name == name)).one()
    assert boot == "install" and token
    assert f"token={token}" in boot_file.read_text()
    assert api(server, "GET", f"/api/hosts/{name}").json()["boot"] == "install"
    r = api(server, "PUT", f"/api/hosts/{name}/boot", {"action": "os"})
    assert r.status_code == 200
    assert not boot_file.exists() or "token=" not in boot_file.read_text()  # boots its disk
    # many at once, named as the CLI names them
    r = api(server, "POST", "/api/boot", {"hosts": ["rack2"], "action": "install",
                                          "force": True})
    assert r.json()["hosts"] == [f"compute-2-{k}" for k in range(4)]
    assert {h["name"] for h in api(server, "GET", "/api/hosts").json()
            if h["boot"] == "install"} >= set(r.json()["hosts"])
    api(server, "POST", "/api/boot", {"hosts": ["rack2"], "action": "os"})


def test_host_attributes(cluster: Cluster, server: Server) -> None:
    name = "compute-1-3"
    assert api(server, "PUT", f"/api/hosts/{name}/attrs/x11", {"value": "yes"}).status_code \
        == 200
    assert api(server, "PUT", f"/api/hosts/{name}/attrs/site_secret",
               {"value": "hunter2-value", "secret": True}).status_code == 200
    detail = wait_until(lambda: (d := api(server, "GET", f"/api/hosts/{name}").json())[
        "attrs"].get("x11") == "yes" and d)
    assert detail["attrs"]["site_secret"] == "********"
    assert "hunter2-value" not in api(server, "GET", f"/api/hosts/{name}").text
    listed = cli(cluster, "list", "host", "attr", name, "attr=x11")
    assert listed.stdout.split("\n")[1].split()[:3] == [name, "x11", "yes"]
    assert api(server, "DELETE", f"/api/hosts/{name}/attrs/x11").status_code == 200
    assert api(server, "DELETE", f"/api/hosts/{name}/attrs/x11").status_code == 422


def test_removing_a_rack(cluster: Cluster, server: Server) -> None:
    for rank in range(2):
        assert api(server, "POST", "/api/hosts", {"name": f"compute-8-{rank}"}).status_code \
            == 201
    r = api(server, "DELETE", "/api/hosts?hosts=rack8")
    assert r.status_code == 200 and r.json()["hosts"] == ["compute-8-0", "compute-8-1"]
    assert api(server, "GET", "/api/hosts/compute-8-0").status_code == 404


def test_openapi_documents_the_writes(server: Server) -> None:
    schema = api(server, "GET", "/api/openapi.json").json()
    paths = schema["paths"]
    assert {"post"} <= set(paths["/api/hosts"])
    assert {"delete"} <= set(paths["/api/hosts"])
    assert {"get", "patch", "delete"} <= set(paths["/api/hosts/{name}"])
    assert {"put"} <= set(paths["/api/hosts/{name}/boot"])
    assert {"post"} <= set(paths["/api/boot"])
    assert {"put", "delete"} <= set(paths["/api/hosts/{name}/attrs/{attr}"])
    assert "ErrorsOut" in schema["components"]["schemas"]


# -- the dashboard's reinstall action ------------------------------------------------------
@contextlib.contextmanager
def logged_in(server: Server, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=60) as browser:
        assert browser.post("/login", data={"token": token}).status_code == 303
        yield browser


def test_reinstall_a_rack_with_confirmation(cluster: Cluster, server: Server) -> None:
    with logged_in(server, API_TOKEN) as browser:
        page = browser.get("/actions/reinstall", params={"hosts": "rack1"})
        assert page.status_code == 200
        assert "Reinstall 4 hosts?" in page.text and "compute-1-3" in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        before = snapshot(cluster)
        # without the form token, or from another site: refused, nothing changed
        assert browser.post("/actions/reinstall", data={"hosts": "rack1"}).status_code == 403
        assert browser.post("/actions/reinstall", data={"hosts": "rack1", "csrf": csrf[1]},
                            headers={"Origin": "http://evil.example"}).status_code == 403
        assert browser.post("/api/hosts", json={"name": "compute-6-0"}).status_code == 403
        assert snapshot(cluster) == before
        done = browser.post("/actions/reinstall", data={"hosts": "rack1", "csrf": csrf[1],
                                                        "force": "yes"})
        assert done.status_code == 200 and "4 host(s) set to install" in done.text
        # the same form token lets the page's session write through the API
        r = browser.put("/api/hosts/compute-1-0/boot", json={"action": "os"},
                        headers={"X-CSRF-Token": csrf[1]})
        assert r.status_code == 200, r.text
    with cluster.inventory.transaction(readonly=True) as s:
        boots = dict(s.execute(select(HostRow.name, HostRow.boot)
                               .where(HostRow.name.like("compute-1-%"))).all())
    assert boots == {"compute-1-0": "os", "compute-1-1": "install", "compute-1-2": "install",
                     "compute-1-3": "install"}
    api(server, "POST", "/api/boot", {"hosts": ["rack1"], "action": "os"})


def test_reinstall_needs_the_admin(cluster: Cluster, server: Server) -> None:
    readonly = (cluster.state / "readonly-token").read_text().strip()
    anonymous = httpx.get(f"{server.base}/actions/reinstall", params={"hosts": "compute-0-1"})
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    with logged_in(server, readonly) as browser:
        r = browser.get("/actions/reinstall", params={"hosts": "compute-0-1"})
        assert r.status_code == 303  # log in as the admin
        assert browser.post("/actions/reinstall",
                            data={"hosts": "compute-0-1", "csrf": "0" * 64}).status_code == 403
    with logged_in(server, API_TOKEN) as browser:
        r = browser.get("/actions/reinstall", params={"hosts": "nosuch"})
        assert r.status_code == 422 and "unknown host" in r.text
