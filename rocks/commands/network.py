"""Network commands: add, set, remove and list networks (Rocks' subnets); the next free
address."""

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
    keyword("zone", default="",
            help='DNS zone (default: "local" for the network private, else the network\'s name)'),
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
        zone=args["zone"], servedns=args["servedns"], pxe=args["pxe"],
        gateway=args["gateway"]))
    return None


@command(
    positional("network", help="network name (rocks list network)"),
    keyword("subnet", default=None, help="new network address; every address on it must fit"),
    keyword("netmask", default=None, help="new mask; every address on the network must fit"),
    keyword("zone", default=None, help="DNS zone (the kickstart's DNS domain on the private "
                                       "network, DHCP's domain-name, /etc/hosts names)"),
    keyword("mtu", int, default=None, help="MTU"),
    keyword("gateway", default=None, help="default gateway inside the network (empty: none, "
                                          "the frontend routes for the private network)"),
    keyword("servedns", bool, default=None, help="the frontend serves DNS for the zone"),
    keyword("pxe", bool, default=None, help="hosts PXE-boot (DHCP) on this network"),
    examples=("rocks set network private subnet=192.168.10.0 netmask=255.255.255.0",
              "rocks set network private zone=cluster.example.org servedns=yes",
              "rocks set network ipmi mtu=9000 gateway="),
)
def set_network(ctx: Context, args: dict[str, Any]) -> Result:
    """Change a network, as Rocks' `set network subnet|netmask|zone|mtu|servedns` did.

    A new subnet or netmask is checked against every interface on the network: an address
    that would fall outside it (or become its network or broadcast address) is an error
    naming the host and interface, and nothing changes. The Kickstart_Private*/Public*
    attributes derived from the network follow at once (rocks list host attr shows them as
    N); run `rocks sync config` to rewrite DHCP, DNS and /etc/hosts.
    """
    from rocks.errors import RocksError
    from rocks.inventory import queries as q

    s = session(ctx)
    need_network(s, args["network"])
    fields = ("subnet", "netmask", "zone", "mtu", "gateway", "servedns", "pxe")
    change = {k: args[k] for k in fields if args[k] is not None}
    if not change:
        raise RocksError.of("nothing-to-set", f"network {args['network']}: nothing to change",
                            hint="give one or more of " + "= ".join(fields) + "=")
    q.update_network(s, args["network"], **change)
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
