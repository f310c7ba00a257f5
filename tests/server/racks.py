"""Clusters in racks for the console tests: compute-<rack>-<rank> at 127.10.x.y, seeded with the
bulk loader (10,000 hosts in a few seconds), and small helpers to wait for the frontend."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from rocks.inventory import open_inventory
from rocks.inventory import queries as q
from rocks.inventory.install import begin_install_many
from rocks.model.inventory import Host, Interface, Network, Scope
from tests.server.conftest import ROOTPW, Cluster, ensure_appliances, mac
from tests.server.nodes import node_address

T = TypeVar("T")


def racked_name(i: int, per_rack: int) -> str:
    rack, rank = divmod(i, per_rack)
    return f"compute-{rack}-{rank}"


def make_racked_cluster(state: Path, racks: int, per_rack: int, *,
                        installing: Iterable[str] = (), frontend_url: str = "http://127.0.0.1:1"
                        ) -> Cluster:
    """racks × per_rack compute hosts, each with its loopback address; `installing` are set to
    install (with tokens), the others boot their os."""
    url = f"sqlite:///{state / 'rocks.db'}"
    inv = open_inventory(url)
    cluster = Cluster(url, state, inv)
    with inv.transaction() as s:
        ensure_appliances(s)
        q.add_network(s, Network("loop", "127.0.0.0", "255.0.0.0", zone="local", pxe=True))
        hosts = []
        for i in range(racks * per_rack):
            name = racked_name(i, per_rack)
            rack, rank = divmod(i, per_rack)
            cluster.addresses[name] = node_address(i)
            hosts.append(Host(name, "compute", rack, rank, interfaces=(
                Interface(name, "eth0", mac(i), node_address(i), "loop"),)))
        q.add_hosts_bulk(s, hosts)
        q.set_attr(s, Scope.GLOBAL, "", "rootpw_hash", ROOTPW, secret=True)
        q.set_attr(s, Scope.GLOBAL, "", "Kickstart_FrontendURL", frontend_url)
        chosen = list(installing)
        if chosen:
            cluster.tokens = begin_install_many(s, chosen)
    return cluster


def wait_until(probe: Callable[[], T], timeout: float = 15.0, every: float = 0.05) -> T:
    """The first truthy value of `probe()`, or an AssertionError after `timeout` seconds."""
    end = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > end:
            raise AssertionError(f"still {last!r} after {timeout} s")
        time.sleep(every)
        last = probe()
    return last
