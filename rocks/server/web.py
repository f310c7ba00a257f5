"""The dashboard: every host's install progress, a page per host, an appliance's graph.

Server-rendered Jinja2 (templates/); the host table refreshes itself from /status.json every
two seconds. Profiles are shown with provenance and with secrets and install tokens masked.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from rocks.errors import RocksError
from rocks.inventory import queries as q
from rocks.server.api import frontend_of
from rocks.server.core import Frontend
from rocks.server.index import MASK, HostEntry
from rocks.server.status import format_age

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.filters["age"] = format_age
web_router = APIRouter(include_in_schema=False)
_svg_cache: dict[tuple[str, str], str] = {}


def _summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    out = {"hosts": len(rows), "installing": 0, "stalled": 0, "finished": 0, "failed": 0,
           "up": 0}
    for r in rows:
        out["installing"] += r["boot"] == "install"
        for key in ("stalled", "finished", "failed", "up"):
            out[key] += r["stage"] == key
    return out


@web_router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    fe = frontend_of(request)
    rows = fe.status_rows()
    return TEMPLATES.TemplateResponse(request, "index.html", {
        "rows": rows, "summary": _summary(rows), "appliances": sorted(fe.snapshot.appliances),
        "now": datetime.now(UTC)})


@web_router.get("/status.json")
def status_json(request: Request) -> JSONResponse:
    rows = frontend_of(request).status_rows()
    return JSONResponse({"time": datetime.now(UTC).isoformat(), "summary": _summary(rows),
                         "hosts": rows})


def _masked(entry: HostEntry) -> dict[str, str]:
    attrs = entry.attrs()
    assert entry.view is not None
    for name in (*entry.view.secret, "install_token"):
        if attrs.get(name):
            attrs[name] = MASK
    return attrs


def _profile(fe: Frontend, entry: HostEntry) -> tuple[str, str]:
    if entry.view is None:
        return "", entry.error
    svc = fe.indexer.provenance_service()
    try:
        return svc.compiler.render(entry.view.root, _masked(entry), host=entry.name), ""
    except RocksError as exc:
        return "", str(exc)


@web_router.get("/hosts/{name}", response_class=HTMLResponse)
async def host_page(request: Request, name: str) -> HTMLResponse:
    fe = frontend_of(request)
    entry = fe.snapshot.hosts.get(name)
    if entry is None:
        raise HTTPException(404, f"no host named {name}")
    loop = asyncio.get_running_loop()
    profile, error = await loop.run_in_executor(fe.compile_pool, _profile, fe, entry)

    def read_events() -> list[Any]:
        with fe.inventory.transaction(readonly=True) as s:
            return q.list_events(s, name, 500)

    events = await asyncio.to_thread(read_events)
    status = next(r for r in fe.status_rows() if r["name"] == name)
    return TEMPLATES.TemplateResponse(request, "host.html", {
        "appliances": sorted(fe.snapshot.appliances), "entry": entry, "status": status,
        "attrs": entry.public_attrs(), "profile": profile,
        "error": error, "events": list(reversed(events))})


def _graph(fe: Frontend, appliance: str) -> tuple[str, str]:
    from rocks.compiler.dot import to_dot

    svc = fe.indexer.service
    assert svc is not None
    root = fe.snapshot.appliances[appliance]
    dot = to_dot(svc.graph, root)
    key = (svc.graph.digest, root)
    if key in _svg_cache:
        return _svg_cache[key], dot
    binary = shutil.which("dot")
    if binary is None:
        return "", dot
    try:
        done = subprocess.run([binary, "-Tsvg"], input=dot, capture_output=True, text=True,
                              timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return "", dot
    svg = done.stdout[done.stdout.find("<svg"):]
    _svg_cache[key] = svg
    return svg, dot


@web_router.get("/appliances/{name}/graph", response_class=HTMLResponse)
async def graph_page(request: Request, name: str) -> HTMLResponse:
    fe = frontend_of(request)
    if name not in fe.snapshot.appliances:
        raise HTTPException(404, f"no appliance named {name}")
    loop = asyncio.get_running_loop()
    svg, dot = await loop.run_in_executor(fe.compile_pool, _graph, fe, name)
    return TEMPLATES.TemplateResponse(request, "graph.html", {
        "appliances": sorted(fe.snapshot.appliances), "appliance": name,
        "root": fe.snapshot.appliances[name], "svg": svg, "dot": dot})
