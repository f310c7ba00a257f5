"""The node-facing hot paths as raw ASGI: GET /install/kickstart and POST /install/events.

No framework routing, no per-request SQL: identity and tokens come from the snapshot, bodies
and headers were encoded when the kickstart was rendered. Every refusal is one structured log
line and a short reason; nothing of a kickstart or an attribute is in an error body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from rocks.server.access import access
from rocks.server.access import flush as access_flush
from rocks.server.core import Frontend
from rocks.server.identity import (
    Refusal,
    client_address,
    identify,
    provisioning_macs,
    refused,
)
from rocks.server.index import HostEntry
from rocks.server.status import STAGES, printable
from rocks.server.writer import Outcome, Pending

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Answer = tuple[int, Sequence[tuple[bytes, bytes]], bytes]  # status, headers, body

log = logging.getLogger("rocks.server")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


def text_answer(status: int, text: str, extra: tuple[tuple[bytes, bytes], ...] = ()
                ) -> Answer:
    body = (text + "\n").encode()
    return status, (_TEXT, (b"content-length", str(len(body)).encode()), *extra), body


async def respond(send: Send, status: int, text: str,
                  extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    status, headers, body = text_answer(status, text, extra)
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


def refuse_log(path: str, address: str, r: Refusal, *, deferred: bool = False) -> None:
    access(path, r.status, address, r.reason, deferred=deferred, **r.fields)


def query_token(scope: Scope) -> str:
    """`?token=` of the request ("" if absent; a token is URL-safe ASCII, anything else is a
    token that matches nothing)."""
    qs: bytes = scope.get("query_string", b"")
    if not qs:
        return ""
    return parse_qs(qs.decode("latin-1")).get("token", [""])[0]


async def check_token(frontend: Frontend, entry: HostEntry, token: str) -> None:
    """The host must be installing, and `token` its current token — in the snapshot and then
    in the database (the authority: another worker may have spent it a moment ago)."""
    if not entry.installing:
        raise refused("host is not set to install", host=entry.name)
    if not entry.token:
        raise refused("no install token was issued", host=entry.name)
    if not token or not token.isascii() or not secrets.compare_digest(
            token.encode(), entry.token.encode()):
        raise refused("missing or invalid token", host=entry.name)
    if not await frontend.ledger.current(entry.id, token):
        raise refused("the token is spent or replaced", host=entry.name)


class InstallApp:
    """ASGI handlers for the node endpoints (mounted ahead of the FastAPI app)."""

    def __init__(self, frontend: Frontend) -> None:
        self.frontend = frontend
        self.busy = ((b"retry-after", str(frontend.config.retry_after).encode()),)

    def address(self, scope: Scope) -> str:
        return client_address(scope, self.frontend.proxies)

    async def kickstart(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET /install/kickstart through ASGI (conn.py answers most requests itself, with
        `kickstart_answer`, before any ASGI cycle is made)."""
        status, headers, body = await self.kickstart_answer(scope)
        access_flush()  # its line before the response
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})

    async def kickstart_answer(self, scope: Scope) -> Answer:
        fe = self.frontend
        if scope["method"] not in ("GET", "HEAD"):
            return text_answer(405, "method not allowed", ((b"allow", b"GET, HEAD"),))
        address = self.address(scope)
        if fe.inflight >= fe.config.max_inflight:
            access("/install/kickstart", 503, address, "busy", deferred=True)
            return text_answer(503, "busy, retry later", self.busy)
        fe.inflight += 1
        try:
            return await self._kickstart(scope, address)
        except Refusal as r:
            refuse_log("/install/kickstart", address, r, deferred=True)
            return text_answer(r.status, r.text)
        finally:
            fe.inflight -= 1

    async def _kickstart(self, scope: Scope, address: str) -> Answer:
        fe = self.frontend
        token = query_token(scope)
        entry = identify(fe.snapshot, address, provisioning_macs(scope), token,
                         routed=fe.config.routed_nodes)
        await check_token(fe, entry, token)
        ks = await fe.kickstart(entry)
        if ks.error:
            raise Refusal(500, "the kickstart could not be compiled (see the host's events)",
                          host=entry.name)
        for name, value in scope["headers"]:
            if name == b"if-none-match" and value == ks.etag:
                access("/install/kickstart", 304, address, host=entry.name, deferred=True)
                return 304, ((b"etag", ks.etag),), b""
        head = scope["method"] == "HEAD"
        access("/install/kickstart", 200, address, host=entry.name,
               bytes=0 if head else len(ks.body), deferred=True)
        fe.record(entry, "fetched-kickstart", f"{len(ks.body)} bytes", address)
        return 200, ks.headers, ks.body

    async def ipxe(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET /boot/ipxe?mac=…: the requesting host's iPXE script (boot.py)."""
        from rocks.server.boot import ipxe_answer

        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, "method not allowed", ((b"allow", b"GET, HEAD"),))
            return
        address = self.address(scope)
        try:
            status, text = ipxe_answer(self.frontend, scope, address)
        except Refusal as r:
            refuse_log("/boot/ipxe", address, r)
            await respond(send, r.status, r.text)
            return
        body = text.encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            _TEXT, (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})
        access("/boot/ipxe", status, address, bytes=len(body))

    async def state(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET /install/state?token=…: a stateless node's own state (nodestate.py)."""
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, "method not allowed", ((b"allow", b"GET, HEAD"),))
            return
        address = self.address(scope)
        try:
            entry, body = await self._state(scope, address)
        except Refusal as r:
            refuse_log("/install/state", address, r)
            await respond(send, r.status, r.text)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/x-tar"),
            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})
        access("/install/state", 200, address, host=entry.name, bytes=len(body))

    async def _state(self, scope: Scope, address: str) -> tuple[HostEntry, bytes]:
        fe = self.frontend
        token = query_token(scope)
        entry = identify(fe.snapshot, address, provisioning_macs(scope), token,
                         routed=fe.config.routed_nodes)
        if not entry.stateless:
            raise refused("host is not set to stateless", host=entry.name)
        if not entry.token or not token or not token.isascii() or not secrets.compare_digest(
                token.encode(), entry.token.encode()):
            raise refused("missing or invalid token", host=entry.name)
        if not await fe.ledger.current(entry.id, token):
            raise refused("the token is spent or replaced", host=entry.name)
        body = await asyncio.get_running_loop().run_in_executor(
            fe.compile_pool, fe.node_state, entry)
        if body is None:
            raise Refusal(503, "the host's state could not be read, retry", host=entry.name)
        return entry, body

    async def events(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await respond(send, 405, "method not allowed", ((b"allow", b"POST"),))
            return
        address = self.address(scope)
        try:
            status, text, host, stage = await self._event(scope, receive, address)
        except Refusal as r:
            refuse_log("/install/events", address, r)
            extra = self.busy if r.status == 503 else ()
            await respond(send, r.status, r.text, extra)
            return
        await respond(send, status, text)
        access("/install/events", status, address, host=host, stage=stage)

    async def _event(self, scope: Scope, receive: Receive, address: str
                     ) -> tuple[int, str, str, str]:
        fe = self.frontend
        body = await read_body(scope, receive, fe.config.max_event_body, fe.config.body_timeout)
        fields = parse_event(body, header(scope, b"content-type"))
        token, stage = fields.get("token", ""), fields.get("stage", "")
        message = printable(fields.get("message", ""))
        if not stage or (not token and stage != "up"):
            raise Refusal(422, "stage and token are required")
        if stage not in STAGES:
            raise Refusal(422, "unknown stage", stage=printable(stage[:40]))
        if stage == "up":
            return await self._up(scope, address, message)
        entry = identify(fe.snapshot, address, provisioning_macs(scope), token,
                         routed=fe.config.routed_nodes, mac_required_when_routed=False)
        await check_token(fe, entry, token)
        profile = None
        if stage == "finished":
            ks = await fe.kickstart(entry)
            profile = ks.text if not ks.error else None
        # what a node sends is stored with its secrets and token masked (a failed install's
        # log tail may quote them), and shown escaped
        event = Pending(entry.name, stage, entry.redact(message), address, datetime.now(UTC),
                        token, profile)
        await self._store(event)
        return 200, "ok", entry.name, stage

    async def _up(self, scope: Scope, address: str, message: str) -> tuple[int, str, str, str]:
        """An installed system reporting that it booted (a heartbeat): known by its source
        address alone (MAC headers, when sent, must agree); refused while the host is set to
        install — its installer reports then, not its old system."""
        fe = self.frontend
        entry = identify(fe.snapshot, address, provisioning_macs(scope))
        if entry.installing:
            raise Refusal(409, "host is set to install", host=entry.name)
        await self._store(Pending(entry.name, "up", entry.redact(message), address,
                                  datetime.now(UTC)))
        return 200, "ok", entry.name, "up"

    async def _store(self, event: Pending) -> None:
        future = self.frontend.writer.submit(event)
        assert future is not None
        outcome = await future
        if outcome is Outcome.OK:
            return
        if outcome is Outcome.REFUSED:  # spent in the same moment (here or in another worker)
            raise refused("the token was spent before this event was stored", host=event.host)
        raise Refusal(503, "event not stored, retry", host=event.host)

    async def distro(self, scope: Scope, receive: Receive, send: Send,
                     files: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        """GET /install/distro/…: served by `files` (the static files app); a fetch by an
        installing node counts towards its progress; one access line either way."""
        address = self.address(scope)
        host = self.distro_fetch(scope, address)
        status = 0
        size = 0

        async def counting(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await files(scope, receive, counting)
        finally:
            access(scope["path"], status or 500, address, host=host or None, bytes=size)

    def distro_begin(self, scope: Scope) -> tuple[str, str]:
        """A file of the distribution answered by the connection protocol (conn.FileTree):
        counted as `distro` counts it; returns what `distro_end` logs."""
        address = self.address(scope)
        return address, self.distro_fetch(scope, address)

    def distro_end(self, scope: Scope, it: tuple[str, str] | None, status: int,
                   size: int) -> None:
        address, host = it or (self.address(scope), "")
        access(scope["path"], status, address, host=host or None, bytes=size)

    def distro_fetch(self, scope: Scope, address: str) -> str:
        """A package fetch of an installing node: its progress (core.Frontend.fetched).
        Returns the host's name ("" for anyone else)."""
        fe = self.frontend
        entry = fe.snapshot.by_ip.get(address)
        if entry is None:
            return ""
        if entry.installing and entry.token:
            fe.fetched(entry, scope["path"], address,
                       ranged=any(k == b"range" for k, _ in scope["headers"]))
        return entry.name


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def read_body(scope: Scope, receive: Receive, cap: int, timeout: float = 10.0) -> bytes:
    """The request body, at most `cap` bytes, all of it within `timeout` seconds."""
    try:
        return await asyncio.wait_for(_read_body(scope, receive, cap), timeout)
    except TimeoutError:
        raise Refusal(408, "body too slow") from None


async def _read_body(scope: Scope, receive: Receive, cap: int) -> bytes:
    length = header(scope, b"content-length")
    if length:
        if not length.isdigit():
            raise Refusal(400, "bad content-length")
        if int(length) > cap:
            raise Refusal(413, "body too large", length=length[:20])
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refusal(400, "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise Refusal(413, "body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_event(body: bytes, content_type: str) -> dict[str, str]:
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "body is not UTF-8") from None
    if kind == "application/json":
        if _depth(text) > 1:  # an object of strings nests once; never recurse into more
            raise Refusal(400, "body is not a flat JSON object")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise Refusal(400, "body is not JSON") from None
        if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise Refusal(422, "body must be a JSON object of strings")
        return data
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                              max_num_fields=16)
        except ValueError:
            raise Refusal(400, "body is not form-encoded") from None
        fields: dict[str, str] = {}
        for k, v in pairs:
            if k in fields:
                raise Refusal(422, "a field is given twice", field=k[:40])
            fields[k] = v
        return fields
    raise Refusal(415, "send application/x-www-form-urlencoded or application/json")
