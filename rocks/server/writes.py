"""The admin API's writes: hosts, their boot action and their attributes.

Each request is one inventory transaction around the function the CLI's command calls — so the
checks, the order they run in and the error messages are the CLI's, and a request that fails
changes nothing (not even a boot file). Errors answer `{"errors": [...]}` (see `problem`), each
with the CLI's text. The read-only token is refused (api.require_token), and so is a write with
the session cookie that lacks its form token. After a write the frontend takes the inventory in
at once: the change is in the next GET and on the dashboard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rocks.errors import RocksError
from rocks.server.api import FE, frontend_of, require_token
from rocks.server.core import Frontend

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.hostops import Where

log = logging.getLogger("rocks.server")
writes_router = APIRouter(prefix="/api", tags=["admin: changes"],
                          dependencies=[Depends(require_token)])
T = TypeVar("T")
_STATUS = {"unknown-host": 404, "duplicate-host": 409, "duplicate-attr": 409}


class ErrorOut(BaseModel):
    code: str
    message: str
    hint: str = ""
    location: str | None = None
    text: str = Field(description="the line(s) `rocks` prints for this error")


class ErrorsOut(BaseModel):
    errors: list[ErrorOut]


ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorsOut, "description": "no such host"},
          409: {"model": ErrorsOut, "description": "already exists"},
          422: {"model": ErrorsOut, "description": "refused, with the CLI's errors"}}


def problem(exc: RocksError) -> JSONResponse:
    """A RocksError as the API's answer: 404 for an unknown host, 409 for a duplicate, else
    422; one item per diagnostic."""
    status = _STATUS.get(exc.first.code, 422)
    return JSONResponse(status_code=status, content={"errors": [
        {"code": d.code, "message": d.message, "hint": d.hint,
         "location": str(d.location) if d.location else None, "text": str(d)}
        for d in exc.diagnostics]})


async def rocks_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RocksError)
    return problem(exc)


def where(fe: Frontend) -> Where:
    from rocks.hostops import Where
    from rocks.profiles import ClusterSource

    c = fe.config
    return Where(ClusterSource(Path(c.state_dir)), c.distro_dir, c.sync_root_dir, c.release)


async def transaction(fe: Frontend, work: Callable[..., T]) -> T:
    """`work(session, warnings)` in one transaction on a thread; then the frontend refreshes."""
    warnings: list[str] = []

    def run() -> T:
        with fe.inventory.transaction() as s:
            return work(s, warnings)

    out = await asyncio.to_thread(run)
    for w in warnings:
        log.warning("api: %s", w)
    await fe.refresh()
    return out


def _warn(into: list[str]) -> Callable[[str, str], None]:
    return lambda message, hint: into.append(message + (f" ({hint})" if hint else ""))


def _reload(fe: Frontend, services: set[str]) -> None:
    """Reload the services whose files changed — only when sync writes this machine's own
    files (sync root /), as the CLI does."""
    from rocks.sync.apply import reload

    if services and fe.config.sync_root_dir.resolve() == Path("/"):
        for message in reload(services):
            log.info("api: %s", message)


# -- hosts ----------------------------------------------------------------------------------
class HostIn(BaseModel):
    """`rocks add host`: a name of the form <appliance>-<rack>-<rank> gives the appliance,
    rack and rank; without a name the host is <appliance>-<rack>-<next rank>."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    appliance: str = ""
    rack: int | None = None
    rank: int | None = None
    os: str = "linux"
    installaction: str = "install"
    runaction: str = "os"
    comment: str = ""


class HostPatch(BaseModel):
    """`rocks set host rack|rank|appliance|comment|installaction|runaction|name`: the fields
    given change, the others stay."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    appliance: str | None = None
    rack: int | None = None
    rank: int | None = None
    comment: str | None = None
    installaction: str | None = None
    runaction: str | None = None


class Changed(BaseModel):
    hosts: list[str]
    message: str


@writes_router.post("/hosts", status_code=201, response_model=Changed, responses=ERRORS)
async def add_host(fe: FE, body: HostIn) -> Changed:
    """Add a host (as `rocks add host`)."""
    from rocks.inventory.hostedit import new_host

    def work(s: Session, warnings: list[str]) -> str:
        return new_host(s, body.name, appliance=body.appliance,
                        rack=body.rack, rank=body.rank, os=body.os,
                        install_action=body.installaction, run_action=body.runaction,
                        comment=body.comment)

    name = await transaction(fe, work)
    return Changed(hosts=[name], message=f"host {name} added")


@writes_router.patch("/hosts/{name}", response_model=Changed, responses=ERRORS)
async def change_host(fe: FE, name: str, body: HostPatch) -> Changed:
    """Change a host's fields (as the `rocks set host …` commands); a new `name` renames it."""
    from rocks.inventory import queries as q
    from rocks.inventory.hostargs import expand_hosts
    from rocks.inventory.hosts import rename_host
    from rocks.inventory.lookup import need_appliance, need_bootaction

    def work(s: Session, warnings: list[str]) -> str:
        host = _one(s, name, expand_hosts)
        if body.appliance is not None:
            need_appliance(s, body.appliance)
        for action in (body.installaction, body.runaction):
            if action is not None:
                need_bootaction(s, action)
        q.update_host(s, host, appliance=body.appliance, rack=body.rack,
                      rank=body.rank, comment=body.comment, install_action=body.installaction,
                      run_action=body.runaction)
        if body.name is not None and body.name != host:
            rename_host(s, host, body.name)
            return body.name
        return host

    final = await transaction(fe, work)
    return Changed(hosts=[final], message=f"host {final} changed")


def _one(s: Session, word: str, expand: Callable[..., list[str]]) -> str:
    """Exactly one existing host named `word` (its name, IP, MAC or FQDN)."""
    names = expand(s, [word], empty_means_all=False)
    if len(names) != 1:
        raise RocksError.of(
            "one-host", f'"{word}" names {len(names)} hosts; this call takes one host name',
            hint="give a single host name (rocks list host)")
    return names[0]


@writes_router.delete("/hosts/{name}", response_model=Changed, responses=ERRORS)
async def remove_host(fe: FE, name: str) -> Changed:
    """Remove a host with its interfaces, attributes, events and profile; its boot files and
    the shared files that named it are rewritten."""
    return await _remove(fe, [name], one=True)


@writes_router.delete("/hosts", response_model=Changed, responses=ERRORS)
async def remove_hosts(fe: FE, hosts: Annotated[list[str], Query(min_length=1)]) -> Changed:
    """Remove hosts named as the CLI names them: `?hosts=rack3`, `?hosts=compute-0-*`,
    appliance names, IPs, MACs (as `rocks remove host`)."""
    return await _remove(fe, hosts, one=False)


async def _remove(fe: Frontend, words: list[str], *, one: bool) -> Changed:
    from rocks.hostops import remove_hosts
    from rocks.inventory.hostargs import expand_hosts

    place = where(fe)

    def work(s: Session, warnings: list[str]) -> list[str]:
        names = [_one(s, words[0], expand_hosts)] if one else expand_hosts(s, words)
        remove_hosts(s, place, names, _warn(warnings))
        return names

    names = await transaction(fe, work)
    return Changed(hosts=names, message=f"{len(names)} host(s) removed")


# -- boot -----------------------------------------------------------------------------------
class BootIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["install", "os"] = Field(
        description="install: reinstall at the next network boot; os: boot the installed system")
    force: bool = Field(False, description="install even if the package check fails")


class BootMany(BootIn):
    hosts: list[str] = Field(min_length=1, description="host names, appliance names, rackN, "
                             "globs, or a host's IP, MAC or FQDN (as the CLI takes them)")


@writes_router.put("/hosts/{name}/boot", response_model=Changed, responses=ERRORS)
async def set_boot(fe: FE, name: str, body: BootIn) -> Changed:
    """`rocks set host boot <host> action=…`: install checks the host's packages against the
    distribution (force skips it), issues a one-time token and writes its boot files."""
    return await boot(fe, [name], body.action, body.force, one=True)


@writes_router.post("/boot", response_model=Changed, responses=ERRORS)
async def set_boot_many(fe: FE, body: BootMany) -> Changed:
    """`rocks set host boot <hosts…> action=…` for many hosts at once (e.g. a rack)."""
    return await boot(fe, body.hosts, body.action, body.force, one=False)


async def boot(fe: Frontend, words: list[str], action: str, force: bool, *,
               one: bool) -> Changed:
    """The boot change of the API and of the dashboard's reinstall action."""
    from rocks.hostops import set_boot
    from rocks.inventory.hostargs import expand_hosts

    place = where(fe)

    def work(s: Session, warnings: list[str]) -> tuple[list[str], set[str]]:
        names = [_one(s, words[0], expand_hosts)] if one else expand_hosts(s, words)
        change = set_boot(s, place, names, action, force=force,
                          warn=_warn(warnings))
        return names, change.reload

    names, services = await transaction(fe, work)
    await asyncio.to_thread(_reload, fe, services)
    return Changed(hosts=names, message=f"{len(names)} host(s) set to {action}")


# -- attributes -----------------------------------------------------------------------------
class AttrIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str
    secret: bool | None = Field(None, description="shown as ******** everywhere; default: "
                                "keep an existing attribute's flag, else no")


@writes_router.put("/hosts/{name}/attrs/{attr}", response_model=Changed, responses=ERRORS)
async def set_attr(fe: FE, name: str, attr: str, body: AttrIn) -> Changed:
    """`rocks set host attr <host> <attr> <value>`: create or replace a host attribute."""
    from rocks.inventory.hostargs import expand_hosts
    from rocks.inventory.hostedit import write_attrs
    from rocks.model.attrcheck import checked, is_secret
    from rocks.model.inventory import Scope
    from rocks.profiles import attribute_declarations

    def work(s: Session, warnings: list[str]) -> str:
        host = _one(s, name, expand_hosts)
        # the same typed check and declared secrecy as `rocks set host attr`
        decls = attribute_declarations(s, where(fe).source)
        if body.secret is False and is_secret(decls, attr):
            warnings.append(f"{attr} is declared secret by its roll: it is stored secret")
        write_attrs(s, Scope.HOST, [host], attr, body.value, secret=body.secret, replace=True,
                    check=lambda attrs: checked(decls, attrs))
        return host

    host = await transaction(fe, work)
    return Changed(hosts=[host], message=f"attribute {attr} set on {host}")


@writes_router.delete("/hosts/{name}/attrs/{attr}", response_model=Changed, responses=ERRORS)
async def remove_attr(fe: FE, name: str, attr: str) -> Changed:
    """`rocks remove host attr <host> <attr>`."""
    from rocks.inventory.hostargs import expand_hosts
    from rocks.inventory.hostedit import drop_attrs
    from rocks.model.inventory import Scope

    def work(s: Session, warnings: list[str]) -> str:
        host = _one(s, name, expand_hosts)
        drop_attrs(s, Scope.HOST, [host], attr)
        return host

    host = await transaction(fe, work)
    return Changed(hosts=[host], message=f"attribute {attr} removed from {host}")


__all__ = ["boot", "frontend_of", "problem", "rocks_error_handler", "writes_router"]
