"""Write the sync tree for the state in ROCKS_STATE through the sync library (the same calls a
`rocks sync config` makes), boot loaders copied from this machine.

    python -m tests.integration.sync_now [--dhcp-interface IFACE]

Kea listens only on the interfaces its configuration names and the inventory has no attribute
for them yet, so the test passes its bridge here. Prints each problem on stderr; exit 1 if any.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path


def main() -> int:
    from rocks.commands._inventory import database_url_from
    from rocks.commands._sync import sync_input
    from rocks.inventory import open_inventory
    from rocks.profiles import ClusterSource
    from rocks.sync.apply import apply, disk_reader
    from rocks.sync.plan import plan

    parser = argparse.ArgumentParser()
    parser.add_argument("--dhcp-interface", action="append", default=[])
    args = parser.parse_args()
    state = Path(os.environ["ROCKS_STATE"])
    root = Path(os.environ.get("ROCKS_SYNC_ROOT") or state / "root")
    inv = open_inventory(database_url_from(dict(os.environ)))
    try:
        with inv.transaction() as s:
            inp = sync_input(s, ClusterSource(state))
    finally:
        inv.close()
    if args.dhcp_interface:
        inp = dataclasses.replace(inp, dhcp_interfaces=tuple(args.dhcp_interface))
    result = plan(inp, previous=disk_reader(root), sysroot=Path("/"))
    for problem in result.problems:
        print(f"sync: {problem.message} ({problem.hint})", file=sys.stderr)
    apply(result, root)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
