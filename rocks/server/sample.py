"""A small sample cluster for trying the frontend: one private network and seven hosts.

`add_sample_cluster` is what scripts/sample-cluster.sh does with `rocks` commands, as one
inventory transaction (for tests and for `python -m rocks.server.sample`). Idempotent.
"""

from __future__ import annotations

import sys

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rocks.inventory import queries as q
from rocks.inventory.install import begin_install
from rocks.inventory.schema import ApplianceRow
from rocks.model.inventory import Appliance, Host, Interface, Network

NETWORK = Network("private", "10.1.0.0", "255.255.0.0", zone="local", servedns=True, pxe=True)
# (name, appliance, rack, rank, ip, mac)
HOSTS = (
    ("head", "frontend", 0, 0, "10.1.1.1", "52:54:00:00:01:01"),
    ("compute-0-0", "compute", 0, 0, "10.1.255.254", "52:54:00:00:02:00"),
    ("compute-0-1", "compute", 0, 1, "10.1.255.253", "52:54:00:00:02:01"),
    ("compute-0-2", "compute", 0, 2, "10.1.255.252", "52:54:00:00:02:02"),
    ("compute-0-3", "compute", 0, 3, "10.1.255.251", "52:54:00:00:02:03"),
    ("login-0-0", "login", 0, 0, "10.1.255.250", "52:54:00:00:03:00"),
    ("nas-0-0", "nas", 0, 0, "10.1.255.249", "52:54:00:00:04:00"),
)
INSTALLING = ("compute-0-0",)


def ensure_appliances(session: Session) -> None:
    """Seed boot actions and the graph's appliances into an empty inventory."""
    if session.scalar(select(func.count()).select_from(ApplianceRow)):
        return
    from rocks.compiler.service import load_graph

    graph = load_graph()
    q.seed_defaults(session, [Appliance(a.name, a.node, a.kickstartable, a.public)
                              for a in sorted(graph.appliances.values(), key=lambda a: a.name)])


def add_sample_cluster(session: Session) -> list[str]:
    """Add the sample network and hosts that are missing; return the names added."""
    ensure_appliances(session)
    if NETWORK.name not in {n.name for n in q.list_networks(session)}:
        q.add_network(session, NETWORK)
    have = {h.name for h in q.list_hosts(session)}
    added = []
    for name, appliance, rack, rank, ip, mac in HOSTS:
        if name in have:
            continue
        q.add_host(session, Host(name, appliance, rack, rank))
        q.add_interface(session, Interface(name, "eth0", mac, ip, NETWORK.name))
        added.append(name)
        if name in INSTALLING:
            begin_install(session, name)
    return added


def main() -> None:
    from rocks.inventory import open_inventory

    with open_inventory(sys.argv[1] if len(sys.argv) > 1 else None) as inv, \
            inv.transaction() as s:
        added = add_sample_cluster(s)
    print(f"sample cluster: {len(added)} hosts added" + (f" ({', '.join(added)})" if added
                                                        else ""))


if __name__ == "__main__":
    main()
