"""IPMI through pyghmi: power state, chassis power control and the next boot device.

pyghmi keeps its sessions in process-wide state and handles any session's packets in whichever
thread happens to wait, so `IpmiDriver` is meant to be the only pyghmi user of its process, one
BMC at a time: `rocks.power.ipmiproc` runs each one in a child process of its own.
"""

from __future__ import annotations

import contextlib

from rocks.power.model import Action, Bmc, NextBoot, Outcome, PowerError

_BOOTDEV = {NextBoot.PXE: "network", NextBoot.DISK: "hd"}

# pyghmi's words when a login gets no answer (`None`: a session broken without a reason)
_SILENT = ("None", "timeout", "Session failed to initialize", "Session no longer connected",
           "Unable to transmit to specified address")
# ... and when the BMC refuses the login (its RMCP+ status codes; the password check of RAKP 2)
_REFUSED = ("Incorrect password provided", "Unauthorized name", "Invalid username length",
            "Username too long", "Invalid role", "Unauthorized role or privilege level",
            "Invalid integrity check value", "Invalid RAKP4 integrity code",
            "Unauthorized GUID", "Password is too long")
_BUSY = "Insufficient resources to create"


def classify(exc: BaseException) -> PowerError:
    """The outcome of a pyghmi exception: a login that nothing answered, one the BMC refused
    (wrong user name, password, privilege or Kg: always `denied`), or a request that failed."""
    text = str(exc).strip()
    first = text.splitlines()[0][:200] if text else "None"
    if first in _SILENT:
        return PowerError(Outcome.UNREACHABLE, "no answer from the BMC")
    if first.startswith(_REFUSED) or "while requesting privelege level" in first:
        return PowerError(Outcome.DENIED, f"login refused: {first}")  # (pyghmi's spelling)
    if first.startswith(_BUSY):
        return PowerError(Outcome.FAILED, f"the BMC has no free session: {first}")
    return PowerError(Outcome.FAILED, first)


def credential(text: str) -> bytes:
    """A user name or password as pyghmi keys its sessions.

    pyghmi files a session being opened under the credentials as given and takes it off that
    list under their bytes: given as str, a session that ended stays filed and the next one to
    the same BMC in the process is handed the dead one. Given as bytes, both keys agree.
    """
    return text.encode("utf-8")


class IpmiDriver:
    """One logged-in IPMI session (RMCP+); `close()` logs out."""

    def __init__(self, bmc: Bmc, timeout: float) -> None:
        from pyghmi import exceptions as pexc
        from pyghmi.ipmi import command

        self.bmc = bmc
        self.wait = max(1, int(timeout * 0.6))  # report a refusal before our own timeout
        try:
            self.cmd = command.Command(bmc=bmc.address, userid=credential(bmc.username),
                                       password=credential(bmc.password),
                                       port=bmc.port or 623)
        except pexc.PyghmiException as exc:
            raise classify(exc) from None
        except OSError as exc:
            raise PowerError(Outcome.UNREACHABLE, exc.strerror or str(exc)) from None

    def _call(self, fn: str, *args: object, **kw: object) -> dict[str, object]:
        from pyghmi import exceptions as pexc

        try:
            result = getattr(self.cmd, fn)(*args, **kw)
        except pexc.PyghmiException as exc:
            raise classify(exc) from None
        if isinstance(result, dict) and "error" in result:
            raise PowerError(Outcome.FAILED, str(result["error"]))
        return result if isinstance(result, dict) else {}

    def power_state(self) -> str:
        return str(self._call("get_power").get("powerstate", "unknown"))

    def power(self, action: Action) -> None:
        if action is Action.ON:
            self._call("set_power", "on", wait=self.wait)
        elif action is Action.OFF:
            self._call("set_power", "off", wait=self.wait)
        elif action is Action.RESET:
            if self.power_state() != "on":
                raise PowerError(Outcome.FAILED, "cannot reset: the machine is off")
            self._call("set_power", "reset")
        elif action is Action.CYCLE:
            if self.power_state() == "on":
                self._call("set_power", "off", wait=self.wait)
            self._call("set_power", "on", wait=self.wait)

    def next_boot(self, device: NextBoot) -> None:
        self._call("set_bootdev", _BOOTDEV[device], persist=False)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a failed logout changes nothing for the caller
            self.cmd.ipmi_session.logout()
