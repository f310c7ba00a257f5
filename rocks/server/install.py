"""The node-facing hot paths as raw ASGI: GET /install/kickstart and POST /install/events.

No framework routing, no per-request SQL: identity and tokens come from the snapshot, bodies
and headers were encoded when the kickstart was rendered. Every refusal is one structured log
line and a short reason; nothing of a kickstart or an attribute is in an error body.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from rocks.server.core import Frontend
from rocks.server.index import HostEntry
from rocks.server.status import STAGES
from rocks.server.writer import Outcome, Pending

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("rocks.server")
MAC_HEADER = b"x-rhn-provisioning-mac-"
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class Refusal(Exception):
    def __init__(self, status: int, reason: str, **fields: object) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.fields = fields


async def respond(send: Send, status: int, text: str,
                  extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [_TEXT, (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def refuse_log(path: str, scope: Scope, r: Refusal) -> None:
    fields = " ".join(f"{k}={v}" for k, v in r.fields.items())
    log.warning("refused path=%s status=%d reason=%s client=%s %s", path, r.status,
                r.reason.replace(" ", "-"), client_ip(scope), fields)


def provisioning_macs(scope: Scope) -> list[str]:
    """MACs from `X-RHN-Provisioning-MAC-<n>: <dev> <mac>` headers, lower case."""
    macs = []
    for name, value in scope["headers"]:
        if name.startswith(MAC_HEADER):
            parts = value.decode("latin-1").split()
            if parts:
                macs.append(parts[-1].lower())
    return macs


def identify(frontend: Frontend, scope: Scope) -> HostEntry:
    snap = frontend.snapshot
    src = client_ip(scope)
    by_ip = snap.by_ip.get(src)
    macs = provisioning_macs(scope)
    by_mac = {snap.by_mac[m].name: snap.by_mac[m] for m in macs if m in snap.by_mac}
    if len(by_mac) > 1:
        raise Refusal(403, "MAC headers name different hosts", hosts=",".join(sorted(by_mac)))
    mac_host = next(iter(by_mac.values()), None)
    if by_ip is not None and mac_host is not None and by_ip.name != mac_host.name:
        raise Refusal(403, "source address and MAC name different hosts",
                      ip_host=by_ip.name, mac_host=mac_host.name)
    entry = by_ip or mac_host
    if entry is None:
        raise Refusal(404, "unknown host", macs=",".join(macs) or "-")
    return entry


def check_token(frontend: Frontend, entry: HostEntry, token: str) -> None:
    if not entry.installing:
        raise Refusal(403, "host is not set to install", host=entry.name)
    if not entry.token:
        raise Refusal(403, "no install token was issued", host=entry.name)
    if not token or not secrets.compare_digest(token, entry.token) or token in frontend.spent:
        raise Refusal(403, "missing or invalid token", host=entry.name)


class InstallApp:
    """ASGI handlers for the two node endpoints (mounted ahead of the FastAPI app)."""

    def __init__(self, frontend: Frontend) -> None:
        self.frontend = frontend
        self.busy = ((b"retry-after", str(frontend.config.retry_after).encode()),)

    async def kickstart(self, scope: Scope, receive: Receive, send: Send) -> None:
        fe = self.frontend
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, "method not allowed", ((b"allow", b"GET, HEAD"),))
            return
        if fe.inflight >= fe.config.max_inflight:
            log.warning("refused path=/install/kickstart status=503 reason=busy client=%s",
                        client_ip(scope))
            await respond(send, 503, "busy, retry later", self.busy)
            return
        fe.inflight += 1
        try:
            await self._kickstart(scope, send)
        except Refusal as r:
            refuse_log("/install/kickstart", scope, r)
            await respond(send, r.status, r.reason)
        finally:
            fe.inflight -= 1

    async def _kickstart(self, scope: Scope, send: Send) -> None:
        fe = self.frontend
        entry = identify(fe, scope)
        qs: bytes = scope.get("query_string", b"")
        token = ""
        if qs:
            token = parse_qs(qs.decode("latin-1")).get("token", [""])[0]
        check_token(fe, entry, token)
        ks = await fe.kickstart(entry)
        if ks.error:
            raise Refusal(500, "the kickstart could not be compiled (see the host's events)",
                          host=entry.name)
        for name, value in scope["headers"]:
            if name == b"if-none-match" and value == ks.etag:
                await send({"type": "http.response.start", "status": 304,
                            "headers": [(b"etag", ks.etag)]})
                await send({"type": "http.response.body", "body": b""})
                return
        await send({"type": "http.response.start", "status": 200, "headers": ks.headers})
        body = b"" if scope["method"] == "HEAD" else ks.body
        await send({"type": "http.response.body", "body": body})
        fe.record(entry, "fetched-kickstart", f"{len(ks.body)} bytes", client_ip(scope))

    async def events(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await respond(send, 405, "method not allowed", ((b"allow", b"POST"),))
            return
        try:
            status, text = await self._event(scope, receive)
        except Refusal as r:
            refuse_log("/install/events", scope, r)
            extra = self.busy if r.status == 503 else ()
            await respond(send, r.status, r.reason, extra)
            return
        await respond(send, status, text)

    async def _event(self, scope: Scope, receive: Receive) -> tuple[int, str]:
        fe = self.frontend
        fields = parse_event(await read_body(scope, receive, fe.config.max_event_body),
                             header(scope, b"content-type"))
        token, stage = fields.get("token", ""), fields.get("stage", "")
        message = fields.get("message", "")
        if not stage or (not token and stage != "up"):
            raise Refusal(422, "stage and token are required")
        if stage not in STAGES:
            raise Refusal(422, "unknown stage", stage=stage[:40])
        if stage == "up":
            return await self._up(scope, message)
        entry = fe.snapshot.by_token.get(token)
        if entry is None:
            raise Refusal(403, "missing or invalid token")
        src = client_ip(scope)
        other = fe.snapshot.by_ip.get(src)
        if other is not None and other.name != entry.name:
            raise Refusal(403, "token belongs to another host", host=other.name)
        check_token(fe, entry, token)
        profile = None
        if stage == "finished":
            fe.spent.add(token)  # from now on this token opens nothing
            ks = await fe.kickstart(entry)
            profile = ks.text if not ks.error else None
        event = Pending(entry.name, stage, message, src, datetime.now(UTC), token, profile)
        future = fe.writer.submit(event)
        assert future is not None
        outcome = await future
        if outcome is Outcome.OK:
            return 200, "ok"
        if stage == "finished" and outcome is Outcome.ERROR:
            fe.spent.discard(token)  # not stored: the node may try again
        if outcome is Outcome.REFUSED:
            raise Refusal(403, "missing or invalid token", host=entry.name)
        raise Refusal(503, "event not stored, retry", host=entry.name)

    async def _up(self, scope: Scope, message: str) -> tuple[int, str]:
        """An installed system reporting that it booted: known by its source address (MAC
        headers, when sent, must agree); refused while the host is set to install, whose
        installer, not its old system, reports."""
        fe = self.frontend
        entry = identify(fe, scope)
        if entry.installing:
            raise Refusal(409, "host is set to install", host=entry.name)
        src = client_ip(scope)
        event = Pending(entry.name, "up", message, src, datetime.now(UTC))
        future = fe.writer.submit(event)
        assert future is not None
        if await future is Outcome.OK:
            return 200, "ok"
        raise Refusal(503, "event not stored, retry", host=entry.name)

    def distro_fetch(self, scope: Scope) -> None:
        """A host that is installing and fetches packages has reached the packages stage."""
        fe = self.frontend
        entry = fe.snapshot.by_ip.get(client_ip(scope))
        if entry is None or not entry.installing or not entry.token:
            return
        key = (entry.name, entry.token)
        if key in fe.inferred:
            return
        last = fe.board.get(entry.name)
        if last is not None and last.stage in ("fetched-kickstart", "pre"):
            fe.inferred.add(key)
            fe.record(entry, "packages", "fetching packages from the distribution",
                      client_ip(scope))


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def read_body(scope: Scope, receive: Receive, cap: int) -> bytes:
    length = header(scope, b"content-length")
    if length:
        if not length.isdigit():
            raise Refusal(400, "bad content-length")
        if int(length) > cap:
            raise Refusal(413, "body too large", length=length)
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


def parse_event(body: bytes, content_type: str) -> dict[str, str]:
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "body is not UTF-8") from None
    if kind == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
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
