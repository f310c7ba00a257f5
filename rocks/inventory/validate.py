"""Checking values before they reach the database, and naming the database's own refusals.

Query functions check first so that errors name the host and the value; `integrity_error` is
the safety net that turns a constraint violation the checks missed into a `RocksError`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from rocks.errors import RocksError

if TYPE_CHECKING:
    from sqlalchemy.exc import IntegrityError

_HEX12 = re.compile(r"[0-9a-f]{12}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_RACK_NAME = re.compile(r"rack[0-9]+")


def normalise_mac(mac: str, host: str = "") -> str:
    """`AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`, `AABBCCDDEEFF` … → `aa:bb:cc:dd:ee:ff`."""
    digits = re.sub(r"[:\-.]", "", mac.strip().lower())
    if not _HEX12.fullmatch(digits):
        whose = f" for host {host}" if host else ""
        raise RocksError.of(
            "bad-mac",
            f"{mac!r}{whose} is not an Ethernet MAC address",
            hint="write six hex octets, e.g. 52:54:00:12:34:56",
        )
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_ip(ip: str, host: str = "") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(ip.strip())
    except ValueError:
        whose = f" for host {host}" if host else ""
        raise RocksError.of(
            "bad-ip", f"{ip!r}{whose} is not an IP address", hint="e.g. 10.1.255.254"
        ) from None


def parse_network(
    name: str, subnet: str, netmask: str
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(f"{subnet.strip()}/{netmask.strip()}", strict=True)
    except ValueError as exc:
        raise RocksError.of(
            "bad-network",
            f"network {name}: {subnet}/{netmask} is not a network ({exc})",
            hint="give the network address and its mask, e.g. subnet=10.1.0.0 netmask=255.255.0.0",
        ) from None


def check_zone(network: str, zone: str) -> None:
    """A network's DNS zone goes into dhcpd.conf, Kea, BIND zone files and their names."""
    from rocks.model.attrtypes import check_value

    why = check_value("domain", zone)
    if why:
        raise RocksError.of(
            "bad-zone", f"network {network}: zone {zone!r} is not a DNS domain: {why}",
            hint="e.g. zone=cluster.local (letters, digits and '-' between dots)")


def check_name(kind: str, name: str) -> None:
    """Names end up in host files, DNS and file names: letters, digits, '-' and '_' only."""
    if not _NAME.fullmatch(name):
        raise RocksError.of(
            f"bad-{kind}-name",
            f"{kind} name {name!r} is not valid",
            hint="use letters, digits, '-' and '_', starting with a letter or digit (no dots)",
        )
    if kind == "host" and _RACK_NAME.fullmatch(name):
        raise RocksError.of(
            "bad-host-name",
            f"host name {name!r} is reserved: rackN names select whole racks",
            hint="choose another name",
        )


# (table, columns) as SQLite names them / constraint names as PostgreSQL does → code, what.
_UNIQUE = {
    "interfaces.mac": ("duplicate-mac", "MAC address"),
    "interfaces.network_id, interfaces.ip": ("duplicate-ip", "IP address on that network"),
    "interfaces.host_id, interfaces.device": ("duplicate-interface", "interface"),
    "hosts.name": ("duplicate-host", "host name"),
    "appliances.name": ("duplicate-appliance", "appliance name"),
    "networks.name": ("duplicate-network", "network name"),
    "boot_actions.name": ("duplicate-bootaction", "boot action name"),
    "rolls.name, rolls.version, rolls.arch": ("duplicate-roll", "roll"),
    "attributes": ("duplicate-attr", "attribute"),
    "host_profiles.host_id": ("duplicate-profile", "host profile"),
}


def _constraint_key(name: str) -> str:
    """PostgreSQL's constraint name (uq_interfaces_network_id_ip) → SQLite's column list."""
    for key in _UNIQUE:
        table = key.split(".")[0]
        cols = [c.split(".")[1] for c in key.split(", ")] if "." in key else []
        if name == f"uq_{table}_{'_'.join(cols)}" or (not cols and name.startswith(f"uq_{table}")):
            return key
    if name.startswith("pk_host_profiles"):
        return "host_profiles.host_id"
    return ""


def unknown(kind: str, name: str, hint: str = "") -> RocksError:
    return RocksError.of(
        f"unknown-{kind}", f"no {kind} named {name!r}", hint=hint or f"see `rocks list {kind}`"
    )


def integrity_error(exc: IntegrityError | Exception) -> RocksError:
    """Translate a constraint violation from either backend into a coded RocksError (the
    SQLAlchemy exception, or the driver's own from `rocks.inventory.core`)."""
    orig = getattr(exc, "orig", exc)
    text = str(orig).strip()
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    detail = getattr(diag, "message_detail", None) or ""
    lowered = text.lower()
    if "unique" in lowered or "duplicate key" in lowered:
        key = _constraint_key(constraint) if constraint else ""
        if not key:
            failed = text.split("UNIQUE constraint failed:", 1)[-1].strip()
            key = next((k for k in _UNIQUE if failed == k or failed.startswith(k)), "")
            if not key and failed.startswith("attributes."):
                key = "attributes"
        code, what = _UNIQUE.get(key, ("duplicate", "value"))
        return RocksError.of(
            code,
            f"that {what} is already in the inventory" + (f" ({detail})" if detail else ""),
            hint="remove or change the existing entry first",
        )
    if "foreign key" in lowered:
        return RocksError.of(
            "foreign-key",
            "the change refers to something missing, or removes something still in use"
            + (f" ({detail})" if detail else ""),
            hint="add the referenced entry first, or remove what uses it",
        )
    if "check constraint" in lowered:
        return RocksError.of(
            "invalid-value",
            f"a value is outside what the inventory allows ({constraint or text})",
        )
    if "not null" in lowered or "null value" in lowered:
        return RocksError.of("missing-value", f"a required value is missing ({text})")
    return RocksError.of("integrity", f"the inventory refused the change: {text}")
