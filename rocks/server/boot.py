"""Network boot over HTTP: per-host iPXE scripts and the installer's kernel and initrd.

iPXE asks `/boot/ipxe?mac=aa-bb-cc-dd-ee-ff` (its `${netX/mac:hexhyp}`); the answer is the same
script `rocks report host pxe` prints: the installer with the kickstart URL and the host's
one-time token while it is set to install, the local disk otherwise. Kernels and initrds are
the distribution's images/pxeboot, served at /boot/files/.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

boot_router = APIRouter(include_in_schema=False)
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")


@boot_router.get("/boot/ipxe", response_class=PlainTextResponse)
def ipxe(request: Request, mac: str = "") -> PlainTextResponse:
    from rocks.errors import RocksError
    from rocks.siteconfig import global_settings, sync_input
    from rocks.sync.pxe import ipxe_script_for_mac

    if not _MAC.match(mac):
        return PlainTextResponse("#!ipxe\necho rocks: bad or missing mac=\nexit 1\n",
                                 status_code=400)
    fe = request.app.state.frontend
    svc = fe.indexer.service
    with fe.inventory.transaction(readonly=True) as s:
        inp = sync_input(s, fe.indexer.source, global_settings(
            s, fe.indexer.source, svc.graph if svc is not None else None))
    try:
        text = ipxe_script_for_mac(inp, mac)
    except RocksError as exc:
        return PlainTextResponse(f"#!ipxe\necho rocks: {exc.first.message}\nexit 1\n",
                                 status_code=500)
    return PlainTextResponse(text, headers={"Cache-Control": "no-store"})
