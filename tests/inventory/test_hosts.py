"""Hosts and interfaces: constraints, normalisation, cascade, ranks, lookups."""

from __future__ import annotations

import pytest

from rocks.errors import RocksError
from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.model.inventory import BootState, Host, Interface


def _code(inv: Inventory, action: object) -> RocksError:
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        action(s)  # type: ignore[operator]
    return err.value


def eth0(host: str, mac: str = "", ip: str = "", network: str = "private") -> Interface:
    return Interface(host, "eth0", mac, ip, network if ip else "")


def test_add_and_get_host_with_interfaces(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(
            s,
            Host(
                "compute-0-0",
                "compute",
                rack=0,
                rank=0,
                interfaces=(
                    Interface("", "eth0", "52-54-00-AA-BB-CC", "10.1.255.254", "private"),
                    Interface("", "ipmi", "", "10.2.0.9", "ipmi", vlan=7),
                ),
            ),
        )
    with cluster.transaction(readonly=True) as s:
        host = q.get_host(s, "compute-0-0")
    assert host == Host(
        "compute-0-0",
        "compute",
        interfaces=(
            Interface("compute-0-0", "eth0", "52:54:00:aa:bb:cc", "10.1.255.254", "private"),
            Interface("compute-0-0", "ipmi", "", "10.2.0.9", "ipmi", vlan=7),
        ),
    )


def test_list_hosts_sorted_and_unknown_names(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        for name in ("b", "a", "c"):
            q.add_host(s, Host(name, "compute"))
    with cluster.transaction(readonly=True) as s:
        assert [h.name for h in q.list_hosts(s)] == ["a", "b", "c"]
        assert [h.name for h in q.list_hosts(s, ["c", "a"])] == ["a", "c"]
    err = _code(cluster, lambda s: q.list_hosts(s, ["a", "zz", "yy"]))
    assert err.first.code == "unknown-host"
    assert err.first.message == "no host named 'zz, yy'"


def test_unknown_appliance(cluster: Inventory) -> None:
    err = _code(cluster, lambda s: q.add_host(s, Host("n1", "nope")))
    assert err.first.code == "unknown-appliance"
    assert "'nope'" in err.first.message


def test_duplicate_and_bad_host_names(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("compute-0-0", "compute"))
    assert _code(cluster, lambda s: q.add_host(s, Host("compute-0-0", "compute"))).first.code == (
        "duplicate-host"
    )
    for bad in ("a.b", "rack3", "compute", "", "-x"):
        err = _code(cluster, lambda s, bad=bad: q.add_host(s, Host(bad, "compute")))
        assert err.first.code == "bad-host-name", bad


def test_duplicate_mac_names_host_and_value(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute", interfaces=(eth0("a", "52:54:00:00:00:01"),)))
        q.add_host(s, Host("b", "compute"))
    err = _code(cluster, lambda s: q.add_interface(s, eth0("b", "52:54:00:00:00:01".upper())))
    assert err.first.code == "duplicate-mac"
    assert err.first.message == "MAC 52:54:00:00:00:01 for host b is already used by a eth0"


def test_bad_mac(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute"))
    err = _code(cluster, lambda s: q.add_interface(s, eth0("a", "52:54:00:00:01")))
    assert err.first.code == "bad-mac"
    assert err.first.message == "'52:54:00:00:01' for host a is not an Ethernet MAC address"


def test_mac_forms_normalise(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute"))
        for i, mac in enumerate(("AABB.CCDD.EE01", "aabbccddee02", "AA-BB-CC-DD-EE-03")):
            q.add_interface(s, Interface("a", f"eth{i}", mac))
        assert [i.mac for i in q.get_host(s, "a").interfaces] == [
            "aa:bb:cc:dd:ee:01",
            "aa:bb:cc:dd:ee:02",
            "aa:bb:cc:dd:ee:03",
        ]


def test_duplicate_ip_per_network_only(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute", interfaces=(eth0("a", ip="10.1.0.5"),)))
        q.add_host(s, Host("b", "compute"))
        # Unaddressed interfaces do not collide with each other.
        q.add_interface(s, Interface("a", "eth9"))
        q.add_interface(s, Interface("b", "eth9"))
    err = _code(cluster, lambda s: q.add_interface(s, eth0("b", ip="10.1.0.5")))
    assert err.first.code == "duplicate-ip"
    assert err.first.message == (
        "IP 10.1.0.5 for host b on network private is already used by a eth0"
    )
    with cluster.transaction() as s:  # same address on another network is fine
        q.add_interface(s, Interface("b", "eth1", ip="10.1.0.5", network=""))


def test_ip_outside_network_and_bad_ip(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute"))
    err = _code(cluster, lambda s: q.add_interface(s, eth0("a", ip="10.9.0.1")))
    assert err.first.code == "ip-outside-network"
    assert err.first.message == (
        "host a eth0: 10.9.0.1 is not inside network private (10.1.0.0/16)"
    )
    assert _code(cluster, lambda s: q.add_interface(s, eth0("a", ip="10.1.0.300"))).first.code == (
        "bad-ip"
    )
    err = _code(cluster, lambda s: q.add_interface(s, Interface("a", "eth0", network="nope")))
    assert err.first.code == "unknown-network"


def test_duplicate_device(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute", interfaces=(Interface("a", "eth0"),)))
    err = _code(cluster, lambda s: q.add_interface(s, Interface("a", "eth0")))
    assert err.first.code == "duplicate-interface"


def test_remove_host_cascades(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(
            s, Host("a", "compute", interfaces=(eth0("a", "52:54:00:00:00:01", "10.1.0.1"),))
        )
        q.set_attr(s, "host", "a", "cpus", "8")
        q.add_event(s, "a", "install")
        q.set_profile(s, "a", "profile")
    with cluster.transaction() as s:
        q.remove_host(s, "a")
    with cluster.transaction(readonly=True) as s:
        for table in ("hosts", "interfaces", "attributes", "install_events", "host_profiles"):
            count = s.connection().exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            assert count == 0, table
        assert q.list_attrs(s, "host") == []
    # The MAC and address are free again.
    with cluster.transaction() as s:
        q.add_host(
            s, Host("b", "compute", interfaces=(eth0("b", "52:54:00:00:00:01", "10.1.0.1"),))
        )
    assert _code(cluster, lambda s: q.remove_host(s, "a")).first.code == "unknown-host"


def test_remove_interface(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute", interfaces=(Interface("a", "eth0"),)))
        q.remove_interface(s, "a", "eth0")
        assert q.list_interfaces(s, "a") == []
    assert _code(cluster, lambda s: q.remove_interface(s, "a", "eth0")).first.code == (
        "unknown-interface"
    )


def test_update_host(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute"))
        host = q.update_host(s, "a", appliance="frontend", rack=2, boot="install", comment="x")
    assert (host.appliance, host.rack, host.boot, host.comment) == (
        "frontend",
        2,
        BootState.INSTALL,
        "x",
    )
    assert _code(cluster, lambda s: q.update_host(s, "a", boot="pxe")).first.code == (
        "bad-boot-state"
    )


def test_next_rank(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        assert q.next_rank(s, "compute", 0) == 0
        q.add_host(s, Host("compute-0-0", "compute", 0, 0))
        q.add_host(s, Host("compute-0-4", "compute", 0, 4))
        q.add_host(s, Host("compute-1-0", "compute", 1, 0))
        q.add_host(s, Host("frontend-0-9", "frontend", 0, 9))
        assert q.next_rank(s, "compute", 0) == 5
        assert q.next_rank(s, "compute", 1) == 1
        assert q.next_rank(s, "compute", 2) == 0
    assert _code(cluster, lambda s: q.next_rank(s, "nope", 0)).first.code == "unknown-appliance"


def test_find_host(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(
            s, Host("a", "compute", interfaces=(eth0("a", "52:54:00:00:00:01", "10.1.0.1"),))
        )
        assert q.find_host(s, mac="52:54:00:00:00:01") == q.get_host(s, "a")
        found = q.find_host(s, ip="10.1.0.1")
        assert found is not None and found.name == "a"
        assert q.find_host(s, mac="52:54:00:00:00:02") is None
