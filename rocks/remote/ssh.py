"""Running one command on many nodes with the system OpenSSH client, in parallel and bounded.

Each node is one `ssh` subprocess (BatchMode, strict host keys against rocks' own known_hosts,
keyed by host name through HostKeyAlias); at most `parallel` run at once and each is killed when
its `timeout` passes, so a dead or hung node never holds up the others.
"""

from __future__ import annotations

import asyncio
import enum
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rocks.errors import RocksError

KEY_NAME = "cluster_ed25519"


class Outcome(enum.StrEnum):
    """How one node's run ended. Only OK counts as success."""

    OK = "ok"
    FAILED = "failed"  # the command ran and exited non-zero
    UNREACHABLE = "unreachable"  # no TCP connection to sshd
    TIMED_OUT = "timed out"  # killed after `timeout` seconds
    HOST_KEY = "host key mismatch"  # the node's key differs from the recorded one
    UNKNOWN_KEY = "unknown host key"  # no recorded key and strict checking asked for
    DENIED = "denied"  # sshd refused the login
    REFUSED = "refused"  # not attempted: the node's access rules exclude the caller
    NO_ADDRESS = "no address"  # the inventory has no address for the node
    ERROR = "ssh error"  # any other failure of ssh itself


# Order in which outcomes are listed in a summary.
OUTCOME_ORDER: tuple[Outcome, ...] = tuple(Outcome)


@dataclass(frozen=True, slots=True)
class Target:
    """A node to reach: its rocks name (also the known_hosts alias), address and SSH port."""

    host: str
    address: str
    port: int = 22


@dataclass(frozen=True, slots=True)
class HostResult:
    host: str
    outcome: Outcome
    exit_status: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    detail: str = ""  # why, for outcomes other than OK/FAILED (one line)

    @property
    def connected(self) -> bool:
        """sshd accepted us and the command ran (whatever its exit status)."""
        return self.outcome in (Outcome.OK, Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class SshConfig:
    known_hosts: Path
    identity: Path | None = None  # None: the caller's own keys and ssh-agent
    user: str | None = "root"  # None: the caller's own login name
    timeout: float = 30.0
    connect_timeout: float = 10.0
    # "yes": a node must already be in known_hosts; "accept-new": learn unknown keys on first
    # contact (a changed key is refused either way).
    host_key_checking: str = "yes"
    ssh: str = "ssh"


def cluster_key(state: Path) -> Path:
    """The frontend's cluster key (private half), created with ssh-keygen on first use."""
    from rocks.inventory.db import private_dir, private_file

    key = state / "ssh" / KEY_NAME
    private_dir(state)
    private_dir(key.parent)
    if key.exists():
        private_file(key)
        return key
    try:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rocks cluster key",
             "-f", str(key)],
            check=True, capture_output=True, text=True, timeout=30,
        )
    except FileNotFoundError as exc:
        raise RocksError.of("no-ssh", "ssh-keygen is not installed",
                            hint="install openssh-client") from exc
    except subprocess.CalledProcessError as exc:
        raise RocksError.of("ssh-keygen", f"ssh-keygen failed: {exc.stderr.strip()}") from exc
    os.chmod(key, 0o600)
    return key


def public_key(key: Path) -> str:
    """The one-line public key of `key` (from key.pub)."""
    return key.with_name(key.name + ".pub").read_text().strip()


def known_hosts(state: Path) -> Path:
    """rocks' known_hosts file (created empty, world-readable, on first use)."""
    path = state / "ssh" / "known_hosts"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o644)
    return path


def forget_host_keys(path: Path, hosts: Iterable[str]) -> int:
    """Drop the recorded keys of `hosts` (known_hosts lines naming them) from `path`, e.g.
    once they are reinstalled with new keys; returns how many lines went."""
    names = set(hosts)
    try:
        lines = path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return 0
    keep = [ln for ln in lines
            if not (ln.split() and set(ln.split()[0].split(",")) & names)]
    if len(keep) != len(lines):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(keep))
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    return len(lines) - len(keep)


def ssh_argv(target: Target, command: str, config: SshConfig) -> list[str]:
    argv = [
        config.ssh, "-F", "none", "-T", "-n",
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={max(1, round(min(config.connect_timeout, config.timeout)))}",
        "-o", f"StrictHostKeyChecking={config.host_key_checking}",
        "-o", f"UserKnownHostsFile={config.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"HostKeyAlias={target.host}",
        "-o", "LogLevel=ERROR",
        # curve25519 first: the default hybrid post-quantum exchange costs the frontend ~6×
        # the CPU per connection, which dominates a fan-out to hundreds of nodes.
        "-o", "KexAlgorithms=^curve25519-sha256",
        "-p", str(target.port),
    ]
    if config.identity is not None:
        argv += ["-i", str(config.identity), "-o", "IdentitiesOnly=yes"]
    if config.user:
        argv += ["-l", config.user]
    return [*argv, target.address, command]


_UNREACHABLE = re.compile(
    r"Connection refused|Connection timed out|No route to host|Network is unreachable|"
    r"Could not resolve hostname|Connection reset|Connection closed by|"
    r"kex_exchange_identification|Operation timed out"
)


def classify(status: int, stderr: str) -> tuple[Outcome, str]:
    """The outcome of a finished ssh process from its exit status and its own messages."""
    if status == 0:
        return Outcome.OK, ""
    if status != 255:
        return Outcome.FAILED, f"exit {status}"
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        return Outcome.HOST_KEY, "host key does not match the recorded one"
    if "Host key verification failed" in stderr:
        return Outcome.UNKNOWN_KEY, "no recorded host key"
    if "Permission denied" in stderr:
        return Outcome.DENIED, "login refused"
    m = _UNREACHABLE.search(stderr)
    if m:
        return Outcome.UNREACHABLE, m.group(0).lower()
    last = stderr.strip().splitlines()[-1:] or [""]
    if stderr.strip():
        return Outcome.ERROR, last[0][:200]
    # ssh prints nothing of its own when the remote command itself exits 255.
    return Outcome.FAILED, "exit 255"


async def run_one(target: Target, command: str, config: SshConfig) -> HostResult:
    t0 = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *ssh_argv(target, command, config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise RocksError.of("no-ssh", f"{config.ssh} is not installed",
                            hint="install openssh-client") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), config.timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return HostResult(target.host, Outcome.TIMED_OUT, None, "", "",
                          time.monotonic() - t0, f"no answer within {config.timeout:g} s")
    status = proc.returncode if proc.returncode is not None else 255
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    outcome, detail = classify(status, stderr)
    exit_status = status if outcome in (Outcome.OK, Outcome.FAILED) else None
    if outcome not in (Outcome.OK, Outcome.FAILED):
        stdout, stderr = "", stderr.strip()
    return HostResult(target.host, outcome, exit_status, stdout, stderr,
                      time.monotonic() - t0, detail)


Job = tuple[Target, str]


async def run_all(
    jobs: Sequence[Job],
    config: SshConfig,
    parallel: int = 128,
    on_result: Callable[[HostResult], None] | None = None,
) -> list[HostResult]:
    """Run each job's command on its target, at most `parallel` at once; results in job order."""
    gate = asyncio.Semaphore(max(1, parallel))

    async def one(target: Target, command: str) -> HostResult:
        async with gate:
            result = await run_one(target, command, config)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(t, c) for t, c in jobs)))


def run_jobs(
    jobs: Sequence[Job],
    config: SshConfig,
    parallel: int = 128,
    on_result: Callable[[HostResult], None] | None = None,
) -> list[HostResult]:
    """`run_all` from synchronous code (starts and ends its own event loop)."""
    if not jobs:
        return []
    return asyncio.run(run_all(jobs, config, parallel, on_result))


def run_many(
    targets: Sequence[Target], command: str, config: SshConfig, parallel: int = 128
) -> list[HostResult]:
    """The same command on every target."""
    return run_jobs([(t, command) for t in targets], config, parallel)
