"""The dashboard: every host's install progress, a page per host, an appliance's graph, and
the API's documentation.

Server-rendered Jinja2 (templates/); the host table refreshes itself from /status.json every
two seconds. Profiles are shown with provenance and with secrets and install tokens masked;
errors and node messages with control characters escaped and the host's secrets masked. Every
page needs a login when the frontend is reachable from other machines (auth.py): /login takes
the admin or read-only token and sets a session cookie.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from rocks.errors import RocksError
from rocks.inventory import queries as q
from rocks.server.api import frontend_of, request_role
from rocks.server.console import SORTS, STATES, View, public_row
from rocks.server.core import Frontend
from rocks.server.index import MASK, HostEntry
from rocks.server.status import format_age

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.filters["age"] = format_age
TEMPLATES.env.globals["role_of"] = lambda request: request_role(request)
_svg_cache: dict[tuple[str, str], str] = {}


def require_viewer(request: Request) -> None:
    """Pages need the admin or read-only token when the frontend is reachable from elsewhere."""
    if not request.app.state.auth.required or request_role(request) is not None:
        return
    path = request.url.path
    if path.endswith(".json"):
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
    target = path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(303, "log in first",
                        headers={"Location": f"/login?next={quote(target, safe='')}"})


web_router = APIRouter(include_in_schema=False, dependencies=[Depends(require_viewer)])
login_router = APIRouter(include_in_schema=False)


def _next(target: str) -> str:
    """Only a path on this server (never //elsewhere or a scheme) is followed after login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@login_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", admin: str = "") -> HTMLResponse:
    note = "This action needs the admin token." if admin == "yes" else ""
    return TEMPLATES.TemplateResponse(request, "login.html", {"next": _next(next), "error": note})


@login_router.post("/login")
async def login(request: Request) -> Response:
    from rocks.server.auth import COOKIE

    body = await request.body()
    if len(body) > 4096:
        raise HTTPException(413, "too large")
    form = parse_qs(body.decode("latin-1"))
    token = form.get("token", [""])[0].strip()
    target = _next(form.get("next", ["/"])[0])
    auth = request.app.state.auth
    role = auth.role_of_token(token)
    if role is None:
        return TEMPLATES.TemplateResponse(request, "login.html", {
            "next": target, "error": "That is not a token of this frontend."}, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, auth.session(role), max_age=12 * 3600, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@login_router.post("/logout")
def logout() -> Response:
    from rocks.server.auth import COOKIE

    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


DOCS_ASSETS = "/static/docs"


@web_router.get("/api/openapi.json")
def openapi_schema(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@web_router.get("/api/docs", response_class=HTMLResponse)
def swagger_page() -> HTMLResponse:
    from fastapi.openapi.docs import get_swagger_ui_html

    return get_swagger_ui_html(
        openapi_url="/api/openapi.json", title="rocks frontend API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None})


@web_router.get("/api/redoc", response_class=HTMLResponse)
def redoc_page() -> HTMLResponse:
    from fastapi.openapi.docs import get_redoc_html

    return get_redoc_html(openapi_url="/api/openapi.json", title="rocks frontend API",
                          redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                          redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
                          with_google_fonts=False)


def docs_assets() -> Path:
    """Swagger UI's and ReDoc's files, installed with the server (the fastapi-offline
    distribution ships them): the docs render on a frontend without internet."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).with_name("static")


def _summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    out = {"hosts": len(rows), "installing": 0, "stalled": 0, "finished": 0, "failed": 0,
           "up": 0}
    for r in rows:
        out["installing"] += r["boot"] == "install"
        for key in ("stalled", "finished", "failed", "up"):
            out[key] += r["stage"] == key
    return out


def viewer(request: Request) -> tuple[bool, bool]:
    """(admin, macs): whether the viewer holds the admin login, and may see MACs (any login:
    MACs only behind the login; read-only sees no secrets, but MACs are none)."""
    from rocks.server.auth import ADMIN

    role = request_role(request)
    return role == ADMIN, role is not None


def view_of(request: Request) -> View:
    """The console's view from the query string (anything unknown falls back to a default)."""
    p = request.query_params

    def number(key: str, default: int, low: int, high: int) -> int:
        text = p.get(key, "")
        return min(high, max(low, int(text))) if text.isdigit() else default

    rack = p.get("rack", "").removeprefix("rack")
    return View(
        state=p.get("state", "") if p.get("state", "") in STATES else "",
        appliance=p.get("appliance", "")[:64], rack=int(rack) if rack.isdigit() else None,
        q=p.get("q", "")[:128], sort=p.get("sort", "") if p.get("sort", "") in SORTS else "name",
        problems_first=p.get("problems", "yes") != "no",
        page=number("page", 1, 1, 1_000_000), size=number("size", 100, 10, 500))


def _etag(fe: Frontend, view: View, macs: bool) -> str:
    digest = hashlib.sha256(repr((view, macs)).encode()).hexdigest()[:16]
    return f'W/"{fe.console.tag}:{digest}"'


@web_router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """The console: a page of the hosts the view selects (problems first), cards and racks
    that filter, and a script that keeps the page current from /console.json deltas."""
    fe = frontend_of(request)
    admin, macs = viewer(request)
    view = view_of(request)
    data = fe.console.query(view, macs=macs)
    problems = dict(sorted(fe.indexer.problems.items()))
    kept = {a for a in problems if a in fe.indexer.last_good} | ({"*"} if "*" in problems
                                                                 else set())
    return TEMPLATES.TemplateResponse(request, "index.html", {
        "data": data, "rows": [data["rows"][n] for n in data["names"]], "view": view,
        "summary": data["summary"], "racks": data.get("racks", []), "states": STATES,
        "sorts": SORTS, "appliances": sorted(fe.snapshot.appliances), "admin": admin,
        "macs": macs, "now": datetime.now(UTC), "problems": problems, "kept": kept,
        "etag": _etag(fe, view, macs), "frontends": fe.frontends, "me": fe.name})


@web_router.get("/console.json")
def console_json(request: Request) -> Response:
    """The view's page as a delta: `since=<version>` (from the last answer) gives the names on
    the page and only the rows that changed since; If-None-Match with the last ETag gives 304
    when nothing did."""
    fe = frontend_of(request)
    _, macs = viewer(request)
    view = view_of(request)
    etag = _etag(fe, view, macs)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    data = fe.console.query(view, request.query_params.get("since", ""), macs=macs)
    return JSONResponse(data, headers=headers)


@web_router.get("/status.json")
def status_json(request: Request) -> JSONResponse:
    fe = frontend_of(request)
    rows = fe.status_rows()
    return JSONResponse({"time": datetime.now(UTC).isoformat(), "summary": _summary(rows),
                         "hosts": rows, "graph_problems": dict(fe.indexer.problems)})


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


async def _events(fe: Frontend, entry: HostEntry, limit: int) -> list[Any]:
    def read() -> list[Any]:
        with fe.inventory.transaction(readonly=True) as s:
            return q.list_events(s, entry.name, limit)

    return [dataclasses.replace(e, message=fe.shown(entry, e.message))
            for e in reversed(await asyncio.to_thread(read))]


def _host_tag(fe: Frontend, name: str) -> str:
    return f'W/"{fe.console.epoch}.{fe.console.changed.get(name, 0)}"'


@web_router.get("/hosts/{name}", response_class=HTMLResponse)
async def host_page(request: Request, name: str) -> HTMLResponse:
    fe = frontend_of(request)
    entry = fe.snapshot.hosts.get(name)
    if entry is None or name not in fe.console.rows:
        raise HTTPException(404, f"no host named {name}")
    admin, macs = viewer(request)
    loop = asyncio.get_running_loop()
    profile, error = await loop.run_in_executor(fe.compile_pool, _profile, fe, entry)
    events = await _events(fe, entry, 500)
    row = public_row(fe.console.rows[name], macs)
    now = datetime.now(UTC)
    since = datetime.fromisoformat(row["since"]) if row["since"] else None
    status = {**row, "seconds": (now - since).total_seconds() if since else None}
    console = await asyncio.to_thread(console_tail, Path(fe.config.state_dir), name)
    return TEMPLATES.TemplateResponse(request, "host.html", {
        "appliances": sorted(fe.snapshot.appliances), "entry": entry, "status": status,
        "row": row, "admin": admin, "macs": macs, "tag": _host_tag(fe, name),
        "attrs": entry.public_attrs(), "profile": profile,
        "error": fe.shown(entry, error), "events": events, "console": console})


@web_router.get("/hosts/{name}/live")
async def host_live(request: Request, name: str) -> Response:
    """The host page's refresh: 304 while the host's row is unchanged (If-None-Match), else
    its row and newest events; 404 once the host is removed."""
    fe = frontend_of(request)
    entry = fe.snapshot.hosts.get(name)
    if entry is None or name not in fe.console.rows:
        return JSONResponse({"removed": True}, status_code=404)
    tag = _host_tag(fe, name)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    _, macs = viewer(request)
    events = await _events(fe, entry, 200)
    return JSONResponse({
        "time": datetime.now(UTC).isoformat(),
        "row": public_row(fe.console.rows[name], macs),
        "events": [{"time": e.time.isoformat(), "stage": e.stage, "message": e.message,
                    "source": e.source, "frontend": e.frontend} for e in events]},
        headers=headers)


_TERMINAL_CODES = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b.|[\x00-\x08\x0b-\x1f\x7f]")


def console_tail(state: Path, host: str, size: int = 16384, lines: int = 80) -> str:
    """The end of the host's console log (`rocks start console-logger`), terminal codes removed;
    "" when there is none."""
    path = state / "console" / f"{host}.log"
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - size))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_TERMINAL_CODES.sub("", text).splitlines()[-lines:])


def _graph(fe: Frontend, appliance: str) -> tuple[str, str]:
    from rocks.compiler.dot import page_svg, to_dot

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
    svg = page_svg(done.stdout)
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
