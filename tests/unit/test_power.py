"""The power layer's pure logic: the bounded fan-out with per-host timeouts (fake drivers),
the console's escape sequences, the grouped report, and a BMC read from the inventory's facts.
The protocols themselves are tested against real simulators in tests/integration."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rocks.commands._power import bmc_of
from rocks.errors import RocksError
from rocks.model.inventory import Interface, ResolvedAttributes
from rocks.power.console import Escapes
from rocks.power.fanout import run_power
from rocks.power.model import Action, Bmc, NextBoot, Outcome, PowerError, PowerResult, Protocol
from rocks.power.report import grouped, problems, summary

SECRET = "pw-Secr3t"


class FakeDriver:
    live = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, bmc: Bmc, timeout: float) -> None:
        self.bmc = bmc
        if bmc.host.startswith("denied"):
            raise PowerError(Outcome.DENIED, f"password {SECRET} refused")
        with FakeDriver.lock:
            FakeDriver.live += 1
            FakeDriver.peak = max(FakeDriver.peak, FakeDriver.live)
        self.calls: list[str] = []

    def power_state(self) -> str:
        if self.bmc.host.startswith("slow"):
            time.sleep(3)
        if self.bmc.host.startswith("boom"):
            raise ValueError(f"library bug with {SECRET}")
        time.sleep(0.05)
        return "on"

    def power(self, action: Action) -> None:
        self.calls.append(str(action))

    def next_boot(self, device: NextBoot) -> None:
        self.calls.append(f"boot {device}")

    def close(self) -> None:
        with FakeDriver.lock:
            FakeDriver.live -= 1


def _bmcs(*names: str) -> list[Bmc]:
    return [Bmc(n, Protocol.IPMI, "10.2.0.1", "admin", SECRET) for n in names]


def test_fan_out_is_bounded_keeps_order_and_isolates_failures() -> None:
    FakeDriver.peak = 0
    names = [f"c-{i}" for i in range(20)] + ["denied-0", "slow-0", "boom-0"]
    seen: list[str] = []
    t0 = time.monotonic()
    results = run_power(_bmcs(*names), Action.ON, NextBoot.PXE, parallel=4, timeout=1.0,
                        connector=FakeDriver, on_result=lambda r: seen.append(r.host))
    took = time.monotonic() - t0
    assert [r.host for r in results] == names
    assert sorted(seen) == sorted(names)
    assert FakeDriver.peak <= 4
    by = {r.host: r for r in results}
    assert all(by[f"c-{i}"].outcome is Outcome.OK for i in range(20))
    assert by["c-0"].text == "powered on, next boot pxe" and by["c-0"].state == "on"
    assert by["denied-0"].outcome is Outcome.DENIED
    assert by["slow-0"].outcome is Outcome.TIMED_OUT
    assert by["boom-0"].outcome is Outcome.ERROR and "ValueError" in by["boom-0"].detail
    assert took < 2.9, "the slow host held up the run"  # not a timing test: 3 s is the hang
    for r in results:
        assert SECRET not in r.detail + r.text


def test_bmc_repr_and_scrub_hide_the_password() -> None:
    bmc = _bmcs("c-0")[0]
    assert SECRET not in repr(bmc)
    assert bmc.scrub(f"login {SECRET} failed") == "login ******** failed"
    assert bmc.endpoint == "ipmi 10.2.0.1:623"
    rf = Bmc("r", Protocol.REDFISH, "fd00::5", scheme="http", port=8000)
    assert rf.endpoint == "redfish http://[fd00::5]:8000"


@pytest.mark.parametrize(("keys", "sent", "command"), [
    (b"ls\r", b"ls\r", None),
    (b"~.", b"", "quit"),
    (b"ab~.", b"ab~.", None),  # not at the start of a line
    (b"x\r~.", b"x\r", "quit"),
    (b"~~x", b"~x", None),
    (b"~B", b"", "break"),
    (b"~z", b"~z", None),
])
def test_escapes_at_the_start_of_a_line(keys: bytes, sent: bytes, command: str | None) -> None:
    assert Escapes().feed(keys) == (sent, command)


def test_escape_split_over_reads() -> None:
    e = Escapes()
    assert e.feed(b"~") == (b"", None)
    assert e.feed(b".") == (b"", "quit")


def test_report_groups_and_summarises() -> None:
    results = [PowerResult("c-0-1", Outcome.OK, "on", "on"),
               PowerResult("c-0-0", Outcome.OK, "on", "on"),
               PowerResult("c-0-2", Outcome.OK, "off", "off"),
               PowerResult("c-0-10", Outcome.DENIED, detail="login refused"),
               PowerResult("c-0-9", Outcome.DENIED, detail="login refused"),
               PowerResult("n-1", Outcome.NO_BMC, detail="no interface")]
    assert grouped(results) == "----- c-0-[0-1] -----\non\n----- c-0-2 -----\noff\n"
    assert problems(results) == ["c-0-9: denied: login refused",
                                 "c-0-10: denied: login refused", "n-1: no bmc: no interface"]
    assert summary(results) == "ok 3, no bmc 1 (n-1), denied 2 (c-0-[9-10])"


def _attrs(**values: str) -> ResolvedAttributes:
    return ResolvedAttributes(dict(values))


def test_bmc_from_the_inventory() -> None:
    ipmi = Interface("c-0-0", "ipmi", ip="10.2.0.10", network="ipmi", bmc="ipmi")
    bmc = bmc_of("c-0-0", [ipmi], _attrs(bmc_username="root", bmc_password=SECRET))
    assert (bmc.protocol, bmc.address, bmc.port, bmc.username) == (
        Protocol.IPMI, "10.2.0.10", None, "root")
    rf = Interface("c-0-0", "bmc", ip="10.2.0.10", bmc="redfish")
    bmc = bmc_of("c-0-0", [rf], _attrs(bmc_port="8443", bmc_verify="/etc/ca.pem",
                                       bmc_system="1"))
    assert (bmc.url, bmc.verify, bmc.system) == ("https://10.2.0.10:8443", "/etc/ca.pem", "1")
    assert bmc_of("c-0-0", [rf], _attrs(bmc_verify="no")).verify is False
    for ifaces, attrs, message in [
        ([], {}, "no interface marked as its BMC"),
        ([ipmi, rf], {}, "several interfaces"),
        ([Interface("c-0-0", "ipmi", bmc="ipmi")], {}, "has no address"),
        ([ipmi], {"bmc_port": "70000"}, "not a port number"),
        ([rf], {"bmc_scheme": "ftp"}, "not https or http"),
    ]:
        with pytest.raises(RocksError) as err:
            bmc_of("c-0-0", ifaces, _attrs(**attrs))
        assert message in err.value.first.message


def test_console_log_keeps_its_tail_and_is_private(tmp_path: Path) -> None:
    from rocks.power.console import LogFile

    log = LogFile(tmp_path / "console" / "c-0-0.log", limit=1000)
    for i in range(30):
        log.write(f"line {i:03d} {'x' * 90}\n".encode())
    log.close()
    path = tmp_path / "console" / "c-0-0.log"
    older = path.with_name("c-0-0.log.1")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert path.stat().st_size <= 1000 and older.stat().st_size > 1000 - 100
    assert b"line 029" in path.read_bytes() and b"line 000" not in path.read_bytes() + \
        older.read_bytes()


def _rmcp(code: int) -> str:
    from pyghmi.ipmi.private import constants

    return str(constants.rmcp_codes[code])


@pytest.mark.parametrize(("message", "outcome"), [
    # the BMC refused the credentials: always denied, whatever step of the login said so
    ("Incorrect password provided", Outcome.DENIED),  # RAKP 2's check of the password
    (f"{_rmcp(0x0d)} in RAKP2", Outcome.DENIED),  # unknown user name
    (f"{_rmcp(0x09)} in RAKP2", Outcome.DENIED),
    (f"{_rmcp(0x0a)} in RAKP2", Outcome.DENIED),
    (f"{_rmcp(0x0f)} reported in RAKP4", Outcome.DENIED),
    ("Invalid RAKP4 integrity code (wrong Kg?)", Outcome.DENIED),
    ("Insufficient privilege level while requesting privelege level 4 for b'op'",
     Outcome.DENIED),
    ("Username too long for IPMI, must not exceed 16", Outcome.DENIED),
    # nothing (or nothing more) came back
    ("None", Outcome.UNREACHABLE),
    ("", Outcome.UNREACHABLE),
    ("timeout", Outcome.UNREACHABLE),
    ("Session no longer connected", Outcome.UNREACHABLE),
    ("Session failed to initialize", Outcome.UNREACHABLE),
    # the BMC answered, and said no
    (_rmcp(0x01), Outcome.FAILED),
    ("Node busy, command could not be processed", Outcome.FAILED),
])
def test_pyghmi_failures_are_classified(message: str, outcome: Outcome) -> None:
    from pyghmi import exceptions as pexc

    from rocks.power.ipmi import classify

    got = classify(pexc.IpmiException(message))
    assert got.outcome is outcome, got.detail
    if message.startswith("Insufficient resources"):
        assert got.detail.startswith("the BMC has no free session")
