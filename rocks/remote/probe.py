"""Is anything listening? A parallel TCP connect probe of many (address, port) pairs.

A connection that completes within `timeout` means up (with `expect`, only once the server's
first bytes start with it, e.g. an SSH banner); refused, unreachable or silent means down.
At most `parallel` connects are in flight, so a thousand nodes take about
ceil(1000 / parallel) × timeout in the worst case and far less when nodes answer or refuse.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass

Endpoint = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    address: str
    port: int
    up: bool
    detail: str = ""  # "refused", "timeout", "unreachable: …" when down


async def _probe(endpoint: Endpoint, timeout: float, gate: asyncio.Semaphore,
                 expect: bytes | None = None) -> ProbeResult:
    address, port = endpoint
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    async with gate:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
            if expect is not None:
                left = max(0.05, timeout - (loop.time() - t0))
                first = await asyncio.wait_for(loop.sock_recv(sock, 256), left)
                if not first.startswith(expect):
                    return ProbeResult(address, port, False,
                                       f"no {expect.decode(errors='replace')} banner")
        except TimeoutError:
            return ProbeResult(address, port, False, "timeout")
        except ConnectionRefusedError:
            return ProbeResult(address, port, False, "refused")
        except OSError as exc:
            return ProbeResult(address, port, False, f"unreachable: {exc.strerror or exc}")
        finally:
            sock.close()
    return ProbeResult(address, port, True)


async def probe_all(
    endpoints: Iterable[Endpoint], timeout: float = 2.0, parallel: int = 512,
    expect: bytes | None = None,
) -> dict[Endpoint, ProbeResult]:
    unique = list(dict.fromkeys(endpoints))
    gate = asyncio.Semaphore(max(1, parallel))
    results = await asyncio.gather(*(_probe(e, timeout, gate, expect) for e in unique))
    return {(r.address, r.port): r for r in results}


def probe(
    endpoints: Iterable[Endpoint], timeout: float = 2.0, parallel: int = 512,
    expect: bytes | None = None,
) -> dict[Endpoint, ProbeResult]:
    """Probe every endpoint (duplicates once); synchronous wrapper around `probe_all`."""
    items = list(endpoints)
    if not items:
        return {}
    return asyncio.run(probe_all(items, timeout, parallel, expect))
