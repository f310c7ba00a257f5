"""A node is its source address on a served network plus its current token (issue 13).

Against a real frontend process, each node on its own loopback address (127.10.x.y), the
attacks seen before: a MAC header from a foreign address, /boot/ipxe for someone else's MAC,
forged events ending a real install, X-Forwarded-For from 127.0.0.1, and refusals that told
known MACs from unknown ones. Each is refused the same way, changes nothing and leaks nothing;
the log says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import ROOTPW, Cluster, Server, mac, make_cluster
from tests.server.test_install import client, db_state, events_of, settle

FOREIGN = "127.0.0.1"  # an address on this machine that is no host's
REFUSED = (403, "refused\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = make_cluster(tmp_path_factory.mktemp("cluster"), 6, idle=("compute-0-5",))
    yield c
    c.inventory.close()


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(cluster, tmp_path_factory.mktemp("server"), refresh_interval=0.2)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _settled(cluster: Cluster, server: Server) -> None:
    settle(cluster)


def answer(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.text


def test_a_mac_header_from_a_foreign_address_gets_nothing(cluster: Cluster,
                                                          server: Server) -> None:
    name, token = "compute-0-0", cluster.tokens["compute-0-0"]
    before = db_state(cluster)
    with client(server, FOREIGN) as c:
        for headers in ({"X-RHN-Provisioning-MAC-0": f"eth0 {mac(0)}"},
                        {"X-RHN-Provisioning-MAC-0": f"eth0 {mac(0)}",
                         "X-RHN-Provisioning-MAC-1": "eth1 52:54:00:ff:00:01"}):
            for url in (f"/install/kickstart?token={token}", "/install/kickstart"):
                r = c.get(url, headers=headers)
                assert answer(r) == REFUSED
                assert ROOTPW not in r.text and name not in r.text
    server.wait_refresh(0.3)
    assert db_state(cluster) == before
    assert events_of(cluster, name) == []
    # the real node, at its address, still gets its kickstart
    with client(server, cluster.addresses[name]) as c:
        r = c.get(f"/install/kickstart?token={token}",
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(0)}"})
    assert r.status_code == 200 and ROOTPW in r.text


def test_ipxe_from_a_foreign_address_never_has_the_token(cluster: Cluster,
                                                         server: Server) -> None:
    token = cluster.tokens["compute-0-1"]
    with client(server, FOREIGN) as c:
        known = c.get("/boot/ipxe", params={"mac": mac(1).replace(":", "-")})
        unknown = c.get("/boot/ipxe", params={"mac": "52-54-00-ff-ff-01"})
    # what any unknown machine boots (discovery is off: the local disk), the same for a known
    # and an unknown MAC, so the answer maps no MAC to a host
    assert known.status_code == 200 and known.text == unknown.text
    assert token not in known.text and "inst.ks" not in known.text
    assert "compute-0-1" not in known.text
    with client(server, cluster.addresses["compute-0-1"]) as c:
        own = c.get("/boot/ipxe", params={"mac": mac(1)})
    assert own.status_code == 200 and f"token={token}" in own.text


def test_forged_events_cannot_end_a_real_install(cluster: Cluster, server: Server) -> None:
    name, token = "compute-0-2", cluster.tokens["compute-0-2"]
    before = db_state(cluster)
    with client(server, FOREIGN) as c:  # the right token, from the wrong place
        for stage in ("failed", "finished"):
            r = c.post("/install/events", data={"stage": stage, "message": "forged",
                                                "token": token})
            assert answer(r) == REFUSED
    with client(server, cluster.addresses["compute-0-3"]) as c:  # another node's address
        r = c.post("/install/events", data={"stage": "finished", "token": token})
        assert answer(r) == REFUSED
    with client(server, cluster.addresses[name]) as c:  # its address, a wrong token
        for bad in ("x" * len(token), cluster.tokens["compute-0-3"], token[:-1], "\u00e9" * 8):
            r = c.post("/install/events", data={"stage": "finished", "token": bad})
            assert answer(r) == REFUSED
    server.wait_refresh(0.3)
    assert db_state(cluster) == before  # still installing, same token, no event
    with client(server, cluster.addresses[name]) as c:  # the real install goes on
        assert c.get(f"/install/kickstart?token={token}").status_code == 200
        r = c.post("/install/events", data={"stage": "finished", "token": token})
        assert answer(r) == (200, "ok\n")
    log = server.logs()
    assert "reason=the-address-is-no-host's-on-a-served-network client=127.0.0.1" in log
    assert f"reason=missing-or-invalid-token client={cluster.addresses[name]}" in log
    assert token not in log


def test_x_forwarded_for_is_not_believed_by_default(cluster: Cluster, server: Server) -> None:
    name, token = "compute-0-4", cluster.tokens["compute-0-4"]
    before = events_of(cluster, name)
    with client(server, FOREIGN) as c:
        r = c.get(f"/install/kickstart?token={token}",
                  headers={"X-Forwarded-For": cluster.addresses[name],
                           "Forwarded": f"for={cluster.addresses[name]}",
                           "X-Real-IP": cluster.addresses[name]})
        assert answer(r) == REFUSED
        r = c.post("/install/events", data={"stage": "pre", "token": token},
                   headers={"X-Forwarded-For": cluster.addresses[name]})
        assert answer(r) == REFUSED
    server.wait_refresh(0.3)
    assert events_of(cluster, name) == before


def test_every_refusal_looks_the_same(cluster: Cluster, server: Server) -> None:
    """Unknown MAC, known MAC, wrong token, spent token, host not installing: one answer."""
    tok = cluster.tokens["compute-0-3"]
    seen = set()
    with client(server, FOREIGN) as c:
        seen.add(c.get(f"/install/kickstart?token={tok}",
                       headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(3)}"}))
        seen.add(c.get(f"/install/kickstart?token={tok}",
                       headers={"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:fe:fe:fe"}))
    with client(server, cluster.addresses["compute-0-3"]) as c:
        seen.add(c.get("/install/kickstart?token=wrong"))
        seen.add(c.get(f"/install/kickstart?token={tok}",
                       headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(4)}"}))
        seen.add(c.get("/boot/ipxe", params={"mac": mac(4)}))
    with client(server, cluster.addresses["compute-0-5"]) as c:  # not installing
        seen.add(c.get(f"/install/kickstart?token={tok}"))
    shapes = {(r.status_code, r.text, tuple(sorted((k, v) for k, v in r.headers.items()
                                                   if k != "date"))) for r in seen}
    assert len(shapes) == 1, shapes
    assert next(iter(shapes))[:2] == REFUSED


def test_node_messages_are_stored_and_listed_without_control_characters(
        cluster: Cluster, server: Server, tmp_path: Path) -> None:
    from rocks.cli.context import run_cli

    name, token = "compute-0-4", cluster.tokens["compute-0-4"]
    evil = "ok\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u202e\nnext"
    with client(server, cluster.addresses[name]) as c:
        r = c.post("/install/events", data={"stage": "pre", "message": evil, "token": token})
        assert r.status_code == 200
    stored = events_of(cluster, name)[-1][1]
    assert stored == "ok\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\u202e\\x0anext"
    # what an older frontend stored raw is escaped on output
    from rocks.inventory import queries as q

    with cluster.inventory.transaction() as s:
        q.add_event(s, "compute-0-5", "pre", evil)
    out = run_cli(["list", "host", "install", "compute-0-5", "compute-0-4"],
                  {"ROCKS_DATABASE_URL": cluster.url})
    assert out.code == 0, out.stderr
    assert "\x1b" not in out.stdout and "\u202e" not in out.stdout and "\x07" not in out.stdout
    assert "\\x1b[2J" in out.stdout
    assert len(out.stdout.splitlines()) == 3  # header and two rows: no line break smuggled
