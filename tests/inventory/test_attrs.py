"""Attributes: scopes, targets, schema constraints, and resolution with sources."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rocks.errors import RocksError
from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Attribute, Host, Interface, Scope


@pytest.fixture
def host(cluster: Inventory) -> Inventory:
    with cluster.transaction() as s:
        q.add_host(
            s,
            Host(
                "compute-1-2",
                "compute",
                rack=1,
                rank=2,
                os="linux",
                interfaces=(
                    Interface("", "eth0", "52:54:00:00:00:0a", "10.2.0.7", "ipmi"),
                    Interface("", "eth1", "52:54:00:00:00:0b", "10.1.255.250", "private"),
                ),
            ),
        )
    return cluster


def test_resolution_precedence_and_sources(host: Inventory) -> None:
    with host.transaction() as s:
        for scope, target in (
            ("global", ""),
            ("os", "linux"),
            ("appliance", "compute"),
            ("host", "compute-1-2"),
        ):
            q.set_attr(s, scope, target, f"from_{scope}", scope)
            q.set_attr(s, scope, target, "x", scope)
        q.set_attr(s, "os", "other", "x", "other-os")
        q.set_attr(s, "appliance", "frontend", "x", "other-appliance")
        q.set_attr(s, "global", "", "only_global", "g")
        q.set_attr(s, "appliance", "compute", "rack", "99")  # attributes may override intrinsics
        q.set_attr(s, "global", "", "root_pw", "hash", secret=True)
        q.set_attr(s, "host", "compute-1-2", "x", "mine", secret=True)
    with host.transaction(readonly=True) as s:
        resolved = q.resolve_attrs(s, "compute-1-2")
    # the private network's facts (no frontend host here: only the network's own)
    derived = {k: v for k, v in resolved.values.items() if resolved.sources[k] == "network"}
    assert derived == {
        "Kickstart_PrivateNetwork": "10.1.0.0", "Kickstart_PrivateNetmask": "255.255.0.0",
        "Kickstart_PrivateNetmaskCIDR": "16", "Kickstart_PrivateBroadcast": "10.1.255.255",
        "Kickstart_PrivateMTU": "1500", "Kickstart_PrivateDNSDomain": "local"}
    for k in derived:
        del resolved.values[k], resolved.sources[k]
    assert resolved.values == {
        "hostname": "compute-1-2",
        "rack": "99",
        "rank": "2",
        "appliance": "compute",
        "os": "linux",
        "from_appliance": "appliance",
        "from_global": "global",
        "only_global": "g",
        "root_pw": "hash",
        "x": "mine",
        "from_os": "os",
        "from_host": "host",
        "hostaddr": "10.1.255.250",
        "ksmac": "52:54:00:00:00:0b",
    }
    assert resolved.sources == {
        "hostname": "intrinsic",
        "rack": Scope.APPLIANCE,
        "rank": "intrinsic",
        "appliance": "intrinsic",
        "os": "intrinsic",
        "from_global": Scope.GLOBAL,
        "only_global": Scope.GLOBAL,
        "root_pw": Scope.GLOBAL,
        "x": Scope.HOST,
        "from_os": Scope.OS,
        "from_appliance": Scope.APPLIANCE,
        "from_host": Scope.HOST,
        "hostaddr": "intrinsic",
        "ksmac": "intrinsic",
    }
    assert resolved.secret == frozenset({"root_pw", "x"})


def test_hostaddr_falls_back_to_first_interface(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(
            s,
            Host(
                "h",
                "compute",
                interfaces=(
                    Interface("", "eth1", "52:54:00:00:00:02", "10.2.0.2", "ipmi"),
                    Interface("", "eth0", "52:54:00:00:00:01", "10.2.0.1", "ipmi"),
                ),
            ),
        )
        q.add_host(s, Host("bare", "compute"))
        many = q.resolve_attrs_many(s)
    assert (many["h"].values["hostaddr"], many["h"].values["ksmac"]) == (
        "10.2.0.1",
        "52:54:00:00:00:01",
    )
    assert "hostaddr" not in many["bare"].values
    assert sorted(many) == ["bare", "h"]


def test_set_replaces_and_remove(host: Inventory) -> None:
    with host.transaction() as s:
        q.set_attr(s, "host", "compute-1-2", "cpus", "8")
        q.set_attr(s, "host", "compute-1-2", "cpus", "16")
        assert q.list_attrs(s, "host", "compute-1-2") == [
            Attribute("cpus", "16", Scope.HOST, "compute-1-2")
        ]
        q.remove_attr(s, "host", "compute-1-2", "cpus")
        assert q.list_attrs(s, "host", "compute-1-2") == []
    with pytest.raises(RocksError) as err, host.transaction() as s:
        q.remove_attr(s, "host", "compute-1-2", "cpus")
    assert err.value.first.code == "unknown-attr"


def test_list_attrs_order_and_filters(host: Inventory) -> None:
    with host.transaction() as s:
        q.set_attr(s, "host", "compute-1-2", "b", "1")
        q.set_attr(s, "global", "", "z", "1")
        q.set_attr(s, "appliance", "compute", "a", "1")
        q.set_attr(s, "os", "linux", "a", "1")
        q.set_attr(s, "global", "", "a", "1")
        everything = q.list_attrs(s)
        assert [(a.scope.value, a.target, a.name) for a in everything] == [
            ("global", "", "a"),
            ("global", "", "z"),
            ("os", "linux", "a"),
            ("appliance", "compute", "a"),
            ("host", "compute-1-2", "b"),
        ]
        assert [a.name for a in q.list_attrs(s, "global")] == ["a", "z"]
        assert q.list_attrs(s, "os", "solaris") == []


@pytest.mark.parametrize(
    ("scope", "target", "name", "code"),
    [
        ("global", "x", "a", "bad-target"),
        ("os", "", "a", "bad-target"),
        ("appliance", "nope", "a", "unknown-appliance"),
        ("host", "nope", "a", "unknown-host"),
        ("rack", "x", "a", "bad-target"),
        ("shelf", "0", "a", "bad-scope"),
        ("global", "", "bad name", "bad-attr-name"),
    ],
)
def test_bad_targets(host: Inventory, scope: str, target: str, name: str, code: str) -> None:
    with pytest.raises(RocksError) as err, host.transaction() as s:
        q.set_attr(s, scope, target, name, "v")
    assert err.value.first.code == code


def _raw_insert(inv: Inventory, values: str) -> RocksError:
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        s.execute(
            text(
                "INSERT INTO attributes (name, value, scope, os, appliance_id, host_id, secret)"
                f" VALUES {values}"
            )
        )
    return err.value


def test_schema_checks_scope_target(host: Inventory) -> None:
    with host.transaction() as s:
        hid = s.execute(text("SELECT id FROM hosts")).scalar_one()
    # a global attribute pointing at a host, a host attribute without one, an unknown scope
    for values in (
        f"('a', 'v', 'global', '', NULL, {hid}, false)",
        "('a', 'v', 'host', NULL, NULL, NULL, false)",
        "('a', 'v', 'os', '', NULL, NULL, false)",
        "('a', 'v', 'rack', NULL, NULL, NULL, false)",
    ):
        assert _raw_insert(host, values).first.code == "invalid-value", values


def test_schema_unique_per_scope_and_target(host: Inventory) -> None:
    with host.transaction() as s:
        q.set_attr(s, "global", "", "a", "1")
        q.set_attr(s, "os", "linux", "a", "1")
        q.set_attr(s, "host", "compute-1-2", "a", "1")
    with host.transaction() as s:
        hid = s.execute(text("SELECT id FROM hosts")).scalar_one()
    for values in (
        "('a', 'v', 'global', '', NULL, NULL, false)",
        "('a', 'v', 'os', 'linux', NULL, NULL, false)",
        f"('a', 'v', 'host', NULL, NULL, {hid}, false)",
    ):
        assert _raw_insert(host, values).first.code == "duplicate-attr", values
    with pytest.raises(RocksError) as err, host.transaction() as s:
        s.execute(
            text(
                "INSERT INTO attributes (name, value, scope, os, appliance_id, host_id, secret)"
                " VALUES ('a', 'v', 'host', NULL, 12345, NULL, false)"
            )
        )
    assert err.value.first.code in {"foreign-key", "invalid-value"}


def test_appliance_attrs_go_with_the_appliance(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.set_attr(s, "appliance", "frontend", "a", "1")
        q.remove_appliance(s, "frontend")
        assert q.list_attrs(s) == []
