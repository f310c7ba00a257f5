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

from rocks.server.status import printable

log = logging.getLogger("rocks.access")


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


def access(path: str, status: int, client: str, reason: str = "", **fields: object) -> None:
    level = logging.INFO if status < 400 else logging.WARNING
    if log.isEnabledFor(level):
        log.log(level, "%s", line(path, status, client, reason, **fields))
