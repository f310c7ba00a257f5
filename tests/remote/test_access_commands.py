"""set/list host access, set appliance access, and `run host` refusing a non-root caller on
nodes whose rules exclude them — the real CLI in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, default_factories, run_cli
from rocks.remote.access import Caller
from tests.cli.inventory_fixtures import _empty_pg, _pg_database

Rocks = Callable[..., CliResult]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rocks(request: pytest.FixtureRequest, tmp_path: Path) -> Rocks:
    env = {"ROCKS_STATE": str(tmp_path / "state")}
    if request.param == "postgres":
        url = _pg_database()
        _empty_pg(url)
        env["ROCKS_DATABASE_URL"] = url

    def call(*argv: str, caller: Caller | None = None) -> CliResult:
        services = default_factories()
        if caller is not None:
            services["caller"] = lambda _ctx: caller
        return run_cli(list(argv), env, services=services)

    ok = [
        call("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes"),
        call("add", "host", "compute-0-0", "appliance=compute", "rack=0", "rank=0"),
        call("add", "host", "compute-0-1", "appliance=compute", "rack=0", "rank=1"),
        call("add", "host", "login-0-0", "appliance=login", "rack=0", "rank=0"),
    ]
    assert [r.code for r in ok] == [0, 0, 0, 0], [r.stderr for r in ok]
    return call


def test_set_and_list_access_with_precedence(rocks: Rocks) -> None:
    assert rocks("list", "host", "access").stdout == (
        "HOST         USERS  GROUPS  SOURCE\n"
        "compute-0-0  -      -       -\n"
        "compute-0-1  -      -       -\n"
        "login-0-0    -      -       -\n"
    )
    assert rocks("set", "appliance", "access", "compute", "groups=hpc,chem").code == 0
    assert rocks("set", "host", "access", "compute-0-1", "users=alice, bob").code == 0
    assert rocks("list", "host", "access").stdout == (
        "HOST         USERS      GROUPS    SOURCE\n"
        "compute-0-0  -          hpc,chem  appliance\n"
        "compute-0-1  alice,bob  hpc,chem  appliance,host\n"
        "login-0-0    -          -         -\n"
    )
    # An empty value removes the host's own rule: the appliance's applies again.
    assert rocks("set", "host", "access", "compute-0-1", "users=").code == 0
    out = rocks("list", "host", "access", "compute-0-1", "output-format=csv").stdout
    assert out == "host,users,groups,source\ncompute-0-1,,\"hpc,chem\",appliance\n"


def test_access_errors(rocks: Rocks) -> None:
    bad = rocks("set", "host", "access", "compute-0-0", "users=ALL")
    assert (bad.code, bad.stderr.splitlines()[0]) == (
        2, "error: user name 'ALL' is not valid in an access rule [bad-access-name]")
    none = rocks("set", "host", "access", "compute-0-0")
    assert none.code == 2 and "give users= or groups= (or both) [nothing-to-set]" in none.stderr
    app = rocks("set", "appliance", "access", "comptue", "users=a")
    assert app.code == 2 and 'unknown appliance "comptue"' in app.stderr
    assert rocks("list", "host", "access").stdout.count("-  ") >= 3  # nothing was written


def test_run_host_refuses_non_root_caller_where_rules_exclude_them(rocks: Rocks) -> None:
    # A port nothing listens on: admitted nodes are attempted (unreachable), refused ones not.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for host in ("compute-0-0", "compute-0-1", "login-0-0"):
        assert rocks("set", "host", "attr", host, "ssh_address", "127.0.0.1").code == 0
        assert rocks("set", "host", "attr", host, "ssh_port", str(port)).code == 0
    assert rocks("set", "appliance", "access", "compute", "groups=hpc").code == 0
    assert rocks("set", "host", "access", "compute-0-1", "users=carol").code == 0

    carol = Caller("carol", 1001, ("users",))
    r = rocks("run", "host", "command=true", "timeout=5", caller=carol)
    assert r.code == 2
    assert r.stderr.splitlines() == [
        "unreachable 2 (compute-0-1,login-0-0), refused 1 (compute-0-0)",
        "error: 3 of 3 hosts did not succeed [run-failed]",
    ]
    dave = Caller("dave", 1002, ("users", "hpc"))
    r = rocks("run", "host", "compute", "command=true", "timeout=5", caller=dave)
    assert r.stderr.splitlines()[0] == "unreachable 2 (compute-0-[0-1])"
    erin = Caller("erin", 1003, ())
    r = rocks("run", "host", "compute", "command=true", "timeout=5", caller=erin)
    assert r.stderr.splitlines()[0] == "refused 2 (compute-0-[0-1])"
    # Only root changes nodes' rules.
    r = rocks("sync", "host", "access", "compute", caller=erin)
    assert (r.code, r.stderr) == (2, "error: only root may change the access rules of nodes "
                                     "[not-root]\n")


def test_run_host_parameters_checked(rocks: Rocks) -> None:
    r = rocks("run", "host", "command= ")
    assert (r.code, r.stderr.splitlines()[0]) == (2, "error: command is empty [empty-command]")
    r = rocks("run", "host", "command=true", "timeout=0")
    assert r.stderr.splitlines()[0] == "error: timeout must be more than 0 seconds [bad-timeout]"
    r = rocks("run", "host", "compute-9-9", "command=true")
    assert r.code == 2 and 'unknown host "compute-9-9"' in r.stderr


def test_status_without_probe_is_unknown_then_no_address(rocks: Rocks) -> None:
    r = rocks("list", "host", "status", "probe=no")
    assert r.stdout == (
        "HOST         STATE    SINCE  SOURCE\n"
        "compute-0-0  unknown  -      none\n"
        "compute-0-1  unknown  -      none\n"
        "login-0-0    unknown  -      none\n"
    )
    # No interface address: the probe cannot say anything either.
    r = rocks("list", "host", "status", "login-0-0", "probe=yes")
    assert r.stdout.splitlines()[1].split() == [
        "login-0-0", "unknown", "-", "none"]
