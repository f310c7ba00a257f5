"""The frontend's access log: one line per node request — kickstart, install event, package
fetch, iPXE script — and per refusal, with the reason, in one journald-friendly shape:

    served path=/install/kickstart status=200 client=10.1.255.254 host=compute-0-0 bytes=10423
    refused path=/install/events status=403 reason=missing-or-invalid-token client=10.1.255.9

`key=value` words after a verb (served, refused, failed), no colours, no quotes unless a value
needs them; values from the network have control characters escaped (status.printable), so a
line is always one line. Logged through `rocks.access` to stderr, which journald captures under
the systemd unit (frontend/rocks-frontend.service).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from rocks.server.status import printable

log = logging.getLogger("rocks.access")
# what rocks.server.run.configure_logging sets up: one line per record on stderr
FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"


def _value(value: object) -> str:
    text = printable(str(value))
    if not text:
        return "-"
    if any(c in text for c in ' "=\\'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def line(path: str, status: int, client: str, reason: str = "", **fields: object) -> str:
    """The log line of one request (its verb from the status: served, refused or failed)."""
    verb = "served" if status < 400 else ("failed" if status >= 500 and not reason
                                          else "refused")
    words = [verb, f"path={_value(path)}", f"status={status}"]
    if reason:
        words.append(f"reason={_value(reason.replace(' ', '-'))}")
    words.append(f"client={_value(client)}")
    words.extend(f"{k}={_value(v)}" for k, v in fields.items() if v is not None)
    return " ".join(words)


def access(path: str, status: int, client: str, reason: str = "", *, deferred: bool = False,
           **fields: object) -> None:
    """Log one request. `deferred`: keep the line until `flush` (the node fast path writes
    the lines of a loop iteration in one write, just before the responses they describe)."""
    level = logging.INFO if status < 400 else logging.WARNING
    if not log.isEnabledFor(level):
        return
    text = line(path, status, client, reason, **fields)
    handler = _plain_handler()
    if handler is None:
        log.log(level, "%s", text)
        return
    # the line the handler would write, without a LogRecord: a node request pays for its log
    # line a few microseconds instead of a dozen (the format is configure_logging's)
    out = f"{_clock.now(handler)} {logging.getLevelName(level)} {log.name}[{_PID[0]}] {text}"
    if deferred:
        _DEFERRED.append((level, out))
        return
    _write(handler, out + handler.terminator)


_DEFERRED: list[tuple[int, str]] = []


def flush() -> None:
    """Write the deferred lines, in one piece."""
    if not _DEFERRED:
        return
    lines = _DEFERRED[:]
    _DEFERRED.clear()
    handler = _plain_handler()
    if handler is None:  # the configuration changed meanwhile: the logging module writes
        for level, out in lines:
            log.log(level, "%s", out.split("] ", 1)[-1])
        return
    end = handler.terminator
    _write(handler, "".join(out + end for _, out in lines))


def _write(handler: logging.StreamHandler[Any], text: str) -> None:
    with handler.lock:  # type: ignore[union-attr]
        try:
            stream = handler.stream
            stream.write(text)
            stream.flush()
        except Exception:  # as logging does: a broken stream never fails the request
            handler.handleError(logging.makeLogRecord({"msg": text}))


_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


class _Clock:
    """logging.Formatter.formatTime's default text (local time, milliseconds), the date and
    time formatted once a second."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def now(self, handler: logging.StreamHandler[Any]) -> str:
        formatter = handler.formatter
        assert formatter is not None
        t = time.time()
        second = int(t)
        if second != self.second:
            self.second = second
            self.text = time.strftime(formatter.default_time_format, formatter.converter(t))
        msec = formatter.default_msec_format
        return msec % (self.text, int((t - second) * 1000)) if msec else self.text


_clock = _Clock()


def _plain_handler() -> logging.StreamHandler[Any] | None:
    """The root's one stream handler with the server's format, when the access log goes
    nowhere else and nothing filters it (else the logging module writes the line)."""
    root = logging.getLogger()
    if log.handlers or log.filters or not log.propagate or len(root.handlers) != 1 \
            or root.filters:
        return None
    handler = root.handlers[0]
    if type(handler) is not logging.StreamHandler or handler.filters \
            or handler.level > logging.INFO or handler.formatter is None \
            or handler.formatter._fmt != FORMAT or handler.formatter.datefmt is not None \
            or handler.lock is None:
        return None
    return handler
