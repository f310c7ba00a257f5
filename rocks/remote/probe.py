"""Is sshd answering? A parallel probe of many (address, port) pairs.

A node is up when its SSH server sends its identification line (`SSH-2.0-…`, RFC 4253 §4.2)
within `timeout`: a TCP connect alone is not enough (a hung sshd, a port forwarder or another
service accepts connections too). Refused, unreachable, silent or anything but an SSH banner
means down. At most `parallel` probes are in flight, so a thousand nodes take about
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
    # up: the banner ("SSH-2.0-OpenSSH_9.2p1"); down: "refused", "timeout",
    # "unreachable: …", "no SSH banner" (connected, silent) or "not SSH: …"
    detail: str = ""


BANNER_MAX = 8192  # RFC 4253: other lines may come first; the version line is < 256 bytes


async def _banner(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> str:
    """The first line starting with SSH-, or the first bytes if the peer speaks otherwise."""
    data = b""
    while len(data) < BANNER_MAX:
        chunk = await loop.sock_recv(sock, 1024)
        if not chunk:
            break
        data += chunk
        lines = data.split(b"\n")
        for line in lines[:-1]:
            if line.startswith(b"SSH-"):
                return line.rstrip(b"\r").decode("ascii", "replace")
        if not data.startswith(b"SSH-"[: len(data)]) and b"\n" not in data and len(data) > 3:
            break  # neither a banner nor a pre-banner text line: some other service
    raise ValueError(data[:40].decode("ascii", "replace").strip() or "closed")


async def _probe(endpoint: Endpoint, timeout: float, gate: asyncio.Semaphore) -> ProbeResult:
    address, port = endpoint
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    async with gate:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
            banner = await asyncio.wait_for(_banner(loop, sock),
                                            max(0.001, deadline - loop.time()))
        except TimeoutError:
            connected = _connected(sock)
            return ProbeResult(address, port, False, "no SSH banner" if connected else "timeout")
        except ValueError as exc:
            return ProbeResult(address, port, False, f"not SSH: {exc}")
        except ConnectionRefusedError:
            return ProbeResult(address, port, False, "refused")
        except OSError as exc:
            return ProbeResult(address, port, False, f"unreachable: {exc.strerror or exc}")
        finally:
            sock.close()
    return ProbeResult(address, port, True, banner)


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


async def probe_all(
    endpoints: Iterable[Endpoint], timeout: float = 2.0, parallel: int = 512,
) -> dict[Endpoint, ProbeResult]:
    unique = list(dict.fromkeys(endpoints))
    gate = asyncio.Semaphore(max(1, parallel))
    results = await asyncio.gather(*(_probe(e, timeout, gate) for e in unique))
    return {(r.address, r.port): r for r in results}


def probe(
    endpoints: Iterable[Endpoint], timeout: float = 2.0, parallel: int = 512,
) -> dict[Endpoint, ProbeResult]:
    """Probe every endpoint (duplicates once); synchronous wrapper around `probe_all`."""
    items = list(endpoints)
    if not items:
        return {}
    return asyncio.run(probe_all(items, timeout, parallel))
