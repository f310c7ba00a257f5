"""The admin API: JSON for hosts, appliances and install events, behind a token; and writes —
add, change and remove hosts, their boot action and attributes.

The admin token (or the read-only one, for reading) as a bearer token or the dashboard's session
cookie (auth.py; a write with the cookie also needs its X-CSRF-Token). Secret attributes leave
masked, install tokens never leave. Writes call the functions the CLI's commands call
(rocks.inventory.hostedit, rocks.hostops, the inventory's lookups), each request one
transaction: the same checks, the same error messages (as `errors`, with code and hint), and
nothing changed when one fails. The schema is served at /api/openapi.json, Swagger UI at
/api/docs and ReDoc at /api/redoc (web.py), from assets installed with the server, never from
a CDN.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from rocks.errors import RocksError
from rocks.inventory import queries as q
from rocks.server.core import Frontend
from rocks.server.index import HostEntry


def frontend_of(request: Request) -> Frontend:
    fe: Frontend = request.app.state.frontend
    return fe


def request_role(request: Request) -> str | None:
    from rocks.server.auth import COOKIE, Auth

    auth: Auth = request.app.state.auth
    return auth.role(request.headers.get("authorization", ""), request.cookies.get(COOKIE, ""))


def require_token(request: Request) -> None:
    """The admin token, or the read-only token for GET/HEAD. A write authenticated by the
    session cookie (not a bearer token) carries the session's form token in X-CSRF-Token."""
    from rocks.server.auth import ADMIN, COOKIE

    role = request_role(request)
    if role is None:
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    if request.method in ("GET", "HEAD"):
        return
    if role != ADMIN:
        raise HTTPException(403, "the read-only token cannot change anything")
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        cookie = request.cookies.get(COOKIE, "")
        if not request.app.state.auth.csrf_ok(cookie, request.headers.get("x-csrf-token", "")):
            raise HTTPException(403, "a write with the session cookie needs its X-CSRF-Token")


api_router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(require_token)])
FE = Annotated[Frontend, Depends(frontend_of)]


class HostOut(BaseModel):
    name: str
    appliance: str
    boot: str
    stage: str
    since: datetime | None
    message: str
    ips: list[str]
    macs: list[str]
    rack: int = 0
    rank: int = 0
    live: str = Field("", description="up or down: the node's own reports or the last probe")
    progress: list[int | bool | None] | None = Field(
        None, description="packages fetched, of how many, whether that is an estimate")


class HostDetail(HostOut):
    attrs: dict[str, str]
    kickstart_sha256: str | None


class ApplianceOut(BaseModel):
    name: str
    node: str
    hosts: int


class EventOut(BaseModel):
    host: str
    time: datetime
    stage: str
    message: str
    source: str


def _out(fe: Frontend, entry: HostEntry, now: datetime) -> HostOut:
    stage, since, message = fe.status(entry, now)
    # a node's finished was committed; the snapshot catches up within a refresh
    boot = "os" if stage == "finished" and entry.boot == "install" else entry.boot
    row = fe.console.row(entry.name) or {}
    return HostOut(name=entry.name, appliance=entry.appliance, boot=boot, stage=stage,
                   since=since, message=fe.shown(entry, message), ips=list(entry.ips),
                   macs=list(entry.macs), rack=entry.rack, rank=entry.rank,
                   live=row.get("live", ""), progress=row.get("progress"))


def _host(fe: Frontend, name: str) -> HostOut:
    entry = fe.snapshot.hosts.get(name)
    if entry is None:
        raise HTTPException(404, f"no host named {name}")
    return _out(fe, entry, datetime.now(UTC))


@api_router.get("/hosts", response_model=list[HostOut])
def list_hosts(fe: FE, state: str = "", appliance: str = "", rack: int | None = None,
               q: str = "", sort: str = "name",
               page: Annotated[int | None, Query(ge=1)] = None,
               size: Annotated[int, Query(ge=1, le=10000)] = 100) -> list[HostOut]:
    """Hosts in natural order (compute-1-2 before compute-1-10), all of them or, with `page`,
    a page of `size`; filtered as the console filters (`state` failed, stalled, installing,
    waiting, finished, up, down, unknown, os or problems; `appliance`; `rack`; `q` a name, IP or
    MAC substring or a glob); `sort` name, rack, state, appliance or age."""
    from rocks.server.console import SORTS, STATES, View

    if state and state not in STATES:
        raise HTTPException(422, f"state: one of {', '.join(STATES)}")
    if sort not in SORTS:
        raise HTTPException(422, f"sort: one of {', '.join(SORTS)}")
    view = View(state=state, appliance=appliance, rack=rack, q=q, sort=sort,
                problems_first=False)
    names = fe.console.ordered(view, macs=True)
    if page is not None:
        names = names[(page - 1) * size:page * size]
    now = datetime.now(UTC)
    return [_out(fe, fe.snapshot.hosts[n], now) for n in names if n in fe.snapshot.hosts]


@api_router.get("/hosts/{name}", response_model=HostDetail)
async def get_host(fe: FE, name: str) -> HostDetail:
    base = _host(fe, name)
    entry = fe.snapshot.hosts[name]
    # the kickstart a node set to install is served (rendered on demand, as it would be)
    ks = await fe.kickstart(entry) if entry.installing and entry.token else None
    digest = ks.etag.decode().strip('"') if ks is not None and not ks.error else None
    return HostDetail(**base.model_dump(), attrs=entry.public_attrs(), kickstart_sha256=digest)


@api_router.get("/hosts/{name}/events", response_model=list[EventOut])
async def host_events(fe: FE, name: str,
                      limit: Annotated[int, Query(ge=1, le=10000)] = 500) -> list[EventOut]:
    if name not in fe.snapshot.hosts:
        raise HTTPException(404, f"no host named {name}")
    return await _events(fe, name, limit)


@api_router.get("/events", response_model=list[EventOut])
async def events(fe: FE, host: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=10000)] = 500) -> list[EventOut]:
    if host is not None and host not in fe.snapshot.hosts:
        raise HTTPException(404, f"no host named {host}")
    return await _events(fe, host, limit)


async def _events(fe: Frontend, host: str | None, limit: int) -> list[EventOut]:
    def read() -> list[EventOut]:
        with fe.inventory.transaction(readonly=True) as s:
            return [EventOut(host=e.host, time=e.time, stage=e.stage,
                             message=fe.shown(fe.snapshot.hosts.get(e.host), e.message),
                             source=e.source) for e in q.list_events(s, host, limit)]

    try:
        return await asyncio.to_thread(read)
    except RocksError as exc:
        raise HTTPException(404, exc.diagnostics[0].message) from exc


@api_router.get("/appliances", response_model=list[ApplianceOut])
def appliances(fe: FE) -> list[ApplianceOut]:
    counts: dict[str, int] = {}
    table = fe.snapshot.hosts
    for i in range(len(table)):
        appliance = table.appliance_at(i)
        counts[appliance] = counts.get(appliance, 0) + 1
    return [ApplianceOut(name=n, node=node, hosts=counts.get(n, 0))
            for n, node in sorted(fe.snapshot.appliances.items())]
