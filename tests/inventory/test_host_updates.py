"""Changing hosts and interfaces in place: rename_host and update_interface."""

from __future__ import annotations

import pytest

from rocks.errors import RocksError
from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.inventory.hosts import rename_host, update_interface
from rocks.model.inventory import Host, Interface


@pytest.fixture
def two(cluster: Inventory) -> Inventory:
    with cluster.transaction() as s:
        q.add_host(s, Host("compute-0-0", "compute", interfaces=(
            Interface("", "eth0", "52:54:00:00:00:01", "10.1.255.254", "private"),)))
        q.add_host(s, Host("compute-0-1", "compute", rank=1, interfaces=(
            Interface("", "eth0", "52:54:00:00:00:02", "10.1.255.253", "private"),)))
    return cluster


def _error(inv: Inventory, action: object) -> str:
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        action(s)  # type: ignore[operator]
    return f"{err.value.first.code}: {err.value.first.message}"


def test_rename_host_keeps_interfaces(two: Inventory) -> None:
    with two.transaction() as s:
        host = rename_host(s, "compute-0-0", "gpu-0-0")
    assert [(i.host, i.device) for i in host.interfaces] == [("gpu-0-0", "eth0")]
    assert _error(two, lambda s: rename_host(s, "gpu-0-0", "compute-0-1")) == (
        "duplicate-host: host 'compute-0-1' already exists")
    assert _error(two, lambda s: rename_host(s, "nope", "x")) == (
        "unknown-host: no host named 'nope'")


def test_update_interface_changes_and_clears(two: Inventory) -> None:
    with two.transaction() as s:
        changed = update_interface(s, "compute-0-0", "eth0", new_device="ens3",
                                   mac="52-54-00-AA-BB-CC", module="virtio", vlan=5)
        assert changed == Interface("compute-0-0", "ens3", "52:54:00:aa:bb:cc", "10.1.255.254",
                                    "private", module="virtio", vlan=5)
        cleared = update_interface(s, "compute-0-0", "ens3", ip="", network="", vlan=None)
        assert cleared == Interface("compute-0-0", "ens3", "52:54:00:aa:bb:cc", "",
                                    "", module="virtio")
        # Setting a field to the value it already has is not a clash with itself.
        update_interface(s, "compute-0-1", "eth0", mac="52:54:00:00:00:02")


def test_update_interface_refuses_clashes(two: Inventory) -> None:
    assert _error(two, lambda s: update_interface(s, "compute-0-1", "eth0",
                                                  ip="10.1.255.254")) == (
        "duplicate-ip: IP 10.1.255.254 for host compute-0-1 on network private is already used "
        "by compute-0-0 eth0")
    assert _error(two, lambda s: update_interface(s, "compute-0-1", "eth0",
                                                  mac="52:54:00:00:00:01")) == (
        "duplicate-mac: MAC 52:54:00:00:00:01 for host compute-0-1 is already used by "
        "compute-0-0 eth0")
    assert _error(two, lambda s: update_interface(s, "compute-0-1", "eth0", network="ipmi")) == (
        "ip-outside-network: host compute-0-1 eth0: 10.1.255.253 is not inside network ipmi "
        "(10.2.0.0/24)")
    assert _error(two, lambda s: update_interface(s, "compute-0-1", "eth9", ip="")) == (
        "unknown-interface: host compute-0-1 has no interface eth9")
    with two.transaction(readonly=True) as s:
        assert [(i.host, i.mac, i.ip) for i in q.list_interfaces(s)] == [
            ("compute-0-0", "52:54:00:00:00:01", "10.1.255.254"),
            ("compute-0-1", "52:54:00:00:00:02", "10.1.255.253"),
        ]
