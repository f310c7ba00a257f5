"""BIND: a forward zone per served network zone, reverse zones for their addresses, and the
`etc/named/rocks.conf` fragment declaring them.

The SOA serial is YYYYMMDDnn. It is derived from the previous zone text and a hash of the new
content: unchanged content keeps the previous serial (so an unchanged sync writes nothing),
changed content gets max(today·100, previous + 1).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from rocks.errors import RocksError
from rocks.sync.inputs import HEADER, SHARED, DesiredFile, Service
from rocks.sync.segments import Entry, Segments
from rocks.sync.site import Net, Nic, Site, ip_to_int, zone_problem

CONF_PATH = "etc/named/rocks.conf"
PreviousReader = Callable[[str], bytes | None]

_HASH_RE = re.compile(rb"^; rocks-content-hash: ([0-9a-f]+)$", re.M)
_SERIAL_RE = re.compile(rb"IN SOA \S+ \S+ \( (\d+) ")


def reverse_zone(net: Net) -> tuple[str, int]:
    """The in-addr.arpa zone covering a network, and how many leading octets it fixes.
    Networks that do not end on an octet boundary get the enclosing octet zone."""
    octets = max(1, net.prefix // 8)
    parts = [str((net.address >> (24 - 8 * i)) & 0xFF) for i in range(octets)]
    return ".".join(reversed(parts)) + ".in-addr.arpa", octets


def _ptr_name(ip: int, octets: int) -> str:
    rest = [str((ip >> (24 - 8 * i)) & 0xFF) for i in range(octets, 4)]
    return ".".join(reversed(rest))


def next_serial(previous: bytes | None, digest: str, today: date) -> int:
    base = int(today.strftime("%Y%m%d")) * 100
    if previous:
        old_hash = _HASH_RE.search(previous)
        old_serial = _SERIAL_RE.search(previous)
        if old_serial:
            serial = int(old_serial.group(1))
            if old_hash and old_hash.group(1).decode() == digest:
                return serial
            return max(base + 1, serial + 1)
    return base + 1


def _zone_text(site: Site, zone: str, records: list[str], previous: bytes | None,
               today: date) -> bytes:
    fe = site.inp.frontend
    ns = f"{fe.name}.{fe.dns_domain}."
    ttl = site.inp.dns_ttl
    soa_tail = f"{ttl} 900 604800 {ttl} )"
    body = "\n".join([f"@ IN NS {ns}", *records, ""])
    import hashlib  # (here: a one-host change that writes no zone never loads OpenSSL)

    digest = hashlib.sha256(f"{zone}\n{ns}\n{soa_tail}\n{body}".encode()).hexdigest()[:32]
    serial = next_serial(previous, digest, today)
    head = (f"; {HEADER}\n; rocks-content-hash: {digest}\n$ORIGIN {zone}.\n$TTL {ttl}\n"
            f"@ IN SOA {ns} root.{fe.name}.{fe.dns_domain}. ( {serial} {soa_tail}\n")
    return (head + body).encode()


def zone_path(site: Site, zone: str) -> str:
    if zone_problem(zone) and not zone.endswith(".in-addr.arpa"):
        raise RocksError.of("sync.bad-zone", f"zone {zone!r} is not a DNS name")
    return f"{site.inp.zone_dir.strip('/')}/{zone}.zone"


@functools.lru_cache(maxsize=64)
def _reverse(net: Net) -> tuple[str, int]:
    return reverse_zone(net)


def served_nets(site: Site) -> dict[str, Net]:
    return {name: net for name, net in site.nets.items()
            if net.network.servedns and net.network.zone}


def entries(site: Site, nic: Nic) -> list[Entry]:
    """What one interface adds to the zones: its A record and its PTR record (and a marker
    when it is the frontend's on the frontend's domain)."""
    network = nic.net.network
    owner = nic.host.name
    out = []
    if owner == site.inp.frontend.name:
        out.append(Entry(f"fe-zone:{network.zone}", nic.ip_int, owner, ""))
    if not (network.servedns and network.zone):
        return out
    rz, octets = _reverse(nic.net)
    ip = nic.ip_int
    ptr = (f"{ip & 255}.{ip >> 8 & 255}" if octets == 2 else f"{ip & 255}" if octets == 3
           else _ptr_name(ip, octets))
    out.append(Entry(f"fwd:{network.zone}", ip, owner, f"{nic.name} IN A {nic.ip}"))
    out.append(Entry(f"rev:{rz}", ip, owner, f"{ptr} IN PTR {nic.name}.{network.zone}."))
    return out


def dns_files(site: Site, previous: PreviousReader | None = None,
              segs: Segments | None = None) -> list[DesiredFile]:
    if segs is None:
        segs = Segments.build(e for nic in site.nics for e in entries(site, nic))
    inp = site.inp
    fe = inp.frontend
    today = inp.serial_date or datetime.now(UTC).date()
    served = served_nets(site)
    forward: dict[str, list[str]] = {}
    reverse: dict[str, list[str]] = {}
    for net in sorted(served.values(), key=lambda n: n.network.name):
        forward.setdefault(net.network.zone, [])
        rz, _ = reverse_zone(net)
        reverse.setdefault(rz, [])
    # the name server named in every SOA/NS must resolve inside its own zone
    fe_in_hosts = segs.size(f"fe-zone:{fe.dns_domain}") > 0
    if fe.dns_domain in forward and not fe_in_hosts:
        forward[fe.dns_domain].append(f"{fe.name} IN A {fe.private_ip}")
        fe_ip = ip_to_int(fe.private_ip)
        for net in served.values():
            if net.contains(fe_ip):
                rz, octets = reverse_zone(net)
                reverse[rz].append(
                    f"{_ptr_name(fe_ip, octets)} IN PTR {fe.name}.{fe.dns_domain}.")
    files: list[DesiredFile] = []
    conf = [f"// {HEADER}"]
    zones = ([(z, r, f"fwd:{z}") for z, r in sorted(forward.items())]
             + [(z, r, f"rev:{z}") for z, r in sorted(reverse.items())])
    for zone, records, seg in zones:
        path = zone_path(site, zone)
        nics = segs.joined(seg, "\n")
        lines = [*records, nics] if nics else records
        prev = previous(path) if previous is not None else None
        files.append(DesiredFile(path, _zone_text(site, zone, lines, prev, today), 0o644,
                                 Service.NAMED, SHARED))
        conf.append(f'zone "{zone}" {{ type master; file "/{path}"; notify no; }};')
    conf.append("")
    files.append(DesiredFile(CONF_PATH, "\n".join(conf).encode(), 0o644, Service.NAMED, SHARED))
    return files


def zone_paths(site: Site) -> list[str]:
    """The zone files and the named.conf fragment dns_files writes (a file's path says which
    segment it reads: `fwd:`/`rev:` plus the zone)."""
    served = served_nets(site)
    zones = {n.network.zone for n in served.values()} | {reverse_zone(n)[0]
                                                          for n in served.values()}
    return [zone_path(site, z) for z in sorted(zones)] + [CONF_PATH]
