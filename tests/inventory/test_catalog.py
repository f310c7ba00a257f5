"""Appliances, boot actions, rolls, seed data, events and profiles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rocks.errors import RocksError
from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, BootAction, Host, HostProfile, Roll


def test_seed_defaults_is_idempotent(inv: Inventory) -> None:
    apps = [Appliance("compute", "compute"), Appliance("nas", "nas", kickstartable=False)]
    with inv.transaction() as s:
        q.seed_defaults(s, apps)
        q.seed_defaults(s, [*apps, Appliance("login", "login")])
    with inv.transaction(readonly=True) as s:
        assert q.list_bootactions(s) == [
            BootAction(
                "install", "vmlinuz", "initrd.img", "inst.ks.sendsn"
            ),
            BootAction("os", "localboot", "", ""),
        ]
        assert q.list_appliances(s) == [
            Appliance("compute", "compute"),
            Appliance("login", "login"),
            Appliance("nas", "nas", kickstartable=False),
        ]


def test_appliance_rules(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        q.add_host(s, Host("c1", "compute"))
    for action, code in (
        (lambda s: q.add_appliance(s, Appliance("compute", "x")), "duplicate-appliance"),
        (lambda s: q.add_appliance(s, Appliance("c1", "x")), "bad-appliance-name"),
        (lambda s: q.remove_appliance(s, "compute"), "appliance-in-use"),
        (lambda s: q.get_appliance(s, "nope"), "unknown-appliance"),
    ):
        with pytest.raises(RocksError) as err, cluster.transaction() as s:
            action(s)
        assert err.value.first.code == code
    with cluster.transaction() as s:
        assert q.get_appliance(s, "frontend") == Appliance("frontend", "server", public=False)


def test_bootactions(inv: Inventory) -> None:
    with inv.transaction() as s:
        q.add_bootaction(s, BootAction("install headless", "vmlinuz", "initrd.img", "headless"))
        q.add_bootaction(s, BootAction("install headless", "k2", "i2", "a2"), replace=True)
        assert q.get_bootaction(s, "install headless") == BootAction(
            "install headless", "k2", "i2", "a2"
        )
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        q.add_bootaction(s, BootAction("install headless", "k", "i"))
    assert err.value.first.code == "duplicate-bootaction"
    with inv.transaction() as s:
        q.remove_bootaction(s, "install headless")
        assert q.list_bootactions(s) == []


def test_rolls_crud(inv: Inventory) -> None:
    with inv.transaction() as s:
        q.add_roll(s, Roll("base", "7.0"))
        q.add_roll(s, Roll("base", "7.1"))
        q.add_roll(s, Roll("base", "7.1", arch="aarch64"))
        q.add_roll(s, Roll("kernel", "7.1"))
        changed = q.update_rolls(s, "base", version="7.1", enabled=True)
        assert [(r.version, r.arch, r.enabled) for r in changed] == [
            ("7.1", "aarch64", True),
            ("7.1", "x86_64", True),
        ]
        q.update_rolls(s, "kernel", trusted=True)
        assert q.list_rolls(s, ["kernel"]) == [Roll("kernel", "7.1", trusted=True)]
        removed = q.remove_roll(s, "base", version="7.0")
        assert removed == [Roll("base", "7.0")]
        assert [(r.name, r.version, r.arch) for r in q.list_rolls(s)] == [
            ("base", "7.1", "aarch64"),
            ("base", "7.1", "x86_64"),
            ("kernel", "7.1", "x86_64"),
        ]
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        q.add_roll(s, Roll("base", "7.1"))
    assert err.value.first.code == "duplicate-roll"
    with pytest.raises(RocksError) as err, inv.transaction() as s:
        q.update_rolls(s, "nope", enabled=True)
    assert err.value.first.code == "unknown-roll"


def test_events_and_profiles(cluster: Inventory) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with cluster.transaction() as s:
        q.add_host(s, Host("a", "compute"))
        q.add_host(s, Host("b", "compute"))
        for i, stage in enumerate(("pxe", "kickstart", "post", "done")):
            q.add_event(s, "a", stage, f"m{i}", "10.1.255.254", t0.replace(minute=i))
        q.add_event(s, "b", "pxe", time=t0)
        assert q.get_profile(s, "a") is None
        q.set_profile(s, "a", "v1", t0)
        q.set_profile(s, "a", "v2", t0.replace(hour=1))
    with cluster.transaction(readonly=True) as s:
        assert [e.stage for e in q.list_events(s, "a")] == ["pxe", "kickstart", "post", "done"]
        assert [e.stage for e in q.list_events(s, "a", limit=2)] == ["post", "done"]
        assert len(q.list_events(s)) == 5
        assert q.get_profile(s, "a") == HostProfile(
            "a",
            "fb04dcb6970e4c3d1873de51fd5a50d7bb46b3383113602665c350ec40b5f990",
            "v2",
            t0.replace(hour=1),
        )
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        q.add_event(s, "nope", "pxe")
    assert err.value.first.code == "unknown-host"
