"""Running `<eval>` blocks: shell on the frontend, only for trusted rolls, bounded and cached.

Rocks ran them inline during every kickstart request; we run them when a profile is compiled,
in a subprocess with a timeout, with the host's attributes in its environment, and cache the
output by everything it could depend on.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rocks.errors import RocksError, SourceLocation

SHELLS = {"sh": "/bin/sh", "bash": "/bin/bash", "python": "/usr/bin/python3"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class EvalRunner:
    timeout: float = 30.0
    cache: dict[str, str] = field(default_factory=dict)

    def run(
        self, shell: str, script: str, attrs: Mapping[str, str], cwd: Path,
        location: SourceLocation,
    ) -> str:
        argv = [SHELLS.get(shell, shell)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        env.update({k: v for k, v in attrs.items() if _ENV_NAME.match(k)})
        key = hashlib.sha256(
            repr((argv, script, sorted(env.items()), str(cwd))).encode()
        ).hexdigest()
        if key in self.cache:
            return self.cache[key]
        try:
            proc = subprocess.run(
                argv, input=script, capture_output=True, text=True, timeout=self.timeout,
                cwd=cwd if cwd.is_dir() else None, env=env, check=False,
            )
        except FileNotFoundError:
            raise RocksError.of(
                "eval-failed", f'eval shell "{shell}" not found', location,
            ) from None
        except subprocess.TimeoutExpired:
            raise RocksError.of(
                "eval-timeout", f"eval did not finish within {self.timeout:g} s", location,
            ) from None
        if proc.returncode != 0:
            err = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RocksError.of(
                "eval-failed", f"eval exited with status {proc.returncode}: {err}", location,
            )
        self.cache[key] = proc.stdout
        return proc.stdout
