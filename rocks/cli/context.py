"""Building the Context a command runs in: real services for the console, or an in-process
harness (`run_cli`) that captures output for tests.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rocks.cli.dispatch import run
from rocks.cli.registry import COMMANDS, SERVICES, Entry, Service
from rocks.cli.resolve import Name
from rocks.commands import Context, ServiceFactory


def _lazy(service: Service) -> ServiceFactory:
    def open_service(ctx: Context) -> object:
        return getattr(importlib.import_module(service.module), service.factory)(ctx)

    return open_service


def default_factories() -> dict[str, ServiceFactory]:
    """The registry's services, each imported only when a command first asks for it."""
    return {name: _lazy(service) for name, service in SERVICES.items()}


@dataclass(frozen=True, slots=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    *,
    commands: Mapping[Name, Entry] | None = None,
    services: Mapping[str, ServiceFactory] | None = None,
) -> CliResult:
    """Run `rocks <argv…>` in process. The environment is `env` only (hermetic; default empty;
    no configuration file unless `env` names one in ROCKS_CONFIG); `services` replace the
    registry's factories, `commands` the registry's command table."""
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(
        stdout=out,
        stderr=err,
        stdin=io.StringIO(stdin),
        env={"ROCKS_CONFIG": "", **(env or {})},
        factories=dict(default_factories() if services is None else services),
    )
    code = run(argv, ctx, COMMANDS if commands is None else commands)
    return CliResult(code, out.getvalue(), err.getvalue())
