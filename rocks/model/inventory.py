"""The inventory's domain values as the rest of rocks sees them (the database maps to these)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Scope(enum.StrEnum):
    """Attribute scopes in increasing precedence: global < os < appliance < rack < host."""

    GLOBAL = "global"
    OS = "os"
    APPLIANCE = "appliance"
    RACK = "rack"  # the hosts of one rack number (a credential for a rack's BMCs, …)
    HOST = "host"

    @property
    def letter(self) -> str:
        return self.value[0].upper()


SCOPE_PRECEDENCE: tuple[Scope, ...] = (Scope.GLOBAL, Scope.OS, Scope.APPLIANCE, Scope.RACK,
                                       Scope.HOST)


BMC_PROTOCOLS = ("ipmi", "redfish")


class BootState(enum.StrEnum):
    INSTALL = "install"
    OS = "os"


@dataclass(frozen=True, slots=True)
class Appliance:
    name: str
    node: str  # root node of the configuration graph
    kickstartable: bool = True
    public: bool = True  # offered for discovery / shown to admins as a choice
    graph: str = "default"


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    subnet: str  # dotted network address, e.g. 10.1.0.0
    netmask: str  # dotted mask, e.g. 255.255.0.0
    mtu: int = 1500
    zone: str = ""  # DNS zone, e.g. "local"
    servedns: bool = False
    pxe: bool = False
    gateway: str = ""


@dataclass(frozen=True, slots=True)
class Interface:
    host: str
    device: str
    mac: str = ""  # lower-case aa:bb:cc:dd:ee:ff or empty
    ip: str = ""
    network: str = ""
    name: str = ""  # host name on that network; defaults to the host's name
    module: str = ""
    vlan: int | None = None
    options: str = ""
    default_gateway: bool = False
    bmc: str = ""  # the host's BMC: its protocol (ipmi or redfish); empty for other interfaces


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    appliance: str
    rack: int = 0
    rank: int = 0
    os: str = "linux"
    install_action: str = "install"
    run_action: str = "os"
    boot: BootState = BootState.OS
    comment: str = ""
    interfaces: tuple[Interface, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    value: str
    scope: Scope = Scope.GLOBAL
    target: str = ""  # os name, appliance name, rack number or host name; empty for global
    secret: bool = False


@dataclass(frozen=True, slots=True)
class BootAction:
    name: str
    kernel: str
    initrd: str = ""
    args: str = ""


@dataclass(frozen=True, slots=True)
class ResolvedAttributes:
    """A host's attributes after resolution, with the scope each value came from."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Scope | str] = field(default_factory=dict)  # Scope, or "intrinsic"
    secret: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Roll:
    name: str
    version: str
    arch: str = "x86_64"
    os: str = "linux"
    enabled: bool = False
    trusted: bool = False  # may run <eval> on the frontend


@dataclass(frozen=True, slots=True)
class InstallEvent:
    host: str
    time: datetime  # timezone-aware UTC
    stage: str
    message: str = ""
    source: str = ""  # the address the report came from
    frontend: str = ""  # the frontend that stored it


@dataclass(frozen=True, slots=True)
class HostProfile:
    """The profile a host was last given, kept to tell what changed since its install."""

    host: str
    hash: str
    text: str
    time: datetime  # timezone-aware UTC
