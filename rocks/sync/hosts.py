"""`etc/hosts`: loopback, the frontend, then every addressed interface of every valid host as
`<ip> <name>.<zone> <name>`, in address order."""

from __future__ import annotations

from rocks.sync.inputs import HEADER, SHARED, DesiredFile
from rocks.sync.segments import Entry, Segments
from rocks.sync.site import Nic, Site

PATH = "etc/hosts"
SEGMENT = "hosts"


def entries(site: Site, nic: Nic) -> list[Entry]:
    """One interface's line (and a marker when it is the frontend's own address)."""
    zone = nic.net.network.zone
    line = f"{nic.ip}\t{nic.name}.{zone} {nic.name}" if zone else f"{nic.ip}\t{nic.name}"
    out = [Entry(SEGMENT, nic.ip_int, nic.host.name, line)]
    fe = site.inp.frontend
    if nic.host.name == fe.name and nic.ip == fe.private_ip:
        out.append(Entry("fe-hosts", nic.ip_int, nic.host.name, ""))
    return out


def hosts_files(site: Site, segs: Segments | None = None) -> list[DesiredFile]:
    if segs is None:
        segs = Segments.build(e for nic in site.nics for e in entries(site, nic))
    fe = site.inp.frontend
    lines = [f"# {HEADER}", "127.0.0.1\tlocalhost localhost.localdomain",
             "::1\tlocalhost localhost.localdomain"]
    if not segs.size("fe-hosts"):
        lines.append(f"{fe.private_ip}\t{fe.name}.{fe.dns_domain} {fe.name}")
    if segs.size(SEGMENT):
        lines.append(segs.joined(SEGMENT, "\n"))
    lines.append("")
    return [DesiredFile(PATH, "\n".join(lines).encode(), 0o644, None, SHARED)]
