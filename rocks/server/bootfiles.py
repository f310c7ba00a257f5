"""Rewriting a host's network-boot files after its install finished (Rocks' setPxeboot.cgi).

The `finished` event turns the host's boot action to os in the database; the TFTP tree must
follow, or the next power-on would start the installer again with a spent token. The host's
recorded SSH host key is forgotten too: the installed system made a new one, which `rocks run
host … hostkey=learn` records. The work (reading the inventory, planning, writing) runs on its
own thread, never on the event loop, and coalesces hosts that finish together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from rocks.inventory import Inventory

log = logging.getLogger("rocks.server")


class BootFileWriter:
    def __init__(self, inventory: Inventory, root: Path, state: Path | None = None,
                 known_hosts: Path | None = None) -> None:
        from rocks.profiles import ClusterSource

        self.inventory = inventory
        self.root = root
        self.source = ClusterSource(state) if state is not None else None
        self.known_hosts = known_hosts
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.writes = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rocks-bootfiles", daemon=True)
        self._thread.start()

    def submit(self, hosts: Iterable[str]) -> None:
        with self._cond:
            self._pending.update(hosts)
            self._cond.notify()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if not self._pending and self._stop:
                    return
                hosts = sorted(self._pending)
                self._pending.clear()
            try:
                self.write(hosts)
            except Exception:  # the next finish or `rocks sync config` will catch up
                log.exception("rewriting boot files failed hosts=%s", ",".join(hosts))

    def write(self, hosts: list[str]) -> None:
        from rocks.siteconfig import sync_input
        from rocks.sync.apply import apply, disk_reader
        from rocks.sync.plan import plan_hosts

        with self.inventory.transaction(readonly=True) as s:
            inp = sync_input(s, self.source)
        result = apply(plan_hosts(inp, hosts, previous=disk_reader(self.root)), self.root)
        if self.known_hosts is not None:
            from rocks.remote.ssh import forget_host_keys

            forget_host_keys(self.known_hosts, hosts)
        self.writes += 1
        log.info("boot files hosts=%s changed=%d removed=%d", ",".join(hosts),
                 len(result.changed), len(result.removed))
