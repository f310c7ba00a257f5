"""IPMI requests in child processes, each process the only pyghmi user of its own.

pyghmi keeps every session of a process in class-wide tables and hands a session's packets to
whichever thread is waiting at the time, so threads driving several BMCs race in it: a refused
login sometimes ends in an AttributeError, and two sessions to one BMC can take the same
socket and answer each other's replies (a good BMC then hangs). Here no two requests ever share
a pyghmi: a helper process (`python -m rocks.power.ipmiproc`, the *hub*) forks one worker per
request in flight; a worker runs one request at a time (`fanout.perform` with `IpmiDriver`) and
is reused for the next. The hub is single-threaded and never opens a session itself, so forking
from it is safe at any time; a worker whose request overstays is killed, not left running.

The caller (`IpmiHub`, used by `fanout.run_power`) keeps the schedule: it submits a request
when a slot is free, and cancels one whose time is up. JSON lines over pipes in both
directions; credentials travel there, never on a command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from rocks.power.model import Action, Bmc, NextBoot, Outcome, PowerResult, Protocol


def _bmc_json(bmc: Bmc) -> dict[str, Any]:
    return {f.name: getattr(bmc, f.name) for f in dataclasses.fields(bmc)}


def _bmc_from(data: dict[str, Any]) -> Bmc:
    return Bmc(**{**data, "protocol": Protocol(data["protocol"])})


def _result_json(result: PowerResult) -> dict[str, Any]:
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


def _result_from(data: dict[str, Any]) -> PowerResult:
    return PowerResult(**{**data, "outcome": Outcome(data["outcome"])})


def _ended(host: str, why: str) -> PowerResult:
    return PowerResult(host, Outcome.ERROR, detail=why)


class IpmiHub:
    """The caller's side: the hub process, started now; results go to `deliver` (called from a
    reader thread). `submit`, `cancel` and `close` belong to one thread, the scheduler's."""

    def __init__(self, deliver: Callable[[PowerResult], None]) -> None:
        self.deliver = deliver
        self.pending: set[str] = set()  # hosts submitted and not yet answered or cancelled
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, "-m", "rocks.power.ipmiproc"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,),
                                       name="ipmi-hub-reader", daemon=True)
        self.reader.start()

    def _read(self, out: IO[bytes]) -> None:
        for line in out:
            try:
                result = _result_from(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # not ours (nothing else writes there)
            with self.lock:
                if result.host not in self.pending:
                    continue  # cancelled meanwhile
                self.pending.discard(result.host)
            self.deliver(result)
        status = self.proc.wait()
        with self.lock:
            lost, self.pending = sorted(self.pending), set()
        for host in lost:
            self.deliver(_ended(host, f"the IPMI helper process ended (status {status})"))

    def _send(self, message: dict[str, Any]) -> bool:
        try:
            self.stdin.write(json.dumps(message).encode() + b"\n")
            self.stdin.flush()
        except (OSError, ValueError):  # the hub is gone (its reader reports what was pending)
            return False
        return True

    def submit(self, bmc: Bmc, action: Action, next_boot: NextBoot | None,
               timeout: float) -> None:
        with self.lock:
            self.pending.add(bmc.host)
        task = {"op": "run", "bmc": _bmc_json(bmc), "action": str(action),
                "next_boot": None if next_boot is None else str(next_boot), "timeout": timeout}
        if not self._send(task):
            with self.lock:
                if bmc.host not in self.pending:
                    return
                self.pending.discard(bmc.host)
            self.deliver(_ended(bmc.host, "the IPMI helper process is not running"))

    def cancel(self, host: str) -> None:
        """Forget the request and end its worker (its timeout passed)."""
        with self.lock:
            if host not in self.pending:
                return
            self.pending.discard(host)
        self._send({"op": "cancel", "host": host})

    def close(self, wait: float = 10.0) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stdin.close()
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=wait)


# ---- the hub process ---------------------------------------------------------------------

class _Lines:
    """Whole lines from a non-blocking descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        os.set_blocking(fd, False)

    def read(self) -> list[bytes] | None:
        """The complete lines that arrived; None at end of input."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            return None
        *lines, self.buf = (self.buf + data).split(b"\n")
        return lines


@dataclasses.dataclass
class _Worker:
    pid: int
    sock: socket.socket
    lines: _Lines
    host: str | None = None  # the request it is running


def _worker(sock: socket.socket) -> int:
    """A worker's life: requests in, results out, one at a time, until the hub hangs up."""
    from rocks.power.fanout import perform

    stream = sock.makefile("rwb")
    for line in stream:
        task = json.loads(line)
        bmc = _bmc_from(task["bmc"])
        next_boot = None if task["next_boot"] is None else NextBoot(task["next_boot"])
        result = perform(bmc, Action(task["action"]), next_boot, float(task["timeout"]))
        stream.write(json.dumps(_result_json(result)).encode() + b"\n")
        stream.flush()
        if result.outcome is Outcome.ERROR:
            return 0  # something unforeseen in pyghmi: a fresh process takes the next request
    return 0


class _Hub:
    def __init__(self, inp: int, out: IO[bytes]) -> None:
        self.inp = _Lines(inp)
        self.out = out
        self.sel = selectors.DefaultSelector()
        self.sel.register(inp, selectors.EVENT_READ, None)
        self.idle: list[_Worker] = []
        self.busy: dict[str, _Worker] = {}
        self.closing = False

    def _fork(self) -> _Worker:
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the worker: keep only its own end of its own socket (and stderr)
            code = 70
            try:
                mine.close()
                self.sel.close()
                for w in [*self.idle, *self.busy.values()]:
                    w.sock.close()
                self.out.close()
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)  # (the hub's input)
                os.dup2(devnull, 1)  # pyghmi prints now and then: not into a protocol
                code = _worker(theirs)
            finally:
                os._exit(code)
        theirs.close()
        worker = _Worker(pid, mine, _Lines(mine.fileno()))
        self.sel.register(mine, selectors.EVENT_READ, worker)
        return worker

    def _drop(self, worker: _Worker, kill: bool) -> int:
        self.sel.unregister(worker.sock)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        worker.sock.close()
        _pid, status = os.waitpid(worker.pid, 0)
        return status

    def _emit(self, result: PowerResult) -> None:
        self.out.write(json.dumps(_result_json(result)).encode() + b"\n")
        self.out.flush()

    def _command(self, line: bytes) -> None:
        message = json.loads(line)
        if message["op"] == "cancel":
            worker = self.busy.pop(message["host"], None)
            if worker is not None:
                self._drop(worker, kill=True)
            return
        host = message["bmc"]["host"]
        worker = self.idle.pop() if self.idle else self._fork()
        worker.host = host
        self.busy[host] = worker
        with contextlib.suppress(OSError):  # it died while idle: its end of input tells
            worker.sock.sendall(line + b"\n")

    def _from_worker(self, worker: _Worker) -> None:
        lines = worker.lines.read()
        if lines is None:  # it ended
            status = self._drop(worker, kill=False)
            if worker in self.idle:
                self.idle.remove(worker)
            if worker.host is not None and self.busy.get(worker.host) is worker:
                del self.busy[worker.host]
                why = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                       else f"status {os.WEXITSTATUS(status)}")
                self._emit(_ended(worker.host, f"the IPMI worker process ended ({why})"))
            return
        for line in lines:
            result = _result_from(json.loads(line))
            if self.busy.get(result.host) is worker:
                del self.busy[result.host]
                worker.host = None
                self.idle.append(worker)
                self._emit(result)

    def run(self) -> int:
        while not self.closing or self.busy:
            for key, _events in self.sel.select():
                if key.data is None:
                    lines = self.inp.read()
                    if lines is None:  # the caller is done (or gone)
                        self.sel.unregister(self.inp.fd)
                        self.closing = True
                        for worker in self.busy.values():
                            self._drop(worker, kill=True)
                        self.busy.clear()
                        continue
                    for line in lines:
                        self._command(line)
                else:
                    self._from_worker(key.data)
        for worker in self.idle:
            self._drop(worker, kill=False)  # end of input ends it
        return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides when to stop
    # what a worker needs, loaded once and shared by every worker forked (copy-on-write;
    # frozen, the collector leaves those objects, and their pages, alone)
    import encodings.idna  # noqa: F401 - pyghmi resolves the BMC's address
    import gc

    import pyghmi.ipmi.command  # noqa: F401

    import rocks.power.fanout
    import rocks.power.ipmi  # noqa: F401

    gc.freeze()

    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing but results goes to the caller
    return _Hub(0, out).run()


if __name__ == "__main__":
    sys.exit(main())
