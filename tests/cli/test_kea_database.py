"""Kea's reservations in the inventory's PostgreSQL (sync_kea_hosts=database), through the CLI:
each host change writes its reservations in its own transaction — a command that fails leaves
them as they were — and `rocks sync config` reconciles every row. On SQLite it is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli
from tests.conftest import optional_skip


def _ok(r: CliResult) -> str:
    assert r.code == 0, r
    return r.stdout + r.stderr


def test_refused_on_sqlite(tmp_path: Path) -> None:
    env = {"ROCKS_STATE": str(tmp_path / "state")}
    for argv in (["add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
                  "pxe=yes"], ["set", "attr", "sync_dhcp", "kea"],
                 ["set", "attr", "sync_kea_hosts", "database"]):
        _ok(run_cli(argv, env))
    r = run_cli(["sync", "config", "loaders=no"], env)
    assert r.code == 2 and "[kea-hosts-needs-postgresql]" in r.stderr, r
    assert not (tmp_path / "state" / "root" / "etc" / "kea").exists()


@pytest.mark.postgres
def test_each_change_writes_its_reservations_in_its_transaction(tmp_path: Path) -> None:
    if not os.environ.get("ROCKS_TEST_POSTGRES_URL"):
        optional_skip("no-postgres", "ROCKS_TEST_POSTGRES_URL is not set")
    import psycopg

    from tests.cli.inventory_fixtures import _empty_pg, _pg_database

    url = _pg_database()
    _empty_pg(url)
    env = {"ROCKS_STATE": str(tmp_path / "state"), "ROCKS_DATABASE_URL": url}

    def rocks(*argv: str) -> str:
        return _ok(run_cli(list(argv), env))

    def rows() -> dict[str, tuple[str, int]]:
        with psycopg.connect(url) as conn:
            return {h: (bytes(m).hex(), ip) for h, m, ip in conn.execute(
                "SELECT hostname, dhcp_identifier, ipv4_address FROM kea.hosts "
                "WHERE user_context LIKE '{\"rocks-host-id\": %'")}

    rocks("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes")
    rocks("add", "host", "compute-0-0")
    rocks("add", "host", "interface", "compute-0-0", "eth0", "ip=10.1.255.254",
          "mac=52:54:00:00:02:00")
    for name, value in (("sync_dhcp", "kea"), ("sync_kea_hosts", "database")):
        rocks("set", "attr", name, value)
    # a different role than ours: the throwaway cluster's superuser is the inventory's
    out = rocks("sync", "config", "loaders=no")
    assert "kea reservations in the database: 1 written" in out, out
    conf = json.loads((tmp_path / "state/root/etc/kea/kea-dhcp4.conf").read_text())
    assert conf["Dhcp4"]["hosts-database"]["user"] == "kea"
    assert rows() == {"compute-0-0": ("525400000200", 0x0A01FFFE)}

    rocks("set", "host", "interface", "mac", "compute-0-0", "eth0", "52:54:00:00:02:01")
    assert rows() == {"compute-0-0": ("525400000201", 0x0A01FFFE)}
    rocks("set", "host", "name", "compute-0-0", "name=gpu-0-0")
    assert rows() == {"gpu-0-0": ("525400000201", 0x0A01FFFE)}
    (tmp_path / "hosts.csv").write_text(
        "name,appliance,rack,rank,interface,ip,mac,network\n"
        "compute-1-0,compute,1,0,eth0,10.1.254.1,52:54:00:00:03:00,private\n"
        "compute-1-1,compute,1,1,eth0,10.1.254.2,52:54:00:00:03:01,private\n")
    rocks("load", "hostfile", str(tmp_path / "hosts.csv"))
    assert set(rows()) == {"gpu-0-0", "compute-1-0", "compute-1-1"}

    # a command that fails rolls its reservations back with it: remove host cannot write
    # its files (the sync root is a file), so neither the host nor its reservation goes
    root = tmp_path / "state" / "root"
    aside = tmp_path / "root-aside"
    root.rename(aside)
    root.write_text("not a directory\n")
    r = run_cli(["remove", "host", "compute-1-1"], env)
    assert r.code != 0, r
    assert "compute-1-1" in rows()
    root.unlink()
    aside.rename(root)
    rocks("remove", "host", "compute-1-1")
    assert set(rows()) == {"gpu-0-0", "compute-1-0"}

    # sync config puts back what was changed behind rocks' back, and only that
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM kea.hosts WHERE hostname = 'compute-1-0'")
    out = rocks("sync", "config", "loaders=no")
    assert "kea reservations in the database: 1 written, 0 removed" in out, out
    assert set(rows()) == {"gpu-0-0", "compute-1-0"}
    out = rocks("sync", "config", "loaders=no")
    assert "kea reservations in the database: 0 written, 0 removed" in out, out
