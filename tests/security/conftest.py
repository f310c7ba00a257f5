"""Fixtures for the trust-boundary tests: the real CLI (in process, or as a subprocess with a
timeout where a regression would hang), a small cluster, a way to put a value straight into the
database (as if it got past every check), and the real checkers every output must pass."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli

REPO = Path(__file__).resolve().parents[2]
SHADOW_MARK = "rocks-test-shadow-line"  # written into a stand-in secret file by the tests


@dataclass
class Cli:
    state: Path

    @property
    def env(self) -> dict[str, str]:
        return {"ROCKS_STATE": str(self.state)}

    def __call__(self, *argv: str) -> CliResult:
        return run_cli(list(argv), self.env)

    def ok(self, *argv: str) -> str:
        r = self(*argv)
        assert (r.code, r.stderr) == (0, ""), r
        return r.stdout

    def refused(self, *argv: str) -> str:
        """The command exits 2 with an error (never an internal error) and prints nothing."""
        r = self(*argv)
        assert r.code == 2, r
        assert r.stdout == "" and "internal error" not in r.stderr and "Traceback" not in r.stderr
        return r.stderr

    def process(self, *argv: str, timeout: float = 60,
                args: list[bytes] | None = None) -> subprocess.CompletedProcess[str]:
        """`rocks` as its own process; a hang fails the test instead of the suite."""
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO)}
        cmd: list[str | bytes] = [sys.executable, "-m", "rocks.cli.main", *argv, *(args or [])]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"rocks {' '.join(argv)} did not finish within {timeout} s")

    def raw_attr(self, scope: str, target: str, name: str, value: str,
                 secret: bool = False) -> None:
        """Store an attribute without any command's checks, as a value that got in by another
        path would be (the generators must still refuse or escape it)."""
        from rocks.inventory import open_inventory
        from rocks.inventory import queries as q

        inv = open_inventory(str(self.state / "rocks.db"))
        try:
            with inv.transaction() as s:
                q.set_attr(s, scope, target, name, value, secret)
        finally:
            inv.close()

    def raw_sql(self, sql: str, **params: object) -> None:
        from sqlalchemy import text

        from rocks.inventory import open_inventory

        inv = open_inventory(str(self.state / "rocks.db"))
        try:
            with inv.transaction() as s:
                s.execute(text(sql), params)
        finally:
            inv.close()

    def dump(self) -> str:
        """The whole inventory as text: equal before and after a refused command."""
        return self.ok("dump")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "state")


@pytest.fixture
def cluster(cli: Cli) -> Cli:
    return make_cluster(cli)


def make_cluster(cli: Cli) -> Cli:
    """A private PXE network with DNS, a frontend and two compute nodes (one installing)."""
    cli.ok("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes",
           "servedns=yes", "zone=local")
    cli.ok("add", "host", "head", "appliance=frontend", "rack=0", "rank=0")
    cli.ok("add", "host", "interface", "head", "eth0", "ip=10.1.1.1",
           "mac=52:54:00:00:01:01", "network=private")
    for rank in (0, 1):
        name = f"compute-0-{rank}"
        cli.ok("add", "host", name, "appliance=compute", "rack=0", f"rank={rank}")
        cli.ok("add", "host", "interface", name, "eth0", f"ip=10.1.255.{254 - rank}",
               f"mac=52:54:00:00:02:0{rank}", "network=private")
    cli.raw_sql("UPDATE hosts SET boot='install', install_token='tok-compute-0-0' "
                "WHERE name='compute-0-0'")
    return cli


# -- the real checkers ----------------------------------------------------------------------

def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    assert path, f"{name} is missing: apt-get install isc-dhcp-server kea-dhcp4-server bind9-utils"
    return path


def run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False,
                          timeout=60)


_SCRIPT = re.compile(r"^%(pre|post)\b(?P<head>[^\n]*)\n(?P<body>.*?)^%end$", re.M | re.S)


def scripts(kickstart: str) -> list[tuple[str, str]]:
    """(header, body) of every %pre/%post, split as pykickstart splits lines."""
    text = "\n".join(kickstart.splitlines())
    return [(m.group(0).split("\n", 1)[0], m.group("body")) for m in _SCRIPT.finditer(text)]


def check_kickstart(kickstart: str, release: str = "el9") -> None:
    """pykickstart accepts it, and every shell %pre/%post parses with `bash -n`."""
    from rocks.compiler.check import validate_kickstart

    errors = [d for d in validate_kickstart(kickstart, release) if d.severity == "error"]
    assert errors == []
    bash = tool("bash")
    for head, body in scripts(kickstart):
        if "--interpreter" in head and "bash" not in head and "/sh" not in head:
            continue
        r = run([bash, "-n"], body)
        assert r.returncode == 0, f"{head}: {r.stderr}\n{body}"


def sections(kickstart: str) -> list[str]:
    """The kickstart's section headers in order, as pykickstart's line splitting sees them."""
    return [ln.split()[0] for ln in kickstart.splitlines() if ln.startswith("%")]


Check = Callable[[str], None]
