"""The dashboard's actions: reinstall a host or a rack, behind the admin login, in two steps.

GET /actions/reinstall?hosts=… shows what would be reinstalled (host arguments as the CLI takes
them: names, rackN, appliances, globs) and a form; POST performs it with `rocks set host boot
… action=install` semantics (writes.boot: the package check unless forced, tokens, boot files).
The POST needs the admin session cookie (SameSite=Strict) and the session's form token, and is
refused from another origin: a page elsewhere cannot make the browser reinstall anything.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rocks.errors import RocksError
from rocks.server.api import frontend_of, request_role
from rocks.server.web import TEMPLATES, require_viewer

actions_router = APIRouter(include_in_schema=False, dependencies=[Depends(require_viewer)])
MAX_LISTED = 200  # names shown on the confirmation page


def _admin(request: Request) -> bool:
    from rocks.server.auth import ADMIN

    return request_role(request) == ADMIN


def _login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}&admin=yes", status_code=303)


@actions_router.get("/actions/reinstall", response_class=HTMLResponse)
async def confirm_reinstall(request: Request,
                            hosts: Annotated[list[str], Query()] = []) -> Response:  # noqa: B006
    from rocks.inventory.hostargs import expand_hosts
    from rocks.server.auth import COOKIE

    if not _admin(request) or not request.cookies.get(COOKIE):
        return _login(request)
    fe = frontend_of(request)
    words = [w for w in hosts if w.strip()][:64]
    context = {"appliances": sorted(fe.snapshot.appliances), "words": words, "names": [],
               "count": 0, "errors": [], "csrf": request.app.state.auth.csrf(
                   request.cookies.get(COOKIE, "")), "max": MAX_LISTED}
    if not words:
        context["errors"] = ["name the hosts to reinstall (hosts=compute-0-1, hosts=rack3 …)"]
    else:
        def expand() -> list[str]:
            with fe.inventory.transaction(readonly=True) as s:
                return expand_hosts(s, words, empty_means_all=False)

        try:
            names = await asyncio.to_thread(expand)
            context.update(names=names[:MAX_LISTED], count=len(names))
        except RocksError as exc:
            context["errors"] = [str(d) for d in exc.diagnostics]
    status = 422 if context["errors"] else 200
    return TEMPLATES.TemplateResponse(request, "confirm.html", context, status_code=status)


@actions_router.post("/actions/reinstall", response_class=HTMLResponse)
async def reinstall(request: Request) -> Response:
    from rocks.server.auth import COOKIE
    from rocks.server.writes import boot

    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, "refused: the form was sent from another origin")
    body = await request.body()
    if len(body) > 64 * 1024:
        raise HTTPException(413, "too large")
    form = parse_qs(body.decode("latin-1"))
    cookie = request.cookies.get(COOKIE, "")
    if not _admin(request) or not request.app.state.auth.csrf_ok(
            cookie, form.get("csrf", [""])[0]):
        raise HTTPException(403, "refused: reinstalling needs the admin login and its form")
    fe = frontend_of(request)
    words = [w for w in form.get("hosts", []) if w.strip()][:64]
    force = form.get("force", [""])[0] == "yes"
    context: dict[str, object] = {"appliances": sorted(fe.snapshot.appliances),
                                  "words": words, "errors": [], "done": None}
    try:
        if not words:
            raise RocksError.of("no-hosts", "no hosts named")
        context["done"] = await boot(fe, words, "install", force, one=False)
    except RocksError as exc:
        context["errors"] = [str(d) for d in exc.diagnostics]
    status = 422 if context["errors"] else 200
    return TEMPLATES.TemplateResponse(request, "done.html", context, status_code=status)
