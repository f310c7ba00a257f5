"""Proxies and routed nodes: both off by default, both only as configured.

X-Forwarded-For is believed only from a peer listed in `trusted-proxies` (and then only its
nearest untrusted hop); `routed-nodes=yes` lets a node that is not at its own address in by its
install token *and* one of its own MACs — never by either alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.conftest import ROOTPW, Cluster, Server, mac, make_cluster
from tests.server.test_install import client

REFUSED = (403, "refused\n")
PROXY = "127.0.0.1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = make_cluster(tmp_path_factory.mktemp("cluster"), 4)
    yield c
    c.inventory.close()


@pytest.fixture(scope="module")
def proxied(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(cluster, tmp_path_factory.mktemp("proxied"), trusted_proxies=PROXY)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def routed(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(cluster, tmp_path_factory.mktemp("routed"), routed_nodes=True)
    srv.start()
    yield srv
    srv.stop()


def test_forwarded_for_from_a_listed_proxy_names_the_node(cluster: Cluster,
                                                          proxied: Server) -> None:
    name, token = "compute-0-0", cluster.tokens["compute-0-0"]
    node = cluster.addresses[name]
    with client(proxied, PROXY) as c:
        r = c.get(f"/install/kickstart?token={token}", headers={"X-Forwarded-For": node})
        assert r.status_code == 200 and f"hostname={name}" in r.text
        # the proxy appends the peer it saw: a client-supplied first hop is not the client
        r = c.get(f"/install/kickstart?token={token}",
                  headers={"X-Forwarded-For": f"{node}, 127.0.0.99"})
        assert (r.status_code, r.text) == REFUSED
        r = c.get(f"/install/kickstart?token={token}",
                  headers={"X-Forwarded-For": f"{node}, not-an-address"})
        assert (r.status_code, r.text) == REFUSED
    # the same header from a peer that is not a listed proxy is ignored
    with client(proxied, "127.0.0.77") as c:
        r = c.get(f"/install/kickstart?token={token}", headers={"X-Forwarded-For": node})
        assert (r.status_code, r.text) == REFUSED
    assert "client=127.0.0.99" in proxied.logs() and "client=127.0.0.77" in proxied.logs()


def test_routed_nodes_need_the_token_and_their_own_mac(cluster: Cluster, routed: Server) -> None:
    token = cluster.tokens["compute-0-1"]
    with client(routed, "127.0.0.55") as c:  # behind NAT: not the node's address
        r = c.get(f"/install/kickstart?token={token}",
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(1)}"})
        assert r.status_code == 200 and ROOTPW in r.text
        r = c.get(f"/install/kickstart?token={token}")  # no MAC header to confirm it
        assert (r.status_code, r.text) == REFUSED
        r = c.get(f"/install/kickstart?token={token}",
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(2)}"})  # another's MAC
        assert (r.status_code, r.text) == REFUSED
        r = c.get("/install/kickstart?token=guess",
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(1)}"})  # MAC alone
        assert (r.status_code, r.text) == REFUSED
        r = c.post("/install/events", data={"stage": "pre", "token": token})
        assert r.status_code == 200  # events carry the token: it identifies the node
        r = c.post("/install/events", data={"stage": "pre", "token": "guess"})
        assert (r.status_code, r.text) == REFUSED
