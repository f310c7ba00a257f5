"""Networks: validation and Rocks' top-down address allocation."""

from __future__ import annotations

import pytest

from rocks.errors import RocksError
from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, Host, Interface, Network


def test_add_and_list(inv: Inventory) -> None:
    with inv.transaction() as s:
        q.add_network(s, Network("public", "192.168.1.0", "255.255.255.0", gateway="192.168.1.1"))
        q.add_network(s, Network("private", "10.1.0.0", "255.255.0.0", mtu=9000, pxe=True))
    with inv.transaction(readonly=True) as s:
        assert [n.name for n in q.list_networks(s)] == ["private", "public"]
        assert q.get_network(s, "private") == Network(
            "private", "10.1.0.0", "255.255.0.0", mtu=9000, pxe=True, zone="local"
        )
        # Rocks' rule: the private network's zone is "local", any other's its name
        assert q.get_network(s, "public").zone == "public"


@pytest.mark.parametrize(
    ("network", "code"),
    [
        (Network("n", "10.1.0.1", "255.255.0.0"), "bad-network"),
        (Network("n", "10.1.0.0", "255.0.255.0"), "bad-network"),
        (Network("n", "10.1.0.0", "255.255.0.0", gateway="10.2.0.1"), "ip-outside-network"),
        (Network("n", "10.1.0.0", "255.255.0.0", mtu=0), "bad-mtu"),
        (Network("a b", "10.1.0.0", "255.255.0.0"), "bad-network-name"),
        (Network("n", "10.1.0.0", "255.255.0.0", zone='x"; y'), "bad-zone"),
        (Network("n", "10.1.0.0", "255.255.0.0", zone="a..b"), "bad-zone"),
    ],
)
def test_invalid_networks(inv: Inventory, network: Network, code: str) -> None:
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        q.add_network(s, network)
    assert err.value.first.code == code


def test_duplicate_network(inv: Inventory) -> None:
    with inv.transaction() as s:
        q.add_network(s, Network("private", "10.1.0.0", "255.255.0.0"))
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        q.add_network(s, Network("private", "10.2.0.0", "255.255.0.0"))
    assert err.value.first.code == "duplicate-network"


def test_next_ip_counts_down_from_broadcast(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        assert q.next_ip(s, "private") == "10.1.255.254"
        q.add_host(
            s,
            Host(
                "a",
                "compute",
                interfaces=(Interface("a", "eth0", ip="10.1.255.254", network="private"),),
            ),
        )
        q.add_interface(s, Interface("a", "eth1", ip="10.1.255.252", network="private"))
        assert q.next_ip(s, "private") == "10.1.255.253"
        q.add_interface(s, Interface("a", "eth2", ip="10.1.255.253", network="private"))
        assert q.next_ip(s, "private") == "10.1.255.251"
        assert q.next_ip(s, "private", increment=1) == "10.1.0.1"
        assert q.next_ip(s, "private", base="10.1.1.0") == "10.1.0.255"


def test_next_ip_skips_gateway_and_reports_full(inv: Inventory) -> None:
    with inv.transaction() as s:
        q.add_network(s, Network("tiny", "10.9.0.0", "255.255.255.252", gateway="10.9.0.2"))
        q.add_appliance(s, Appliance("c", "c"))
        assert q.next_ip(s, "tiny") == "10.9.0.1"
        q.add_host(
            s, Host("h", "c", interfaces=(Interface("h", "eth0", ip="10.9.0.1", network="tiny"),))
        )
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        q.next_ip(s, "tiny")
    assert err.value.first.code == "network-full"
    assert err.value.first.message == "network tiny (10.9.0.0/30) has no unused address left"


def test_remove_network_in_use(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(
            s,
            Host(
                "a", "compute", interfaces=(Interface("a", "eth0", ip="10.2.0.3", network="ipmi"),)
            ),
        )
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        q.remove_network(s, "ipmi")
    assert err.value.first.code == "network-in-use"
    with cluster.transaction() as s:
        q.remove_interface(s, "a", "eth0")
        q.remove_network(s, "ipmi")
        assert [n.name for n in q.list_networks(s)] == ["private"]
