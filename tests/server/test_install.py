"""The node endpoints against a real server: identity, tokens, events, and every refusal."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from rocks.inventory import queries as q
from rocks.inventory.schema import HostRow, InstallEventRow
from tests.server.conftest import ROOTPW, Cluster, Server, mac, until


def client(server: Server, address: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base, transport=transport, timeout=10)


def db_state(cluster: Cluster) -> tuple[int, list[tuple[str, str, str | None]], int]:
    """(events, (host, boot, token) of every host, stored profiles): must not move on a refusal."""
    with cluster.inventory.transaction(readonly=True) as s:
        events = s.scalar(select(func.count()).select_from(InstallEventRow)) or 0
        hosts = [tuple(r) for r in s.execute(
            select(HostRow.name, HostRow.boot, HostRow.install_token).order_by(HostRow.name))]
        profiles = sum(q.get_profile(s, str(h[0])) is not None for h in hosts)
    return events, hosts, profiles  # type: ignore[return-value]


def settle(cluster: Cluster) -> None:
    """Wait until the server's asynchronous writes of earlier tests have landed (the inventory
    reads the same three times in a row), so a test's `before` is really before."""
    seen: list[object] = []

    def still() -> bool:
        seen.append(db_state(cluster))
        time.sleep(0.1)
        return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]

    until(still, "the server's earlier writes to land")


@pytest.fixture(autouse=True)
def _settled(cluster: Cluster, server: Server) -> None:
    settle(cluster)


def events_of(cluster: Cluster, host: str) -> list[tuple[str, str]]:
    with cluster.inventory.transaction(readonly=True) as s:
        return [(e.stage, e.message) for e in q.list_events(s, host)]


def last_stage(cluster: Cluster, host: str) -> str:
    events = events_of(cluster, host)
    return events[-1][0] if events else ""


def assert_clean_refusal(r: httpx.Response, status: int = 403, reason: str = "refused") -> None:
    assert r.status_code == status, r.text
    assert r.text == reason + "\n"
    assert ROOTPW not in r.text and "compute-0" not in r.text


def test_kickstart_by_source_address(cluster: Cluster, server: Server) -> None:
    name = "compute-0-1"
    with client(server, cluster.addresses[name]) as c:
        r = c.get("/install/kickstart", params={"token": cluster.tokens[name]})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["etag"] == f'"{hashlib.sha256(r.content).hexdigest()}"'
    assert f"--hostname={name}" in r.text or f"hostname={name}" in r.text
    assert cluster.tokens[name] in r.text  # the events it posts carry its token
    assert ROOTPW in r.text  # the node itself gets its secrets
    until(lambda: last_stage(cluster, name) == "fetched-kickstart", "the fetched-kickstart event")


def test_non_ascii_token_is_a_plain_refusal(cluster: Cluster, server: Server) -> None:
    """Regression: a non-ASCII token reached secrets.compare_digest (TypeError: HTTP 500)."""
    before = db_state(cluster)
    name = "compute-0-0"
    with client(server, cluster.addresses[name]) as c:
        for raw in ("%C3%A9", cluster.tokens[name][:-1] + "%C3%A9", "%FF%FE", "%E2%80%8B"):
            r = c.get(f"/install/kickstart?token={raw}")
            assert_clean_refusal(r)
        r = c.post("/install/events", data={"stage": "pre", "token": "é" * 8})
        assert_clean_refusal(r)
        r = c.post("/install/events", content=b'{"stage": "pre", "token": "\\ud800"}',
                   headers={"Content-Type": "application/json"})  # a lone surrogate
        assert_clean_refusal(r)
    server.wait_refresh(0.3)
    assert db_state(cluster) == before
    assert "Traceback" not in server.logs()


def test_mac_headers_confirm_the_host_at_its_address(cluster: Cluster, server: Server) -> None:
    name = "compute-0-2"
    with client(server, cluster.addresses[name]) as c:
        r = c.get(f"/install/kickstart?token={cluster.tokens[name]}",
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(2)}",
                           "X-RHN-Provisioning-MAC-1": "eth1 52:54:00:ff:ff:ff"})
        assert r.status_code == 200
        assert f"hostname={name}" in r.text
        again = c.get(f"/install/kickstart?token={cluster.tokens[name]}",
                      headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(2)}",
                               "If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    # the event is written after the answer: wait for it, so no later test sees it land
    until(lambda: last_stage(cluster, name) == "fetched-kickstart", "the fetched-kickstart event")


def test_refusals_change_nothing_and_leak_nothing(cluster: Cluster, server: Server) -> None:
    before = db_state(cluster)
    tok0, tok1 = cluster.tokens["compute-0-0"], cluster.tokens["compute-0-1"]
    a0, a3 = cluster.addresses["compute-0-0"], cluster.addresses["compute-0-3"]
    with client(server) as c:  # 127.0.0.1: not in the inventory
        assert_clean_refusal(c.get(f"/install/kickstart?token={tok0}"))
        r = c.get(f"/install/kickstart?token={tok0}",
                  headers={"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:aa:bb:cc"})
        assert_clean_refusal(r)
        r = c.get(f"/install/kickstart?token={tok0}",
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(0)}"})
        assert_clean_refusal(r)  # the right MAC from a foreign address identifies nobody
    with client(server, a0) as c:
        r = c.get(f"/install/kickstart?token={tok0}",
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(1)}"})
        assert_clean_refusal(r)
        r = c.get(f"/install/kickstart?token={tok0}",
                  headers={"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:aa:bb:cc"})
        assert_clean_refusal(r)  # headers, none of them the host's
        assert_clean_refusal(c.get("/install/kickstart"))
        assert_clean_refusal(c.get(f"/install/kickstart?token={tok1}"))
        assert_clean_refusal(c.get("/install/kickstart?token=%E2%82%AC"))
        assert_clean_refusal(c.post("/install/kickstart"), 405, "method not allowed")
    with client(server, a3) as c:  # compute-0-3 is not set to install
        assert_clean_refusal(c.get(f"/install/kickstart?token={tok0}"))
    server.wait_refresh(0.3)
    assert db_state(cluster) == before
    log = server.logs()
    assert ("status=403 reason=the-address-is-no-host's-on-a-served-network client=127.0.0.1"
            in log)
    assert "reason=a-MAC-header-names-another-host client=127.10.0.1" in log
    assert "reason=no-MAC-header-is-the-host's client=127.10.0.1" in log
    assert "reason=host-is-not-set-to-install client=127.10.0.4 host=compute-0-3" in log
    assert ROOTPW not in log and tok0 not in log


def test_events_through_finished_then_replay_refused(cluster: Cluster, server: Server) -> None:
    from rocks.profiles import ClusterSource
    from rocks.siteconfig import sync_input
    from rocks.sync.apply import apply
    from rocks.sync.plan import plan_hosts

    name, token = "compute-0-4", cluster.tokens["compute-0-4"]
    # the host's boot files, as `rocks set host boot … action=install` writes them
    root = cluster.state / "root"
    with cluster.inventory.transaction(readonly=True) as s:
        apply(plan_hosts(sync_input(s, ClusterSource(cluster.state)), [name]), root)
    own = [p for p in (root / "tftpboot/pxelinux.cfg").iterdir() if p.name != "default"]
    assert own and all(f"token={token}" in p.read_text() for p in own)
    with client(server, cluster.addresses[name]) as c:
        ks = c.get(f"/install/kickstart?token={token}")
        assert ks.status_code == 200
        r = c.post("/install/events", data={"stage": "pre", "message": "started", "token": token})
        assert (r.status_code, r.text) == (200, "ok\n")
        r = c.post("/install/events", json={"stage": "post", "message": "posting",
                                            "token": token})
        assert r.status_code == 200
        # Acknowledged means committed: visible at once from another connection.
        assert events_of(cluster, name)[-1] == ("post", "posting")
        r = c.post("/install/events", data={"stage": "finished", "message": "done",
                                            "token": token})
        assert r.status_code == 200
        with cluster.inventory.transaction(readonly=True) as s:
            row = s.execute(select(HostRow.boot, HostRow.install_token)
                            .where(HostRow.name == name)).one()
            assert tuple(row) == ("os", None)
            profile = q.get_profile(s, name)
            assert profile is not None and profile.text == ks.text
        before = db_state(cluster)
        assert_clean_refusal(c.get(f"/install/kickstart?token={token}"))
        r = c.post("/install/events", data={"stage": "finished", "message": "again",
                                            "token": token})
        assert_clean_refusal(r)
        server.wait_refresh()
        # Once the snapshot shows the flip, the host is simply not installing.
        assert_clean_refusal(c.get(f"/install/kickstart?token={token}"))
        assert db_state(cluster) == before
        # the frontend rewrites the host's boot files: the default boots the local disk
        deadline = time.monotonic() + 15
        while any(p.exists() for p in own) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(p.exists() for p in own)
        assert "LOCALBOOT 0" in (root / "tftpboot/pxelinux.cfg/default").read_text()
    stages = [s for s, _ in events_of(cluster, name)]
    assert stages == ["fetched-kickstart", "pre", "post", "finished"]


def test_up_from_an_installed_system_needs_no_token(cluster: Cluster, server: Server) -> None:
    """Stage `up` is what a booted node reports (base roll, report-up): known by its source
    address; refused while the host is set to install, or from an unknown address."""
    up = {"stage": "up", "message": "up: kernel 6.1, booted now"}
    with client(server, cluster.addresses["compute-0-3"]) as c:  # boot os
        r = c.post("/install/events", data=up)
        assert (r.status_code, r.text) == (200, "ok\n")
        r = c.post("/install/events", data=up,
                   headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(1)}"})
        assert_clean_refusal(r)  # the one refusal; the log says the address and MAC disagree
    assert events_of(cluster, "compute-0-3")[-1] == ("up", up["message"])
    before = db_state(cluster)
    with client(server, cluster.addresses["compute-0-0"]) as c:  # set to install
        assert_clean_refusal(c.post("/install/events", data=up), 409, "host is set to install")
    with client(server) as c:
        assert_clean_refusal(c.post("/install/events", data=up))  # not a host's address
        r = c.post("/install/events", data={"stage": "pre", "message": "x"})
        assert_clean_refusal(r, 422, "stage and token are required")
    server.wait_refresh(0.3)
    assert db_state(cluster) == before
    with cluster.inventory.transaction(readonly=True) as s:
        from rocks.server.status import install_status

        row = next(st for st in install_status(s, ["compute-0-3"]))
    assert (row.stage, row.message) == ("up", up["message"])


def test_malformed_and_oversized_event_bodies(cluster: Cluster, server: Server) -> None:
    name, token = "compute-0-5", cluster.tokens["compute-0-5"]
    before = db_state(cluster)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with client(server, cluster.addresses[name]) as c:
        cases = [
            (c.post("/install/events", content=b"stage=pre&token", headers=form), 400,
             "body is not form-encoded"),
            (c.post("/install/events", content=b"\xff\xfe", headers=form), 400,
             "body is not UTF-8"),
            (c.post("/install/events", content=b"{", headers={"Content-Type":
                                                               "application/json"}),
             400, "body is not JSON"),
            (c.post("/install/events", json=["pre"]), 422,
             "body must be a JSON object of strings"),
            (c.post("/install/events", json={"stage": "pre", "token": 5}), 422,
             "body must be a JSON object of strings"),
            (c.post("/install/events", data={"stage": "pre"}), 422,
             "stage and token are required"),
            (c.post("/install/events", data={"stage": "reboot", "token": token}), 422,
             "unknown stage"),
            (c.post("/install/events", data={"stage": "pre", "token": token, "x": "1",
                                             }, params={}), 200, "ok"),
            (c.post("/install/events", content=f"stage=pre&stage=post&token={token}",
                    headers=form), 422, "a field is given twice"),
            (c.post("/install/events", content=b"<x/>", headers={"Content-Type": "text/xml"}),
             415, "send application/x-www-form-urlencoded or application/json"),
            (c.post("/install/events", data={"stage": "pre", "token": "nope"}), 403,
             "refused"),
            (c.post("/install/events", data={"stage": "pre",
                                             "token": cluster.tokens["compute-0-2"]}),
             403, "refused"),
            (c.post("/install/events", content=b'{"stage": {"x": ["pre"]}}',
                    headers={"Content-Type": "application/json"}), 400,
             "body is not a flat JSON object"),
            (c.post("/install/events", content=b"[" * 5000 + b"]" * 5000,
                    headers={"Content-Type": "application/json"}), 400,
             "body is not a flat JSON object"),
            (c.post("/install/events", data={"stage": "pre", "token": token,
                                             "message": "x" * 17000}), 413, "body too large"),
            (c.get("/install/events"), 405, "method not allowed"),
        ]

        def chunks() -> Iterator[bytes]:
            yield f"stage=pre&token={token}&message=".encode()
            for _ in range(20):
                yield b"y" * 1024

        cases.append((c.post("/install/events", content=chunks(), headers=form), 413,
                      "body too large"))
    for r, status, text in cases:
        assert (r.status_code, r.text) == (status, text + "\n"), r.request.content[:60]
        assert ROOTPW not in r.text
    events, hosts, profiles = db_state(cluster)
    assert (events, hosts, profiles) == (before[0] + 1, before[1], before[2])  # the one "ok"


def test_failed_compile_is_500_and_a_failed_event(cluster: Cluster, server: Server) -> None:
    name = "compute-0-6"
    with cluster.inventory.transaction() as s:
        q.set_attr(s, "host", name, "Kickstart_Timezone", "UTC\nrootpw --plaintext x")
    with client(server, cluster.addresses[name]) as c:
        # served (200) until the snapshot shows the bad attribute
        def not_served() -> httpx.Response | None:
            r = c.get(f"/install/kickstart?token={cluster.tokens[name]}")
            return r if r.status_code != 200 else None

        r = until(not_served, "the snapshot to show the bad attribute")
    assert_clean_refusal(r, 500, "the kickstart could not be compiled (see the host's events)")
    until(lambda: last_stage(cluster, name) == "failed", "the failed event")
    stage, message = events_of(cluster, name)[-1]
    assert stage == "failed"
    assert "Kickstart_Timezone" in message and "line break" in message


def test_served_kickstart_follows_the_network(cluster: Cluster, server: Server) -> None:
    """The network facts reach the node over HTTP, and `rocks set network` reaches it without a
    restart (the loop network 127.0.0.0/8 is the cluster's only PXE network)."""
    from rocks.cli.context import run_cli

    name = "compute-0-7"

    def fetch() -> str:
        with client(server, cluster.addresses[name]) as c:
            r = c.get("/install/kickstart", params={"token": cluster.tokens[name]})
        assert r.status_code == 200, r.text
        return r.text

    assert f"--netmask=255.0.0.0 --gateway=10.1.1.1 --nameserver=10.1.1.1 --hostname={name}" \
           ".local " in fetch()  # no frontend host on the network: those keep the roll's default
    env = {"ROCKS_DATABASE_URL": cluster.url, "ROCKS_STATE": str(cluster.state)}
    r = run_cli(["set", "network", "loop", "gateway=127.0.0.254", "zone=cluster.test"], env=env)
    assert (r.code, r.stderr) == (0, "")
    try:
        want = (f"--netmask=255.0.0.0 --gateway=127.0.0.254 --nameserver=10.1.1.1 "
                f"--hostname={name}.cluster.test ")
        until(lambda: want in fetch(), "the served kickstart to follow `set network`")
    finally:
        run_cli(["set", "network", "loop", "gateway=", "zone=local"], env=env)
