"""PostgreSQL notifications: what a frontend's snapshot, board and distribution follow.

Triggers (migration 0005) notify `rocks_inventory` after any statement on the tables a
snapshot is built from, `rocks_events` after install events and probes, `rocks_frontends` and
`rocks_distro` after the registry and the distribution change. A `Listener` holds one
connection of its own in LISTEN on a thread, so a frontend learns of a change made by any
process — another frontend, the CLI, the API — at once, without reading a table to find out.

If the connection drops, the listener reconnects; until it listens again (and once right
after, for what it may have missed) every channel counts as notified, so the frontend falls
back to reading what it follows rather than missing a change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("rocks.server")
CHANNELS = ("rocks_inventory", "rocks_events", "rocks_frontends", "rocks_distro")
RETRY = 1.0  # seconds between reconnection attempts


class Listener:
    """LISTEN on CHANNELS on a thread; `take()` says which were notified since the last call.
    `wake` (if given) is called from the listener's thread after each notification."""

    def __init__(self, url: str, wake: Callable[[], None] | None = None) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.wake = wake
        self._lock = threading.Lock()
        self._pending: set[str] = set(CHANNELS)  # nothing is known before the first listen
        self._stop = threading.Event()
        self.listening = threading.Event()
        self.received = 0
        self._thread = threading.Thread(target=self._run, name="rocks-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # notifies() returns within its timeout
        self._thread.join(timeout=5)

    def take(self) -> set[str]:
        """The channels notified since the last call (all of them while not listening)."""
        with self._lock:
            out = self._pending
            self._pending = set() if self.listening.is_set() else set(CHANNELS)
        return out

    def _note(self, channels: set[str]) -> None:
        with self._lock:
            self._pending |= channels
        if self.wake is not None:
            self.wake()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    for channel in CHANNELS:
                        conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    self._note(set(CHANNELS))  # whatever happened while not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.received += 1
                            self._note({note.channel})
            except Exception as exc:  # a dropped connection: listen again
                if not self._stop.is_set():
                    log.warning("notifications lost (%s); listening again", type(exc).__name__)
            finally:
                self.listening.clear()
                self._note(set(CHANNELS))
            if not self._stop.is_set():
                time.sleep(RETRY)
