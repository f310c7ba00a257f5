"""`etc/hosts`: loopback, the frontend, then every addressed interface of every valid host as
`<ip> <name>.<zone> <name>`, in address order."""

from __future__ import annotations

from rocks.sync.inputs import HEADER, SHARED, DesiredFile
from rocks.sync.site import Site

PATH = "etc/hosts"


def hosts_files(site: Site) -> list[DesiredFile]:
    fe = site.inp.frontend
    lines = [f"# {HEADER}", "127.0.0.1\tlocalhost localhost.localdomain",
             "::1\tlocalhost localhost.localdomain"]
    if not any(n.host.name == fe.name and n.ip == fe.private_ip for n in site.nics):
        lines.append(f"{fe.private_ip}\t{fe.name}.{fe.dns_domain} {fe.name}")
    for nic in site.nics:
        zone = nic.net.network.zone
        lines.append(f"{nic.ip}\t{nic.name}.{zone} {nic.name}" if zone
                     else f"{nic.ip}\t{nic.name}")
    lines.append("")
    return [DesiredFile(PATH, "\n".join(lines).encode(), 0o644, None, SHARED)]
