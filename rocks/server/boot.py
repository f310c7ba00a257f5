"""Network boot over HTTP: per-host iPXE scripts (the installer's kernel and initrd are the
distribution's images/pxeboot, mounted at /boot/files/ by app.py).

iPXE asks `/boot/ipxe?mac=aa-bb-cc-dd-ee-ff` (its `${netX/mac:hexhyp}`). The host is the one
whose address the request comes from (identity.py); the `mac=` only confirms it. Its answer is
the script `rocks report host pxe` prints: the installer with the kickstart URL and the host's
one-time token while it is set to install, the local disk otherwise. A request from an address
that is no host's gets what an unknown machine boots (the discovery script, or the local disk),
whatever MAC it names — so the answer tells nothing about which MACs are known. Scripts come
from the snapshot (built with the inventory, rendered once per host and kept in a bounded
cache): no SQL per request.
"""

from __future__ import annotations

import re

from rocks.errors import RocksError
from rocks.server.core import Frontend
from rocks.server.identity import Refusal, Scope, confirm_macs
from rocks.server.index import HostEntry, Snapshot

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")
UNKNOWN = ":unknown"  # the cache key of the unknown-machine script (not a host name)


def _mac_param(scope: Scope) -> str:
    from urllib.parse import parse_qs

    qs: bytes = scope.get("query_string", b"")
    return parse_qs(qs.decode("latin-1")).get("mac", [""])[0] if qs else ""


def script(snap: Snapshot, entry: HostEntry | None) -> str:
    """The iPXE script of a host (or of an unknown machine: None), rendered once per snapshot
    while it stays in the snapshot's bounded cache."""
    from dataclasses import replace

    from rocks.model.inventory import BootState, Host
    from rocks.sync.pxe import discovery_spec, ipxe_script, ipxe_text

    key = UNKNOWN if entry is None else entry.name
    text = snap.ipxe.get(key)
    if text is not None:
        return text
    inp = snap.boot
    if inp is None:
        raise RocksError.of("boot-input", "the network-boot settings are broken (see the log)")
    if entry is None:
        text = ipxe_text(inp, discovery_spec(inp, {a.name: a for a in inp.boot_actions}))
    else:
        host = Host(entry.name, "", install_action=entry.install_action,
                    run_action=entry.run_action, boot=BootState(entry.boot))
        tokens = {entry.name: entry.token} if entry.token else {}
        text = ipxe_script(replace(inp, tokens=tokens), host)
    snap.ipxe.put(key, text)
    return text


def ipxe_answer(fe: Frontend, scope: Scope, address: str) -> tuple[int, str]:
    mac = _mac_param(scope)
    if not _MAC.match(mac):
        return 400, "#!ipxe\necho rocks: bad or missing mac=\nexit 1"
    mac = mac.lower().replace("-", ":")
    snap = fe.snapshot
    entry = snap.by_ip.get(address)
    if entry is None and fe.config.routed_nodes:
        entry = snap.by_mac.get(mac)  # routed sites: the MAC identifies (README: the risk)
    try:
        if entry is None:
            return 200, script(snap, None)
        confirm_macs(snap, entry, [mac], required=True)
        return 200, script(snap, entry)
    except RocksError as exc:
        if entry is None:
            raise Refusal(500, "network boot is not configured") from exc
        return 500, f"#!ipxe\necho rocks: {_ipxe_echo(exc.first.message)}\nexit 1"


def _ipxe_echo(text: str) -> str:
    """One line iPXE echoes as text: no line breaks, no ${…} expansion, no ; or & commands."""
    return re.sub(r"[^A-Za-z0-9 ._,:/'()=+@-]", "?", text.splitlines()[0] if text else "")[:200]
