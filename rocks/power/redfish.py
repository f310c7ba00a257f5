"""Redfish through sushy: the ComputerSystem's power state, its Reset action and its boot
source override."""

from __future__ import annotations

from typing import Any

from rocks.power.model import Action, Bmc, NextBoot, Outcome, PowerError

_STATES = {"On": "on", "Off": "off", "PoweringOn": "powering on",
           "PoweringOff": "powering off", "Paused": "paused"}


def classify(exc: BaseException, timeout: float) -> PowerError:
    import requests
    from sushy import exceptions as sexc

    if isinstance(exc, sexc.AccessError):
        return PowerError(Outcome.DENIED, f"login refused (HTTP {exc.status_code})")
    if isinstance(exc, sexc.ConnectionError):
        cause = exc.__cause__ or exc.__context__  # sushy raises it inside `except`
        if isinstance(cause, requests.exceptions.ReadTimeout):
            return PowerError(Outcome.TIMED_OUT, f"no answer within {timeout:g} s")
        if isinstance(cause, requests.exceptions.SSLError):
            return PowerError(Outcome.ERROR, "TLS verification failed (set bmc_verify to a CA "
                                             "bundle, or no)")
        return PowerError(Outcome.UNREACHABLE, _reason(cause) if cause else "no answer")
    if isinstance(exc, sexc.HTTPError):
        return PowerError(Outcome.FAILED, f"HTTP {exc.status_code}: {exc.detail or exc.message}"
                          [:200])
    return PowerError(Outcome.ERROR, str(exc).splitlines()[0][:200] if str(exc) else repr(exc))


def _reason(cause: BaseException) -> str:
    text = str(cause)
    for marker in ("Connection refused", "timed out", "No route to host",
                   "Network is unreachable", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:160] if text else type(cause).__name__


class RedfishDriver:
    """The one ComputerSystem a BMC manages (or bmc.system), through BasicAuth requests."""

    def __init__(self, bmc: Bmc, timeout: float) -> None:
        import sushy
        from sushy import auth
        from sushy import exceptions as sexc

        self.bmc = bmc
        self.timeout = timeout
        try:
            self.root = sushy.Sushy(bmc.url, verify=bmc.verify,
                                    auth=auth.BasicAuth(bmc.username, bmc.password),
                                    server_side_retries=1, server_side_retries_delay=1,
                                    read_timeout=timeout,
                                    connect_timeout=timeout)
            self.system = self._system()
        except sexc.SushyError as exc:
            raise classify(exc, timeout) from None

    def _system(self) -> Any:
        if self.bmc.system:
            return self.root.get_system(f"/redfish/v1/Systems/{self.bmc.system}")
        members = sorted(self.root.get_system_collection().members_identities)
        if len(members) != 1:
            raise PowerError(Outcome.ERROR, f"the BMC manages {len(members)} systems: set "
                                            "bmc_system to the one of this host")
        return self.root.get_system(members[0])

    def _do(self, fn: Any, *args: Any, **kw: Any) -> Any:
        from sushy import exceptions as sexc

        try:
            return fn(*args, **kw)
        except sexc.SushyError as exc:
            raise classify(exc, self.timeout) from None

    def power_state(self) -> str:
        self._do(self.system.refresh)
        state = self.system.power_state
        value = getattr(state, "value", state)
        return _STATES.get(str(value), str(value).lower())

    def power(self, action: Action) -> None:
        from sushy import ResetType

        allowed = self._do(self.system.get_allowed_reset_system_values)
        state = self.power_state()
        if action is Action.ON:
            reset = ResetType.ON
        elif action is Action.OFF:
            reset = ResetType.FORCE_OFF
        elif action is Action.RESET:
            if state != "on":
                raise PowerError(Outcome.FAILED, "cannot reset: the machine is off")
            reset = ResetType.FORCE_RESTART
        elif ResetType.POWER_CYCLE in allowed:
            reset = ResetType.POWER_CYCLE
        else:
            reset = ResetType.FORCE_RESTART if state == "on" else ResetType.ON
        self._do(self.system.reset_system, reset)

    def next_boot(self, device: NextBoot) -> None:
        from sushy import BootSource, BootSourceOverrideEnabled

        target = BootSource.PXE if device is NextBoot.PXE else BootSource.HDD
        self._do(self.system.set_system_boot_options, target=target,
                 enabled=BootSourceOverrideEnabled.ONCE)

    def close(self) -> None:
        pass
