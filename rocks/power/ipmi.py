"""IPMI through pyghmi: power state, chassis power control and the next boot device."""

from __future__ import annotations

import contextlib
import re

from rocks.power.model import Action, Bmc, NextBoot, Outcome, PowerError

_DENIED = re.compile(r"password|unauthori[sz]ed|privilege|user ?name|RAKP|integrity", re.I)
_UNREACHABLE = re.compile(r"^(None|timeout|Session failed to initialize|"
                          r"Session no longer connected)$", re.I)
_BOOTDEV = {NextBoot.PXE: "network", NextBoot.DISK: "hd"}


def classify(exc: BaseException) -> PowerError:
    """The outcome of a pyghmi exception (login problems are denials or silence)."""
    text = str(exc) if str(exc) else "None"
    first = text.splitlines()[0][:200] if text.strip() else "None"
    if _UNREACHABLE.match(first):
        return PowerError(Outcome.UNREACHABLE, "no answer from the BMC")
    if _DENIED.search(first):
        return PowerError(Outcome.DENIED, f"login refused: {first}")
    return PowerError(Outcome.FAILED, first)


class IpmiDriver:
    """One logged-in IPMI session (RMCP+); `close()` logs out."""

    def __init__(self, bmc: Bmc, timeout: float) -> None:
        from pyghmi import exceptions as pexc
        from pyghmi.ipmi import command

        self.bmc = bmc
        self.wait = max(1, int(timeout * 0.6))  # report a refusal before our own timeout
        try:
            self.cmd = command.Command(bmc=bmc.address, userid=bmc.username,
                                       password=bmc.password, port=bmc.port or 623)
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
