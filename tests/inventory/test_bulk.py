"""Bulk host insertion: same checks as one at a time, all or nothing, and fast."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rocks.errors import RocksError
from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.inventory.bulk import _write_generic, _write_postgresql
from rocks.model.inventory import Attribute, Host, Interface, Network, Scope


def make_hosts(n: int, start: int = 0) -> tuple[list[Host], list[Attribute]]:
    hosts, attrs = [], []
    for i in range(start, start + n):
        rack, rank = divmod(i, 100)
        name = f"compute-{rack}-{rank}"
        mac = f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        hosts.append(
            Host(
                name,
                "compute",
                rack,
                rank,
                interfaces=(
                    Interface(name, "eth0", mac, f"10.1.{i >> 8}.{i & 255}", "private"),
                    Interface(name, "ipmi", "", f"10.2.0.{i % 250 + 1}", ""),
                ),
            )
        )
        attrs += [
            Attribute("cpus", "64", Scope.HOST, name),
            Attribute("pw", "x", Scope.HOST, name, secret=True),
        ]
    return hosts, attrs


def test_bulk_roundtrip(cluster: Inventory) -> None:
    hosts, attrs = make_hosts(300)
    with cluster.transaction() as s:
        assert q.add_hosts_bulk(s, hosts, attrs) == 300
    with cluster.transaction(readonly=True) as s:
        listed = q.list_hosts(s)
        assert sorted(listed, key=lambda h: h.name) == sorted(hosts, key=lambda h: h.name)
        resolved = q.resolve_attrs(s, "compute-2-99")
        assert resolved.values["cpus"] == "64"
        assert resolved.values["hostaddr"] == "10.1.1.43"
        assert resolved.secret == frozenset({"pw"})
        # Single-row inserts still work after bulk ones (sequences advanced on PostgreSQL).
        q.add_host(s, Host("extra", "compute"))
        q.set_attr(s, "host", "extra", "cpus", "1")


@pytest.mark.parametrize(
    ("mutate", "code", "message"),
    [
        (
            lambda h: [
                *h,
                Host(
                    "dup", "compute", interfaces=(Interface("dup", "eth0", h[0].interfaces[0].mac),)
                ),
            ],
            "duplicate-mac",
            "MAC 52:54:00:00:00:00 for host dup is already used by compute-0-0",
        ),
        (
            lambda h: [
                *h,
                Host(
                    "dup",
                    "compute",
                    interfaces=(Interface("dup", "eth0", "", "10.1.0.3", "private"),),
                ),
            ],
            "duplicate-ip",
            "IP 10.1.0.3 for host dup on network private is already used by compute-0-3",
        ),
        (lambda h: [*h, h[1]], "duplicate-host", "host 'compute-0-1' already exists"),
        (lambda h: [*h, Host("x", "nope")], "unknown-appliance", "no appliance named 'nope'"),
        (
            lambda h: [
                *h,
                Host(
                    "y", "compute", interfaces=(Interface("y", "eth0", "", "10.9.0.1", "private"),)
                ),
            ],
            "ip-outside-network",
            "host y eth0: 10.9.0.1 is not inside network private (10.1.0.0/16)",
        ),
    ],
)
def test_bulk_refuses_and_writes_nothing(
    cluster: Inventory, mutate: object, code: str, message: str
) -> None:
    hosts, _ = make_hosts(10)
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        q.add_hosts_bulk(s, mutate(hosts))  # type: ignore[operator]
    assert (err.value.first.code, err.value.first.message) == (code, message)
    with cluster.transaction(readonly=True) as s:
        assert q.list_hosts(s) == []


def test_bulk_checks_against_existing_rows(cluster: Inventory) -> None:
    hosts, _ = make_hosts(5)
    with cluster.transaction() as s:
        q.add_hosts_bulk(s, hosts)
    again, _ = make_hosts(5, start=5)
    clash = Host("z", "compute", interfaces=(Interface("z", "eth0", hosts[4].interfaces[0].mac),))
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        q.add_hosts_bulk(s, [*again, clash])
    assert err.value.first.code == "duplicate-mac"
    with cluster.transaction(readonly=True) as s:
        assert len(q.list_hosts(s)) == 5


def test_bulk_attrs_must_target_batch_hosts(cluster: Inventory) -> None:
    hosts, _ = make_hosts(2)
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        q.add_hosts_bulk(s, hosts, [Attribute("a", "1", Scope.HOST, "elsewhere")])
    assert err.value.first.code == "bad-target"


@pytest.mark.slow
def test_bulk_10000_hosts(cluster: Inventory) -> None:
    """How long it takes: bench/inventory.py (`load hostfile` of 10,000 hosts)."""
    with cluster.transaction() as s:
        q.add_network(s, Network("big", "10.128.0.0", "255.128.0.0"))
    hosts, attrs = make_hosts(10_000)
    with cluster.transaction() as s:
        q.add_hosts_bulk(s, hosts, attrs)
    with cluster.transaction(readonly=True) as s:
        assert len(q.list_hosts(s)) == 10_000


def test_bulk_writer_violation_is_a_rocks_error(cluster: Inventory) -> None:
    """If another writer slips in between the checks and the write, the schema still refuses."""
    hosts, _ = make_hosts(1)
    with cluster.transaction() as s:
        q.add_hosts_bulk(s, hosts)
    row = {
        "name": "late",
        "appliance_id": 1,
        "rack": 0,
        "rank": 0,
        "os": "linux",
        "install_action": "install",
        "run_action": "os",
        "boot": "os",
        "comment": "",
    }
    iface = {
        "device": "eth0",
        "mac": hosts[0].interfaces[0].mac,
        "ip": None,
        "network_id": None,
        "name": "",
        "module": "",
        "vlan": None,
        "options": "",
        "default_gateway": False,
        "bmc": None,
    }
    writer = _write_postgresql if cluster.dialect == "postgresql" else _write_generic
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        s.execute(text("SELECT 1"))
        writer(s, [row], [("late", iface)], [])
    assert err.value.first.code == "duplicate-mac"
    with cluster.transaction(readonly=True) as s:
        assert [h.name for h in q.list_hosts(s)] == ["compute-0-0"]
