"""Connections the frontend accepts: slow and idle ones are closed, and there are never more
than the process can hold.

uvicorn closes an idle keep-alive connection only after it has answered a request on it, and
never times out a request whose headers trickle in; a client that opens a thousand sockets and
sends nothing used to take every descriptor (1,024 by default) and lock every node out. This
protocol, uvicorn's httptools one with three additions, is what `rocks start frontend` serves:

- a header timeout: a request's headers must be complete within `header_timeout` seconds of
  the connection opening or of the previous response (uvicorn's keep-alive timeout still closes
  a connection that sends nothing at all);
- a cap on open connections below the descriptor limit (raised to its hard limit at start);
- at the cap, a new connection takes the place of the connection that has been waiting
  longest without a request in progress, and when every connection is busy it is answered
  `503` with Retry-After and closed — a busy frontend says so instead of going silent.

It also answers two kinds of request itself, without an ASGI cycle: the node paths of `FAST`
(GET /install/kickstart), and GET/HEAD of a regular file under a tree of `FILES` (the
distribution and the boot files), whose bytes go from the file to the socket by sendfile(2)
(files.py; README, Speed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from rocks.server.access import flush as access_flush
from rocks.server.config import ServerConfig
from rocks.server.files import FileAnswer, answer, lookup

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    Answer = tuple[int, Sequence[tuple[bytes, bytes]], bytes]
    FastHandler = Callable[[dict[str, Any]], Awaitable[Answer]]

log = logging.getLogger("rocks.server")
PROTOCOL = "rocks.server.conn:GuardedProtocol"
RESERVE = 64  # descriptors kept for the database, logs, boot files, threads, the listener
INFINITE_FILES = 1 << 20


@dataclass
class Limits:
    max_connections: int = 1000
    header_timeout: float = 10.0
    retry_after: int = 2
    evicted: int = 0
    refused: int = 0


LIMITS = Limits()
# Paths answered by the protocol itself (install.py registers GET /install/kickstart): the
# request's scope goes to the handler and its answer is written in one piece, without an ASGI
# cycle, its task and its messages — the node path's cost halves (README, Speed).
FAST: dict[bytes, FastHandler] = {}


@dataclass
class FileTree:
    """A directory served under a path prefix by sendfile (app.py registers the distribution
    and the boot files). `begin(scope)` is called when a file is answered and what it returns
    is given to `end(scope, it, status, bytes_sent)` once the answer is sent or abandoned."""

    prefix: bytes  # with its trailing slash
    directory: str  # realpath'd
    begin: Callable[[dict[str, Any]], Any] | None = None
    end: Callable[[dict[str, Any], Any, int, int], None] | None = None


# Paths under these prefixes that name a regular file are answered by the protocol; anything
# else under them (missing files, directories, several ranges) goes to the ASGI app as before.
FILES: list[FileTree] = []


class FastCycle:
    """What uvicorn's protocol reads of the request in progress, for a fast-path request."""

    __slots__ = (
        "body",
        "disconnected",
        "keep_alive",
        "message_event",
        "more_body",
        "response_complete",
    )

    def __init__(self, keep_alive: bool) -> None:
        self.response_complete = False
        self.more_body = True
        self.body = b""
        self.keep_alive = keep_alive
        self.disconnected = False
        self.message_event = _NoEvent()


class _NoEvent:
    __slots__ = ()

    def set(self) -> None:
        pass


def descriptor_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = INFINITE_FILES if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY:
        return INFINITE_FILES
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def accept_burst(files: int) -> int:
    """The listen backlog, which is also how many connections asyncio accepts in one go: a
    sixteenth of the descriptors, 64 to 4,096. Accepted sockets become connections (and are
    counted) only at the next loop iteration, and connections closed to make room for new
    ones (see GuardedProtocol) give their descriptors back an iteration later still, so the
    cap leaves three bursts' worth free: with 1,024 descriptors and 1,100 clients connecting
    at once, accept() would otherwise fail with EMFILE."""
    return min(4096, max(64, files // 16))


def configure(config: ServerConfig) -> Limits:
    """Set this process's connection limits from the config (each worker calls it)."""
    files = descriptor_limit()
    cap = max(16, files - RESERVE - 3 * accept_burst(files))
    if config.max_connections:
        if config.max_connections > cap:
            log.warning("max-connections=%d is above what %d descriptors allow; using %d",
                        config.max_connections, files, cap)
        cap = min(cap, config.max_connections)
    LIMITS.max_connections = cap
    LIMITS.header_timeout = config.header_timeout
    LIMITS.retry_after = config.retry_after
    return LIMITS


def _busy_response() -> bytes:
    body = b"busy, retry later\n"
    return (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nretry-after: "
            + str(LIMITS.retry_after).encode() + b"\r\nconnection: close\r\n\r\n" + body)


class GuardedProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_since = 0.0
        self.header_timer: asyncio.TimerHandle | None = None
        self.pump: _Pump | None = None  # a sendfile waiting for room in the socket

    @property
    def waiting(self) -> bool:
        """No request in progress: between connecting (or a response) and complete headers."""
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = self.loop.time()
        if len(self.connections) > LIMITS.max_connections and not self._make_room():
            LIMITS.refused += 1
            log.warning("refused connection client=%s reason=all-%d-connections-busy",
                        self.client[0] if self.client else "-", LIMITS.max_connections)
            transport.write(_busy_response())
            transport.close()
            return
        self._arm()

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request; False if none waits."""
        victim: GuardedProtocol | None = None
        for conn in self.connections:
            if (conn is not self and isinstance(conn, GuardedProtocol) and conn.waiting
                    and not conn.transport.is_closing()
                    and (victim is None or conn.idle_since < victim.idle_since)):
                victim = conn
        if victim is None:
            return False
        LIMITS.evicted += 1
        victim.transport.close()
        victim.connections.discard(victim)  # its slot is free now, not at connection_lost
        return True

    def _arm(self) -> None:
        if self.header_timer is None and LIMITS.header_timeout > 0:
            self.header_timer = self.loop.call_later(LIMITS.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _too_slow(self) -> None:
        self.header_timer = None
        if self.waiting and not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm()
        url = self.url
        mark = url.find(b"?")
        path = url if mark < 0 else url[:mark]
        handler = FAST.get(path)
        if handler is None and FILES and self._file(path, url[mark + 1:] if mark >= 0 else b""):
            return
        if handler is None or not (self.cycle is None or self.cycle.response_complete) \
                or self.parser.should_upgrade() or self.expect_100_continue:
            super().on_headers_complete()  # pipelined, upgrades, everything else: uvicorn's
            return
        parser = self.parser
        version = parser.get_http_version()
        scope: Any = self.scope
        scope["method"] = parser.get_method().decode("ascii")
        if version != "1.1":
            scope["http_version"] = version
        scope["path"] = path.decode("ascii")
        scope["raw_path"] = path
        scope["query_string"] = b"" if mark < 0 else url[mark + 1:]
        cycle = FastCycle(version != "1.0" and parser.should_keep_alive())
        self.cycle = cycle  # type: ignore[assignment]
        task = self.loop.create_task(self._answer(cycle, handler, scope))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _answer(self, cycle: FastCycle, handler: FastHandler, scope: Any) -> None:
        try:
            status, headers, body = await handler(scope)
        except Exception:
            log.exception("internal error answering %s", scope["path"])
            status, headers, body = 500, ((b"content-type", b"text/plain; charset=utf-8"),
                                          (b"content-length", b"15")), b"internal error\n"
        out = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            out += (name, b": ", value, b"\r\n")
        for name, value in headers:
            out += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        if scope["method"] != "HEAD":
            out.append(body)
        if self.flow.write_paused and not cycle.disconnected:
            await self.flow.drain()  # as uvicorn does: a client that does not read gets no more
        if not _OUTBOX:
            self.loop.call_soon(_send_all)
        _OUTBOX.append((self, cycle, b"".join(out)))

    def _file(self, path: bytes, query: bytes) -> bool:
        """Answer a GET/HEAD of a regular file of a FileTree with sendfile; False when this
        request is not one (uvicorn and the ASGI app answer it)."""
        tree = next((t for t in FILES if path.startswith(t.prefix)), None)
        if tree is None or not (self.cycle is None or self.cycle.response_complete) \
                or self.parser.should_upgrade() or self.expect_100_continue:
            return False
        parser = self.parser
        method = parser.get_method()
        if method not in (b"GET", b"HEAD"):
            return False
        try:
            text = path.decode("ascii")
        except UnicodeDecodeError:
            return False
        if "%" in text:
            text = urllib.parse.unquote(text)
        found = lookup(tree.directory, text[len(tree.prefix):])
        if found is None:
            return False
        try:
            fh = open(found[0], "rb", buffering=0)  # noqa: SIM115 (closed by _send_file)
        except OSError:
            return False
        try:
            st = os.fstat(fh.fileno())
            reply = answer(found[0], st, self.headers, method == b"HEAD")
        except Exception:
            fh.close()
            raise
        if reply is None or reply.count == 0:
            fh.close()
            if reply is None:
                return False
        version = parser.get_http_version()
        scope: Any = self.scope
        scope["method"] = method.decode("ascii")
        if version != "1.1":
            scope["http_version"] = version
        scope["path"] = text
        scope["raw_path"] = path
        scope["query_string"] = query
        cycle = FastCycle(version != "1.0" and parser.should_keep_alive())
        self.cycle = cycle  # type: ignore[assignment]
        self._start_file(cycle, tree, scope, reply, fh if reply.count else None)
        return True

    def _start_file(self, cycle: FastCycle, tree: FileTree, scope: Any, reply: FileAnswer,
                    fh: Any) -> None:
        """Send the answer now, from the protocol: the head with os.write, then os.sendfile
        until the socket is full; the loop calls the pump's sendfile whenever the socket can
        take more (its writer stays registered until the end), and the last call finishes the
        response. No task, no future, no loop iteration between the request and the first
        bytes: asyncio's loop.sendfile (a task waiting on a future, reading paused, its writer
        removed and added at every wake) made 64 clients' 1 MiB fetches take twice nginx's
        time. When bytes are still buffered in the transport (a client that does not read),
        a task waits for them to drain and uses loop.sendfile."""
        it = tree.begin(scope) if tree.begin is not None else None
        out = [STATUS_LINE[reply.status]]
        for name, value in self.server_state.default_headers:
            out += (name, b": ", value, b"\r\n")
        for name, value in reply.headers:
            out += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive:
            out.append(b"connection: close\r\n")
        out += (b"\r\n", reply.body)
        head = b"".join(out)
        loop: Any = self.loop
        sock = self.transport.get_extra_info("socket")
        if self.flow.write_paused or self.transport.get_write_buffer_size() or sock is None \
                or not hasattr(loop, "_add_writer") or self.transport.is_closing():
            task = loop.create_task(self._send_file(cycle, tree, scope, it, reply, fh, head))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
            return
        fd = sock.fileno()
        corked = fh is not None and _cork(sock, 1)  # the head leaves with the file's bytes
        try:
            written = os.write(fd, head)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:  # reset by the client
            self._file_done(cycle, tree, scope, it, reply, fh, -1)
            return
        if written < len(head):  # not on an empty socket; the order kept all the same
            if corked:
                _cork(sock, 0)
            self.transport.write(head[written:])
            task = loop.create_task(self._send_file(cycle, tree, scope, it, reply, fh, b""))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
            return
        if fh is None:
            self._file_done(cycle, tree, scope, it, reply, fh, 0)
            return
        pump = _Pump(fd, fh.fileno(), reply.offset, reply.count)
        done = pump.step()
        if corked:
            _cork(sock, 0)
        if done:
            self._file_done(cycle, tree, scope, it, reply, fh, pump.sent)
            return

        def finish() -> None:
            if self.pump is pump:
                self.pump = None
                loop._remove_writer(fd)
            self._file_done(cycle, tree, scope, it, reply, fh, pump.sent)

        pump.finish = finish
        self.pump = pump
        loop._add_writer(fd, pump.step_and_finish)

    async def _send_file(self, cycle: FastCycle, tree: FileTree, scope: Any, it: Any,
                         reply: FileAnswer, fh: Any, head: bytes) -> None:
        """The answer through the transport, once it has drained (see _start_file)."""
        sent = 0
        try:
            if self.flow.write_paused and not cycle.disconnected:
                await self.flow.drain()
            if cycle.disconnected or self.transport.is_closing():
                sent = -1
                return
            if head:
                self.transport.write(head)
            if fh is not None:
                try:
                    sent = int(await self.loop.sendfile(self.transport, fh, reply.offset,
                                                        reply.count))
                except (OSError, RuntimeError) as exc:  # the client went away meanwhile
                    log.debug("sendfile stopped: %s", exc)
                    sent = -1
        finally:
            self._file_done(cycle, tree, scope, it, reply, fh, sent)

    def _file_done(self, cycle: FastCycle, tree: FileTree, scope: Any, it: Any,
                   reply: FileAnswer, fh: Any, sent: int) -> None:
        """`sent` file bytes went out (-1: not even the head)."""
        if fh is not None:
            fh.close()
        complete = cycle.response_complete
        cycle.response_complete = True
        if not complete:
            if sent < reply.count:  # cut short: the client must not take it as whole
                cycle.disconnected = True
                self.transport.close()
            else:
                if not cycle.keep_alive:
                    self.transport.close()
                self.on_response_complete()
        if tree.end is not None:
            tree.end(scope, it, reply.status,
                     0 if sent < 0 else len(reply.body) + sent)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        pump = self.pump
        if pump is not None:  # a sendfile waiting for room: its writer goes now, before the
            pump.finish()     # socket is closed (right after this)

    def _send(self, cycle: FastCycle, data: bytes) -> None:
        if cycle.disconnected or self.transport.is_closing():
            cycle.response_complete = True
            return
        self.transport.write(data)
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()


class _Pump:
    """One file going to a socket: `step` sends until the socket is full or the file is sent
    (True: finished, or failed). The loop calls `step_and_finish` whenever the socket can take
    more; `finish` completes the response."""

    __slots__ = ("count", "fd", "finish", "offset", "sent", "src")

    def __init__(self, fd: int, src: int, offset: int, count: int) -> None:
        self.fd, self.src, self.offset, self.count = fd, src, offset, count
        self.sent = 0
        self.finish: Callable[[], None] = _nothing

    def step(self) -> bool:
        while self.sent < self.count:
            try:
                n = os.sendfile(self.fd, self.src, self.offset + self.sent,
                                self.count - self.sent)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:  # reset by the client
                log.debug("sendfile stopped: %s", exc)
                return True
            if n == 0:  # the file is shorter than it was
                return True
            self.sent += n
        return True

    def step_and_finish(self) -> None:
        if self.step():
            self.finish()


def _nothing() -> None:
    pass


def _cork(sock: Any, on: int) -> bool:
    """TCP_CORK on or off (off sends what it held); False where it cannot be set."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, on)
    except (OSError, AttributeError):
        return False
    return True


# Fast-path answers of one loop iteration: their access-log lines are written in one piece,
# then each response (a line is on disk before the client can read its response).
_OUTBOX: list[tuple[GuardedProtocol, FastCycle, bytes]] = []


def _send_all() -> None:
    batch = _OUTBOX[:]
    _OUTBOX.clear()
    access_flush()
    for proto, cycle, data in batch:
        proto._send(cycle, data)
