"""Who a node request comes from: its source address on a served network, plus its token.

One place decides a node's identity for the kickstart, the iPXE script and install events
(DESIGN.md §3.10-11). The requester is the TCP peer — or, only when the peer is a proxy listed in
`trusted-proxies`, the nearest untrusted address of X-Forwarded-For. A host is found by that
address alone; the installer's `X-RHN-Provisioning-MAC-<n>` headers only confirm it (a header
naming another host, or headers none of which is the host's, are refused). With
`routed-nodes=yes` a request from an address that is no host's may instead be identified by
its install token, confirmed by a MAC header of the same host.

Every refusal is the same to the client — `403 refused` — and one log line says why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import MutableMapping
from typing import Any

from rocks.server.index import HostEntry, Snapshot

Scope = MutableMapping[str, Any]
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
MAC_HEADER = b"x-rhn-provisioning-mac-"
REFUSED_STATUS = 403
REFUSED_TEXT = "refused"


class Refusal(Exception):
    """A request the frontend answers with an error; `reason` goes to the log only when the
    status is REFUSED_STATUS (the client then sees REFUSED_TEXT)."""

    def __init__(self, status: int, reason: str, **fields: object) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.fields = fields

    @property
    def text(self) -> str:
        return REFUSED_TEXT if self.status == REFUSED_STATUS else self.reason


def refused(reason: str, **fields: object) -> Refusal:
    return Refusal(REFUSED_STATUS, reason, **fields)


def _within(address: str, nets: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_address(scope: Scope, proxies: Networks = ()) -> str:
    """The requester's address: the TCP peer, unless that peer is a trusted proxy."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if not proxies or not _within(peer, proxies):
        return peer
    hops: list[str] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            hops.extend(h.strip() for h in value.decode("latin-1").split(","))
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return ""  # a forged or broken chain identifies nobody
        if not _within(hop, proxies):
            return hop
    return peer if not hops else hops[0]


def provisioning_macs(scope: Scope) -> list[str]:
    """MACs from `X-RHN-Provisioning-MAC-<n>: <dev> <mac>` headers, lower case."""
    macs = []
    for name, value in scope["headers"]:
        if name.startswith(MAC_HEADER):
            parts = value.decode("latin-1").split()
            if parts:
                macs.append(parts[-1].lower().replace("-", ":"))
    return macs


def confirm_macs(snap: Snapshot, entry: HostEntry, macs: list[str], *,
                 required: bool = False) -> None:
    """MAC headers, if any, must be the host's: one of them at least, and none another's."""
    if not macs:
        if required:
            raise refused("no MAC header to confirm the host", host=entry.name)
        return
    for mac in macs:
        owner = snap.by_mac.owner(mac)
        if owner >= 0 and owner != entry.pos:
            raise refused("a MAC header names another host", host=entry.name,
                          mac_host=snap.hosts.names[owner])
    if not any(m in entry.macs for m in macs):
        raise refused("no MAC header is the host's", host=entry.name)


def identify(snap: Snapshot, address: str, macs: list[str], token: str = "", *,
             routed: bool = False, mac_required_when_routed: bool = True) -> HostEntry:
    """The host a node request comes from, or a Refusal."""
    entry = snap.by_ip.get(address)
    if entry is not None:
        confirm_macs(snap, entry, macs)
        return entry
    if routed and token:
        by_token = snap.by_token.get(token)
        if by_token is not None:
            confirm_macs(snap, by_token, macs, required=mac_required_when_routed)
            return by_token
    raise refused("the address is no host's on a served network", macs=",".join(macs) or "-")
