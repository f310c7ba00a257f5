"""The site's own lines, kept across syncs as in Rocks: `etc/hosts.local` is appended to the
generated `etc/hosts`, and `etc/dhcp/dhcpd.conf.local` to the generated ISC `dhcpd.conf`, each
verbatim inside a marked section. Both are read from the sync root (the same reader that
gives the previous zone files), so a trial under <state>/root never reads this machine's /etc.

Kea's JSON cannot take verbatim lines: with Kea a dhcpd.conf.local is reported, not merged.
"""

from __future__ import annotations

from collections.abc import Callable

from rocks.errors import Diagnostic, Severity, SourceLocation
from rocks.sync.inputs import DesiredFile, DhcpFlavour

Reader = Callable[[str], bytes | None]

# generated path -> the local file appended to it
LOCAL = {
    "etc/hosts": "etc/hosts.local",
    "etc/dhcp/dhcpd.conf": "etc/dhcp/dhcpd.conf.local",
}


def section(local: str, content: bytes) -> bytes:
    """`content` between markers that name its file."""
    body = content if content.endswith(b"\n") or not content else content + b"\n"
    return (f"\n# begin {local} (appended verbatim by rocks sync; edit that file, not this "
            f"section)\n").encode() + body + f"# end {local}\n".encode()


def merged(files: list[DesiredFile], previous: Reader | None) -> list[DesiredFile]:
    """`files` with each local file's content appended to the file it belongs to."""
    if previous is None:
        return files
    out = []
    for f in files:
        local = LOCAL.get(f.path)
        extra = previous(local) if local is not None else None
        if local is not None and extra:
            f = DesiredFile(f.path, f.content + section(local, extra), f.mode, f.service,
                            f.owner)
        out.append(f)
    return out


def warnings(flavour: DhcpFlavour, previous: Reader | None) -> list[Diagnostic]:
    """A dhcpd.conf.local that nothing reads (the DHCP server is Kea)."""
    local = LOCAL["etc/dhcp/dhcpd.conf"]
    if previous is None or flavour is DhcpFlavour.ISC or not previous(local):
        return []
    return [Diagnostic("sync.local-not-merged",
                       f"{local} is not merged: the DHCP server is Kea (sync_dhcp=kea)",
                       SourceLocation(local),
                       "put those settings in Kea's own configuration, or use sync_dhcp=isc",
                       Severity.WARNING)]
