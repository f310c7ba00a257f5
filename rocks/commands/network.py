"""Network commands: add, remove and list networks (Rocks' subnets); the next free address."""

from __future__ import annotations

from typing import Any

from rocks.commands import Context, Result, Rows, Text, command, keyword, positional
from rocks.commands._inventory import session
from rocks.commands._lookup import need_network


@command(
    positional("network", help="network name, e.g. private"),
    keyword("subnet", help="network address, e.g. 10.1.0.0"),
    keyword("netmask", help="mask, e.g. 255.255.0.0"),
    keyword("mtu", int, default=1500, help="MTU"),
    keyword("zone", default="", help="DNS zone (default: the network's name)"),
    keyword("servedns", bool, default=False, help="the frontend serves DNS for the zone"),
    keyword("pxe", bool, default=False, help="hosts PXE-boot (DHCP) on this network"),
    keyword("gateway", default="", help="default gateway, inside the network"),
    examples=("rocks add network private subnet=10.1.0.0 netmask=255.255.0.0 pxe=yes",
              "rocks add network ipmi subnet=10.2.0.0 netmask=255.255.255.0 zone=ipmi"),
)
def add_network(ctx: Context, args: dict[str, Any]) -> Result:
    """Add a network."""
    from rocks.inventory import queries as q
    from rocks.model.inventory import Network

    q.add_network(session(ctx), Network(
        args["network"], args["subnet"], args["netmask"], mtu=args["mtu"],
        zone=args["zone"] or args["network"], servedns=args["servedns"], pxe=args["pxe"],
        gateway=args["gateway"]))
    return None


@command(positional("networks", many=True, metavar="NETWORK", help="network names"),
         examples=("rocks remove network ipmi",))
def remove_network(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove networks that no interface uses."""
    from rocks.inventory import queries as q

    s = session(ctx)
    for name in dict.fromkeys(args["networks"]):
        need_network(s, name)
        q.remove_network(s, name)
    return None


@command(positional("networks", many=True, default=(), metavar="NETWORK",
                    help="network names (none: all)"),
         tabular=True, examples=("rocks list network",))
def list_network(ctx: Context, args: dict[str, Any]) -> Result:
    """List networks: subnet, netmask, MTU, DNS zone, whether DNS and PXE are served, gateway."""
    from rocks.inventory import queries as q

    s = session(ctx)
    for name in args["networks"]:
        need_network(s, name)
    wanted = set(args["networks"])
    return Rows(
        ("network", "subnet", "netmask", "mtu", "zone", "servedns", "pxe", "gateway"),
        ((n.name, n.subnet, n.netmask, n.mtu, n.zone or None, n.servedns, n.pxe,
          n.gateway or None)
         for n in q.list_networks(s) if not wanted or n.name in wanted))


@command(
    positional("network", help="network name"),
    keyword("increment", int, default=-1,
            help="step between candidates (default -1: down from the top of the network)"),
    keyword("baseip", default="", help="start after this address (default: the network's end)"),
    examples=("rocks report nextip private", "rocks report nextip private increment=1"),
)
def report_nextip(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the next unused address of a network, counting down from its top like Rocks."""
    from rocks.inventory import queries as q

    if args["increment"] == 0:
        from rocks.errors import RocksError

        raise RocksError.of("bad-increment", "increment=0 never moves to another address",
                            hint="-1 counts down from the top, 1 up from the bottom")
    s = session(ctx)
    need_network(s, args["network"])
    return Text(q.next_ip(s, args["network"], increment=args["increment"],
                          base=args["baseip"]) + "\n")
