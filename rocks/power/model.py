"""The values of the power layer: what to do, to which BMC, and how each host's request ended."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Protocol(enum.StrEnum):
    IPMI = "ipmi"
    REDFISH = "redfish"


class Action(enum.StrEnum):
    STATUS = "status"
    ON = "on"
    OFF = "off"
    CYCLE = "cycle"  # off, then on (on when it was off)
    RESET = "reset"  # hard reset of a running machine


class NextBoot(enum.StrEnum):
    PXE = "pxe"
    DISK = "disk"


class Outcome(enum.StrEnum):
    """How one host's request ended. Only OK counts as success."""

    OK = "ok"
    NO_BMC = "no bmc"  # the inventory has no usable BMC for the host
    DENIED = "denied"  # the BMC refused the credentials
    UNREACHABLE = "unreachable"  # nothing answered at the BMC's address
    TIMED_OUT = "timed out"  # no result within the per-host timeout
    FAILED = "failed"  # the BMC answered but did not do what was asked
    ERROR = "error"  # anything else (the detail says what)


OUTCOME_ORDER: tuple[Outcome, ...] = tuple(Outcome)
DEFAULT_PORTS = {Protocol.IPMI: 623}


@dataclass(frozen=True, slots=True)
class Bmc:
    """One host's BMC as the power layer needs it. `password` never shows in a repr."""

    host: str
    protocol: Protocol
    address: str
    username: str = ""
    password: str = field(default="", repr=False)
    port: int | None = None  # None: the protocol's default (623; Redfish: the scheme's)
    scheme: str = "https"  # Redfish only
    verify: bool | str = True  # Redfish only: TLS verification (or a CA bundle path)
    system: str = ""  # Redfish only: the system's id; empty: the one system the BMC has

    @property
    def endpoint(self) -> str:
        """Where the BMC is, for messages: `ipmi 10.2.0.1:623`, `redfish https://10.2.0.1`."""
        if self.protocol is Protocol.IPMI:
            return f"ipmi {self.address}:{self.port or 623}"
        return f"redfish {self.url}"

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")

    def scrub(self, text: str) -> str:
        """`text` with the password (and the user name next to it) masked."""
        if self.password:
            text = text.replace(self.password, "********")
        return text


class PowerError(Exception):
    """A request that did not succeed, classified."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PowerResult:
    host: str
    outcome: Outcome
    state: str = ""  # the machine's power state as the BMC last reported it: on, off, …
    text: str = ""  # what happened, for the grouped report (`on`, `powered off`, …)
    detail: str = ""  # why, for outcomes other than OK (one line, credentials scrubbed)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK
