"""Serial-over-LAN: a node's serial console through its BMC (pyghmi's IPMI SOL).

A Redfish BMC has no console of its own over HTTP; when its Manager advertises an IPMI serial
console, the same address is used for SOL. `Session` is one console; `attach` bridges it to a
terminal with ssh-style escapes (`~.` ends, `~B` sends a break, `~~` sends a `~`), `capture`
records it for a while without a terminal, and `ConsoleLogger` keeps many open at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rocks.power.model import Bmc, Outcome, PowerError, Protocol

ESCAPE = b"~"
HELP = b"\r\n[rocks console: ~. ends the session, ~B sends a break, ~~ sends ~]\r\n"


def sol_endpoint(bmc: Bmc, timeout: float = 10.0) -> Bmc:
    """The IPMI endpoint that carries the BMC's serial console (the BMC itself for IPMI)."""
    if bmc.protocol is Protocol.IPMI:
        return bmc
    from sushy import exceptions as sexc

    from rocks.power.redfish import RedfishDriver, classify

    driver = RedfishDriver(bmc, timeout)
    try:
        managers = sorted(driver.root.get_manager_collection().members_identities)
        offered: set[str] = set()
        for ident in managers:
            serial = driver.root.get_manager(ident).serial_console
            if serial is not None and serial.service_enabled is not False:
                offered |= set(serial.connect_types_supported or ())
    except sexc.SushyError as exc:
        raise classify(exc, timeout) from None
    if "IPMI" not in offered:
        what = ", ".join(sorted(offered)) or "none"
        raise PowerError(Outcome.FAILED, f"the BMC offers no IPMI serial console (offers: {what})")
    return Bmc(bmc.host, Protocol.IPMI, bmc.address, bmc.username, bmc.password)


@dataclass
class Session:
    """One SOL session; bytes from the node go to `sink`, problems to `errors`."""

    bmc: Bmc
    sink: Callable[[bytes], None]
    force: bool = False
    errors: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    _console: object | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> None:
        from pyghmi import exceptions as pexc
        from pyghmi.ipmi import console

        from rocks.power.ipmi import classify, credential

        try:
            self._console = console.Console(self.bmc.address, credential(self.bmc.username),
                                            credential(self.bmc.password), self._handle,
                                            port=self.bmc.port or 623, force=self.force)
        except pexc.PyghmiException as exc:
            raise classify(exc) from None
        except OSError as exc:
            raise PowerError(Outcome.UNREACHABLE, exc.strerror or str(exc)) from None
        if self.errors:
            raise self.failure()

    def failure(self) -> PowerError:
        from rocks.power.ipmi import classify

        return classify(Exception(self.bmc.scrub(self.errors[0])))

    @property
    def broken(self) -> bool:
        return bool(self.errors)

    def _handle(self, data: object) -> None:
        if isinstance(data, dict):
            if "error" in data:
                self.errors.append(str(data["error"]))
            elif "info" in data:
                self.info.append(str(data["info"]))
            return
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        if isinstance(data, (bytes, bytearray)):
            with self._lock:
                self.sink(bytes(data))

    def send(self, data: bytes) -> None:
        if self._console is not None and data:
            self._console.send_data(data)  # type: ignore[attr-defined]

    def send_break(self) -> None:
        if self._console is not None:
            self._console.send_break()  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._console is not None:
            with contextlib.suppress(Exception):  # closing a dead session is not an error
                self._console.close()  # type: ignore[attr-defined]
            self._console = None


def pump(seconds: float) -> None:
    """Let pyghmi deliver what arrived (its callbacks run in the caller's thread)."""
    from pyghmi.ipmi import console

    console.Console.wait_for_rsp(timeout=max(0.0, seconds))


def capture(session: Session, duration: float) -> None:
    """Keep the session open `duration` seconds, sending nothing."""
    end = time.monotonic() + duration
    while not session.broken and (left := end - time.monotonic()) > 0:
        pump(min(left, 0.5))


class Escapes:
    """ssh-style escapes at the start of a line: `~.` ends, `~B` break, `~~` a literal `~`."""

    def __init__(self) -> None:
        self.line_start = True
        self.pending = False

    def feed(self, data: bytes) -> tuple[bytes, str | None]:
        """(bytes to send, "quit" | "break" | None)."""
        out = bytearray()
        for byte in data:
            ch = bytes([byte])
            if self.pending:
                self.pending = False
                if ch == b".":
                    return bytes(out), "quit"
                if ch in (b"B", b"b"):
                    return bytes(out), "break"
                if ch == b"?":
                    os.write(2, HELP)
                    continue
                out += ch if ch == ESCAPE else ESCAPE + ch
            elif self.line_start and ch == ESCAPE:
                self.pending = True
                continue
            else:
                out += ch
            self.line_start = ch in (b"\r", b"\n")
        return bytes(out), None


def attach(session: Session, stdin: BinaryIO, duration: float | None = None) -> str:
    """Bridge the session to `stdin` until `~.`, end of input, a broken session or `duration`;
    returns why it ended."""
    fd = stdin.fileno()
    escapes = Escapes()
    end = None if duration is None else time.monotonic() + duration
    eof = False
    while True:
        if session.broken:
            return "broken"
        if end is not None and time.monotonic() >= end:
            return "duration"
        pump(0.05)
        if eof:
            continue
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        data = os.read(fd, 4096)
        if not data:
            eof = True
            if end is None:
                return "eof"
            continue
        send, command = escapes.feed(data)
        session.send(send)
        if command == "quit":
            return "escape"
        if command == "break":
            session.send_break()


def raw_terminal(fd: int) -> Callable[[], None]:
    """Put a terminal in raw mode; returns what restores it."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class LogFile:
    """A console log that keeps at most about `limit` bytes (the older half goes to .1)."""

    def __init__(self, path: Path, limit: int = 1 << 20) -> None:
        self.path = path
        self.limit = limit
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        self.fh = self._open()

    def _open(self) -> BinaryIO:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab", buffering=0)

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        if self.fh.tell() > self.limit:
            self.fh.close()
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self.fh = self._open()

    def close(self) -> None:
        self.fh.close()


class ConsoleLogger:
    """Keeps one SOL session per wanted host, each appending to <dir>/<host>.log.

    Each session runs in a child process of its own (`python -m rocks.power.console`, the
    BMC's credentials handed over on its standard input, never on a command line): pyghmi's
    sessions share process-wide state that is not safe across threads (see
    rocks.power.ipmiproc), and a child keeps one host's trouble away from the others.
    `update(bmcs)` says which hosts to follow now (others are stopped); a child that ends is
    restarted after `retry` seconds.
    """

    def __init__(self, directory: Path, retry: float = 10.0,
                 report: Callable[[str], None] = lambda _msg: None) -> None:
        self.directory = directory
        self.retry = retry
        self.report = report
        self.watched: dict[str, subprocess.Popen[bytes]] = {}
        self.failed: dict[str, float] = {}  # host -> when to try again

    def update(self, bmcs: dict[str, Bmc]) -> None:
        for host in [h for h in self.watched if h not in bmcs]:
            self._stop(host, "no longer followed")
        for host in [h for h in self.failed if h not in bmcs]:
            del self.failed[host]
        now = time.monotonic()
        for host, bmc in sorted(bmcs.items()):
            child = self.watched.get(host)
            if child is not None and child.poll() is not None:
                del self.watched[host]
                self.report(f"{host}: console session ended (status {child.returncode}); "
                            f"retrying in {self.retry:g} s")
                self.failed[host] = now + self.retry
                child = None
            if child is None and self.failed.get(host, 0.0) <= now:
                self._start(host, bmc)

    def _start(self, host: str, bmc: Bmc) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        log = self.directory / f"{host}.log"
        child = subprocess.Popen([sys.executable, "-m", "rocks.power.console", str(log)],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 start_new_session=True)
        assert child.stdin is not None
        child.stdin.write(json.dumps({
            "host": bmc.host, "protocol": str(bmc.protocol), "address": bmc.address,
            "username": bmc.username, "password": bmc.password, "port": bmc.port,
            "scheme": bmc.scheme, "verify": bmc.verify, "system": bmc.system}).encode())
        child.stdin.close()
        self.failed.pop(host, None)
        self.watched[host] = child
        self.report(f"{host}: logging its console to {log}")

    def _stop(self, host: str, why: str) -> None:
        child = self.watched.pop(host)
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.report(f"{host}: console closed ({why})")

    def close(self) -> None:
        for host in list(self.watched):
            self._stop(host, "logger stopped")


def log_console(log_path: Path, bmc: Bmc) -> int:
    """One host's console into its log until SIGTERM (the logger's child process)."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log = LogFile(log_path)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    session = Session(sol_endpoint(bmc), log.write, force=True)
    try:
        session.open()
    except PowerError as exc:
        sys.stderr.write(f"{bmc.host}: console not opened: {exc.outcome}: "
                         f"{bmc.scrub(exc.detail)}\n")
        log.close()
        return 1
    log.write(f"\r\n=== rocks console log of {bmc.host}, {stamp} UTC ===\r\n".encode())
    try:
        while not stop.is_set() and not session.broken:
            pump(0.2)
    finally:
        session.close()
        log.close()
    if session.broken:
        sys.stderr.write(f"{bmc.host}: console lost: {bmc.scrub(session.errors[0])}\n")
        return 1
    return 0


def _child_main(argv: list[str]) -> int:
    spec = json.loads(sys.stdin.read())
    verify = spec["verify"]
    bmc = Bmc(spec["host"], Protocol(spec["protocol"]), spec["address"], spec["username"],
              spec["password"], spec["port"], spec["scheme"], verify, spec["system"])
    return log_console(Path(argv[0]), bmc)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
