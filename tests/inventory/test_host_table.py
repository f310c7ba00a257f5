"""The frontend's host table (rocks/server/hosttable.py, built by rocks.server.index.host_table)
holds hosts as shared layers plus each host's own values. What a host is made of must be what
resolution (rocks.inventory.attrs.resolve_attrs_many) and ProfileService.view say, value for
value, secret flag for secret flag, source for source — on both backends, with every scope,
overrides of intrinsics, secret flags set and cleared at host scope, several interfaces, BMCs
and addresses two hosts claim."""

from __future__ import annotations

from sqlalchemy.orm import Session

from rocks.inventory import Inventory
from rocks.inventory import queries as q
from rocks.inventory.bootstate import host_ids, set_boot
from rocks.inventory.install import tokens
from rocks.model.inventory import Host, Interface, Network, Scope
from rocks.profiles import GraphOptions, profile_service
from rocks.server.index import host_table


def _populate(s: Session) -> None:
    q.add_network(s, Network("twin", "10.1.0.0", "255.255.0.0"))  # overlaps private
    hosts = [
        Host("compute-0-0", "compute", 0, 0, interfaces=(
            Interface("compute-0-0", "eth0", "52:54:00:00:00:01", "10.1.255.254", "private"),
            Interface("compute-0-0", "ipmi", "52:54:00:00:01:01", "10.2.0.10", "ipmi",
                      bmc="ipmi"),)),
        # its first interface by device is not on the PXE network: hostaddr from eth1
        Host("compute-0-1", "compute", 0, 1, interfaces=(
            Interface("compute-0-1", "eth0", "52:54:00:00:00:02", "10.2.0.11", "ipmi"),
            Interface("compute-0-1", "eth1", "52:54:00:00:00:03", "10.1.255.253", "private"),)),
        Host("compute-1-0", "compute", 1, 0, interfaces=(
            Interface("compute-1-0", "eth0", "52:54:00:00:00:04", "10.1.255.252", "private"),)),
        Host("compute-1-10", "compute", 1, 10, interfaces=(
            Interface("compute-1-10", "eth0", "52:54:00:00:00:05", "10.1.255.251", "private"),)),
        Host("compute-1-2", "compute", 1, 2),  # no interface at all
        Host("compute-2-0", "compute", 2, 0, interfaces=(
            Interface("compute-2-0", "eth0", "52:54:00:00:00:06", "10.1.255.250", "private"),)),
        Host("twin-0-0", "compute", 2, 1, interfaces=(  # claims compute-2-0's address
            Interface("twin-0-0", "eth0", "52:54:00:00:00:07", "10.1.255.250", "twin"),)),
        Host("frontend-0-0", "frontend", 0, 0, os="linux", interfaces=(
            Interface("frontend-0-0", "eth0", "52:54:00:00:00:08", "10.1.1.1", "private"),)),
    ]
    for h in hosts:
        q.add_host(s, h)
    attrs = [
        (Scope.GLOBAL, "", "rootpw_hash", "$6$salt$hash", True),
        (Scope.GLOBAL, "", "Kickstart_Timezone", "Europe/Paris", False),
        (Scope.OS, "linux", "os_note", "from os", False),
        (Scope.APPLIANCE, "compute", "Kickstart_Timezone", "UTC", False),
        (Scope.RACK, "1", "bmc_password", "rack-secret", True),
        (Scope.RACK, "1", "rank", "99", False),  # a rack value over the intrinsic rank
        (Scope.HOST, "compute-0-0", "rootpw_hash", "$6$own$hash", False),  # clears the flag
        (Scope.HOST, "compute-0-0", "release", "el7", False),  # the target release wins
        (Scope.HOST, "compute-1-0", "site_key", "host-secret", True),
        (Scope.HOST, "compute-1-0", "hostname", "renamed", False),
    ]
    for scope, target, name, value, secret in attrs:
        q.set_attr(s, scope, target, name, value, secret=secret)
    set_boot(s, ["compute-0-0"], "install")


def test_each_host_is_what_resolution_says(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        _populate(s)
    with cluster.transaction(readonly=True) as s:
        svc = profile_service(s, None, GraphOptions("el9"))
        svc.roots = {a.name: a.node for a in q.list_appliances(s)}
        table = host_table(s, svc, generation=7)
        resolved = q.resolve_attrs_many(s)
        ids = host_ids(s, list(resolved))
    assert list(table) == sorted(resolved)
    for name, res in resolved.items():
        want = svc.view(res)
        got = table[name].view
        assert got is not None, name
        assert got.attrs == want.attrs, name
        assert got.secret == want.secret, name
        assert dict(got.sources) == dict(want.sources), name
        assert (got.root, got.appliance, got.name) == (want.root, want.appliance, want.name)
        assert table[name].id == ids[name] and table.name_of_id(ids[name]) == name
        assert table[name].generation == 7
    e = table["compute-0-0"]
    assert e.view is not None and "rootpw_hash" not in e.view.secret - svc.compiler.declared_secret
    assert e.view.attrs["release"] == "el9" and e.view.attrs["hostaddr"] == "10.1.255.254"
    assert table["compute-1-0"].view.attrs["rank"] == "99"  # type: ignore[union-attr]
    assert table["compute-1-0"].view.attrs["hostname"] == "renamed"  # type: ignore[union-attr]
    assert table["compute-0-1"].view.attrs["hostaddr"] == "10.1.255.253"  # type: ignore[union-attr]


def test_lookups_by_address_mac_and_token(cluster: Inventory) -> None:
    with cluster.transaction() as s:
        _populate(s)
    with cluster.transaction(readonly=True) as s:
        svc = profile_service(s, None, GraphOptions("el9"))
        svc.roots = {a.name: a.node for a in q.list_appliances(s)}
        table = host_table(s, svc)
        token = tokens(s)["compute-0-0"]
    found = table.by_ip.get("10.1.255.254")
    assert found is not None and found.name == "compute-0-0"
    assert found.ips == ("10.1.255.254",)  # the BMC is not the node
    assert found.macs == ("52:54:00:00:00:01",)
    assert table.by_ip.get("10.2.0.10") is None  # a BMC's address
    # outside its network's subnet: 10.2.0.11 is on ipmi (10.2.0.0/24), so it identifies
    assert table.by_ip.get("10.2.0.11").name == "compute-0-1"  # type: ignore[union-attr]
    assert table.by_ip.get("10.1.255.250") is None  # two hosts claim it: neither
    assert table.shared_ips == ["10.1.255.250"]
    assert table.by_mac.get("52:54:00:00:00:03").name == "compute-0-1"  # type: ignore[union-attr]
    assert table.by_mac.get("52:54:00:00:01:01") is None  # BMC MACs are not the node's
    assert table.by_token.get(token).name == "compute-0-0"  # type: ignore[union-attr]
    assert table.by_token.get(token[:-1] + "x") is None
    assert table["compute-0-0"].installing and table["compute-0-0"].token == token
    assert table["compute-1-2"].ips == () and table["compute-1-2"].hostaddr == ""
    assert "nobody" not in table and table.get("nobody") is None
    by_natural = sorted(table, key=lambda n: table.natural[table.position(n)])
    assert by_natural.index("compute-1-2") < by_natural.index("compute-1-10")
