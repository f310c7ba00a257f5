"""Boot action commands: the named kernel, initrd and arguments a host PXE-boots with."""

from __future__ import annotations

from typing import Any

from rocks.commands import Context, Result, Rows, command, keyword, positional
from rocks.commands._inventory import session
from rocks.commands._lookup import need_bootaction


@command(
    positional("action", help="boot action name"),
    keyword("kernel", help="kernel file (or localboot)"),
    keyword("initrd", default="", help="initrd file"),
    keyword("args", default="", help="kernel command line"),
    examples=('rocks add bootaction rescue kernel=vmlinuz initrd=initrd.img '
              'args="inst.rescue ip=dhcp"',),
)
def add_bootaction(ctx: Context, args: dict[str, Any]) -> Result:
    """Add a boot action."""
    from rocks.inventory import queries as q
    from rocks.model.inventory import BootAction

    q.add_bootaction(session(ctx),
                     BootAction(args["action"], args["kernel"], args["initrd"], args["args"]))
    return None


@command(positional("actions", many=True, metavar="ACTION", help="boot action names"),
         examples=("rocks remove bootaction rescue",))
def remove_bootaction(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove boot actions that no host uses."""
    from rocks.errors import RocksError
    from rocks.inventory import queries as q
    from rocks.inventory.names import bootaction_users

    s = session(ctx)
    for name in dict.fromkeys(args["actions"]):
        need_bootaction(s, name)
        used = bootaction_users(s, name)
        if used:
            raise RocksError.of(
                "bootaction-in-use", f'boot action "{name}" is used by {used} host(s)',
                hint="set those hosts' installaction/runaction to another action first")
        q.remove_bootaction(s, name)
    return None


@command(positional("actions", many=True, default=(), metavar="ACTION",
                    help="boot action names (none: all)"),
         tabular=True, examples=("rocks list bootaction",))
def list_bootaction(ctx: Context, args: dict[str, Any]) -> Result:
    """List boot actions: kernel, initrd and kernel arguments."""
    from rocks.inventory import queries as q

    s = session(ctx)
    for name in args["actions"]:
        need_bootaction(s, name)
    wanted = set(args["actions"])
    return Rows(("action", "kernel", "initrd", "args"),
                ((b.name, b.kernel, b.initrd or None, b.args or None)
                 for b in q.list_bootactions(s) if not wanted or b.name in wanted))
