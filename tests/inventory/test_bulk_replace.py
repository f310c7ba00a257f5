"""Bulk attribute writes and bulk host replacement (used by `rocks load hostfile|attrfile`)."""

from __future__ import annotations

import pytest

from rocks.errors import RocksError
from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.inventory.bulk import replace_hosts_bulk, set_attrs_bulk
from rocks.model.inventory import Attribute, BootState, Host, Interface, Scope


def test_set_attrs_bulk_inserts_and_replaces(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("c-0-0", "compute"))
        q.set_attr(s, "global", "", "tz", "UTC")
        written = set_attrs_bulk(s, [
            Attribute("tz", "Europe/Paris"),
            Attribute("pw", "hash", Scope.OS, "linux", secret=True),
            Attribute("x11", "yes", Scope.APPLIANCE, "compute"),
            Attribute("cpus", "2", Scope.HOST, "c-0-0"),
        ])
        assert written == 4
    with cluster.transaction(readonly=True) as s:
        assert q.list_attrs(s) == [
            Attribute("tz", "Europe/Paris", Scope.GLOBAL, ""),
            Attribute("pw", "hash", Scope.OS, "linux", True),
            Attribute("x11", "yes", Scope.APPLIANCE, "compute"),
            Attribute("cpus", "2", Scope.HOST, "c-0-0"),
        ]


@pytest.mark.parametrize(
    ("attr", "code"),
    [
        (Attribute("a", "1", Scope.APPLIANCE, "nope"), "unknown-appliance"),
        (Attribute("a", "1", Scope.HOST, "nope"), "unknown-host"),
        (Attribute("a", "1", Scope.GLOBAL, "x"), "bad-target"),
        (Attribute("bad name", "1"), "bad-attr-name"),
    ],
)
def test_set_attrs_bulk_refuses(cluster: Inventory, attr: Attribute, code: str) -> None:
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        set_attrs_bulk(s, [Attribute("ok", "1"), attr])
    assert err.value.first.code == code
    with cluster.transaction(readonly=True) as s:
        assert q.list_attrs(s) == []


def test_replace_hosts_bulk(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("c-0-0", "compute", interfaces=(
            Interface("c-0-0", "eth0", "52:54:00:00:00:01", "10.1.0.1", "private"),
            Interface("c-0-0", "eth1", "52:54:00:00:00:02"),
        )))
        q.add_host(s, Host("c-0-1", "compute", interfaces=(
            Interface("c-0-1", "eth0", "52:54:00:00:00:03", "10.1.0.3", "private"),
        )))
        new = Host("c-0-0", "frontend", 1, 2, "linux", "install", "os", BootState.INSTALL,
                   "moved", (Interface("c-0-0", "eth0", "52:54:00:00:00:09", "10.1.0.9",
                                       "private", module="e1000"),))
        assert replace_hosts_bulk(s, [new]) == 1
    with cluster.transaction(readonly=True) as s:
        assert q.get_host(s, "c-0-0") == new
        assert q.get_host(s, "c-0-1").interfaces[0].mac == "52:54:00:00:00:03"


def test_replace_hosts_bulk_unknown(cluster: Inventory) -> None:
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        replace_hosts_bulk(s, [Host("ghost", "compute")])
    assert str(err.value.first.message) == "no host named 'ghost'"
