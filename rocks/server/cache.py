"""A cache bounded by bytes: rendered kickstarts and iPXE scripts, least recently used first out.

The frontend renders a host's kickstart when the host asks for it (a few hundredths of a
millisecond from the compile cache), so nothing has to be rendered ahead and the memory the
rendered bytes take does not grow with the cluster: it is at most the cache's bound.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByteLru(Generic[K, V]):
    """At most `limit` bytes of values (as `size` counts them); the least recently used value
    goes first. A value larger than the whole bound is not kept."""

    def __init__(self, limit: int, size: Callable[[V], int]) -> None:
        self.limit = max(0, limit)
        self._size = size
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return found[0]

    def peek(self, key: K) -> V | None:
        """The value without counting a hit or touching its place."""
        found = self._items.get(key)
        return None if found is None else found[0]

    def put(self, key: K, value: V) -> None:
        self.pop(key)
        size = self._size(value)
        if size > self.limit:
            return
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > self.limit:
            _, (_, dropped) = self._items.popitem(last=False)
            self.bytes -= dropped
            self.evictions += 1

    def pop(self, key: K) -> V | None:
        found = self._items.pop(key, None)
        if found is None:
            return None
        self.bytes -= found[1]
        return found[0]

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


# glibc's malloc: large buffers always mapped (returned whole when freed, instead of the
# threshold rising after each free until snapshot-sized arrays fragment the heap), two arenas
# for all threads, free heap returned above 128 KiB.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_LIBC: Any = None


def _libc() -> Any:
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
            _LIBC = lib if lib is not None and hasattr(lib, "mallopt") else False
        except OSError:
            _LIBC = False
    return _LIBC


def tune_malloc() -> None:
    """Call before the threads start (each server process does, in create_app)."""
    libc = _libc()
    if libc:
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
        libc.mallopt(_M_ARENA_MAX, 2)


def give_back() -> None:
    """Return the heap's free pages to the system (after a snapshot build: a new snapshot
    is built beside the old one, which is then freed)."""
    libc = _libc()
    if libc and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
