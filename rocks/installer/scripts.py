"""Running kickstart scripts as Anaconda does: %pre and %post --nochroot in the installer's own
environment, %post chrooted into the installed system, each with its interpreter (default
/bin/sh), its output written to its --log file, and its exit status kept.

The node file and line a script came from is read from its first `# rocks: …` comment (every
script the rocks compiler emits starts with one), so failures name the roll's source.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_INTERPRETER = "/bin/sh"  # what Anaconda runs a script with when none is named
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_ORIGIN = re.compile(r"^#\s*rocks:\s*(\S+)", re.M)


@dataclass(frozen=True, slots=True)
class KsScript:
    kind: str  # pre | pre-install | post
    body: str
    interpreter: str = ""
    chroot: bool = True  # for %post: run inside the installed system
    log: str = ""  # --log: inside the installed system for chrooted scripts
    error_on_fail: bool = False
    lineno: int = 0  # line of the kickstart the script starts at

    @property
    def interp(self) -> str:
        return self.interpreter or DEFAULT_INTERPRETER

    @property
    def origin(self) -> str:
        """`roll:file:line` from the script's provenance comment, else its kickstart line."""
        m = _ORIGIN.search(self.body)
        return m.group(1) if m else f"kickstart line {self.lineno}"

    @property
    def title(self) -> str:
        flag = " --nochroot" if self.kind == "post" and not self.chroot else ""
        return f"%{self.kind}{flag} {self.origin}"


@dataclass(frozen=True, slots=True)
class ScriptResult:
    script: KsScript
    status: int | None  # exit status; None when it was not run
    output: str
    seconds: float = 0.0
    note: str = ""  # why it was not run, or what went wrong around it

    @property
    def ok(self) -> bool:
        return self.status == 0 or (self.status is None and not self.note.startswith("error"))

    @property
    def label(self) -> str:
        if self.status is None:
            return "skipped" if self.ok else "error"
        return "ok" if self.status == 0 else f"exit {self.status}"

    def summary(self, lines: int = 3) -> str:
        """One line for an event or a test failure: what, where, how it ended, its last output."""
        tail = " | ".join(ln.strip() for ln in self.output.strip().splitlines()[-lines:]
                          if ln.strip())
        text = f"{self.script.title}: {self.label}"
        if self.note:
            text += f" ({self.note})"
        return f"{text}: {tail}" if tail else text


def run_script(script: KsScript, *, root: Path | None = None, timeout: float = 3600.0,
               env: Mapping[str, str] | None = None) -> ScriptResult:
    """Run one script. With `root`, a chrooted script runs inside it (its --log too);
    without, or for --nochroot and %pre, it runs here. Output is kept whatever happens."""
    chrooted = root is not None and script.chroot and script.kind == "post"
    interp = script.interp
    base = Path(root) if chrooted and root is not None else Path("/")
    if not (base / interp.lstrip("/")).exists():
        where = "the installed system" if chrooted else "the installer"
        return ScriptResult(script, 127, "", 0.0, f"error: interpreter {interp} is not in {where}")
    tmpdir = base / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="ks-script-", dir=tmpdir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(script.body)
    os.chmod(name, 0o700)
    inside = "/tmp/" + os.path.basename(name)
    argv = ["chroot", str(base), interp, inside] if chrooted else [interp, name]
    run_env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb",
               **(env or {})}
    t0 = time.monotonic()
    note = ""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=run_env, cwd="/",
                                start_new_session=True)
        try:
            raw, _ = proc.communicate(timeout=timeout)
            status: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raw, _ = proc.communicate()
            status, note = 124, f"error: still running after {timeout:.0f} s, killed"
    except OSError as exc:
        raw, status, note = b"", 127, f"error: cannot run {interp}: {exc.strerror}"
    finally:
        os.unlink(name)
    output = raw.decode("utf-8", errors="replace")
    if script.log:
        _write_log(base if chrooted else Path("/"), script.log, output)
    return ScriptResult(script, status, output, time.monotonic() - t0, note)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _write_log(base: Path, log: str, output: str) -> None:
    path = base / log.lstrip("/")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(output)
    except OSError:
        pass  # Anaconda too carries on when a script's log cannot be written
