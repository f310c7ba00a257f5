"""Fixtures for CLI tests: an in-process `rocks` over the registry plus the demo commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from rocks.cli.context import CliResult, run_cli
from rocks.cli.registry import COMMANDS, CommandTable, Entry
from rocks.commands import ServiceFactory

_DEMO = "tests.cli.demo_commands"

DEMO_COMMANDS: CommandTable = {
    ("report", "completion"): COMMANDS[("report", "completion")],
    ("demo", "echo"): Entry(_DEMO, "echo", "Print the bound arguments"),
    ("demo", "fail"): Entry(_DEMO, "fail", "Fail on purpose"),
    ("demo", "list", "host"): Entry(_DEMO, "list_host", "List the demo hosts"),
    ("demo", "list", "host", "attr"): Entry(_DEMO, "list_host_attr", "List host attributes"),
    ("demo", "report", "kickstart"): Entry(_DEMO, "report_kickstart", "Print a kickstart"),
    ("demo", "set", "host", "attr"): Entry(_DEMO, "set_host_attr", "Set a host attribute"),
}

DemoCli = Callable[..., CliResult]


@pytest.fixture
def demo_commands() -> CommandTable:
    """The registry plus the demo commands of tests/cli/demo_commands.py."""
    return DEMO_COMMANDS


@pytest.fixture
def demo_cli() -> DemoCli:
    """`demo_cli("demo", "list", "host", services={...})` runs rocks in process."""

    def call(
        *argv: str,
        env: Mapping[str, str] | None = None,
        stdin: str = "",
        services: Mapping[str, ServiceFactory] | None = None,
    ) -> CliResult:
        return run_cli(list(argv), env, stdin, commands=DEMO_COMMANDS, services=services or {})

    return call
