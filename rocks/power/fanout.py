"""Many BMCs at once: at most `parallel` requests in flight, each given `timeout` seconds.

IPMI requests run in worker processes (`rocks.power.ipmiproc`: pyghmi is not safe to drive
from several threads of one process), Redfish requests in threads (sushy keeps no shared
state). A request that overstays its timeout is reported as timed out and no longer counts
against `parallel`: its IPMI worker is killed; a Redfish thread (a daemon) is left to end when
the library gives up. One silent BMC never holds up the others or the command's exit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol as Interface

from rocks.power.model import (
    Action,
    Bmc,
    NextBoot,
    Outcome,
    PowerError,
    PowerResult,
    Protocol,
)

DONE = {Action.ON: "powered on", Action.OFF: "powered off", Action.CYCLE: "power cycled",
        Action.RESET: "reset"}


class Driver(Interface):
    def power_state(self) -> str: ...
    def power(self, action: Action) -> None: ...
    def next_boot(self, device: NextBoot) -> None: ...
    def close(self) -> None: ...


def connect(bmc: Bmc, timeout: float) -> Driver:
    """A logged-in driver for the BMC's protocol (PowerError when that fails)."""
    if bmc.protocol is Protocol.IPMI:
        from rocks.power.ipmi import IpmiDriver

        return IpmiDriver(bmc, timeout)
    from rocks.power.redfish import RedfishDriver

    return RedfishDriver(bmc, timeout)


def perform(bmc: Bmc, action: Action, next_boot: NextBoot | None, timeout: float,
            connector: Callable[[Bmc, float], Driver] = connect) -> PowerResult:
    """One host: set its next boot device (if asked), then the action; never raises."""
    t0 = time.monotonic()
    try:
        driver = connector(bmc, timeout)
        try:
            if next_boot is not None:
                driver.next_boot(next_boot)
            if action is not Action.STATUS:
                driver.power(action)
            state = driver.power_state()
        finally:
            driver.close()
    except PowerError as exc:
        return PowerResult(bmc.host, exc.outcome, detail=bmc.scrub(exc.detail),
                           seconds=time.monotonic() - t0)
    except Exception as exc:  # a library bug on one host must not end the run
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return PowerResult(bmc.host, Outcome.ERROR, detail=bmc.scrub(text),
                           seconds=time.monotonic() - t0)
    text = state if action is Action.STATUS else DONE[action]
    if next_boot is not None:
        text += f", next boot {next_boot}"
    return PowerResult(bmc.host, Outcome.OK, state, text, seconds=time.monotonic() - t0)


def run_power(bmcs: Sequence[Bmc], action: Action, next_boot: NextBoot | None = None, *,
              parallel: int = 64, timeout: float = 30.0,
              on_result: Callable[[PowerResult], None] | None = None,
              connector: Callable[[Bmc, float], Driver] = connect) -> list[PowerResult]:
    """Every BMC's result, in the order given (host names are unique).

    `connector` other than the default runs every request in a thread of this process (tests
    of the schedule use fake drivers that way).
    """
    from rocks.power.ipmiproc import IpmiHub

    done: queue.SimpleQueue[PowerResult] = queue.SimpleQueue()
    results: dict[str, PowerResult] = {}
    active: dict[str, float] = {}  # host -> deadline
    todo = list(bmcs)
    todo.reverse()
    hub: IpmiHub | None = None

    def work(bmc: Bmc) -> None:
        done.put(perform(bmc, action, next_boot, timeout, connector))

    def finish(result: PowerResult) -> None:
        results[result.host] = result
        if on_result is not None:
            on_result(result)

    try:
        while todo or active:
            while todo and len(active) < max(1, parallel):
                bmc = todo.pop()
                active[bmc.host] = time.monotonic() + timeout
                if bmc.protocol is Protocol.IPMI and connector is connect:
                    hub = hub or IpmiHub(done.put)
                    hub.submit(bmc, action, next_boot, timeout)
                    continue
                threading.Thread(target=work, args=(bmc,), name=f"power-{bmc.host}",
                                 daemon=True).start()
            wait = max(0.0, min(active.values()) - time.monotonic())
            try:
                result = done.get(timeout=wait)
            except queue.Empty:
                pass
            else:
                if active.pop(result.host, None) is not None:
                    finish(result)
            now = time.monotonic()
            for host in [h for h, deadline in active.items() if deadline <= now]:
                del active[host]
                if hub is not None:
                    hub.cancel(host)
                finish(PowerResult(host, Outcome.TIMED_OUT,
                                   detail=f"no result within {timeout:g} s", seconds=timeout))
    finally:
        if hub is not None:
            hub.close()
    return [results[b.host] for b in bmcs]
