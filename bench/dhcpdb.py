"""A new host live in DHCP, at N hosts (default 10,000), on one PostgreSQL inventory:

- file (today's path): `rocks add host` + `rocks add host interface … ip= mac=` +
  `rocks sync config` (the whole kea-dhcp4.conf rewritten, Kea to be reloaded);
- database (sync_kea_hosts=database): `rocks add host` + `rocks add host interface …`, whose
  transaction writes the reservation into Kea's PostgreSQL host backend — live for Kea's next
  lookup, no file written, nothing reloaded (checked here: the row is in kea.hosts).

Both measured in the same run, as whole processes (wall, unqueued, CPU: bench/common.py), and
one changed MAC (`set host interface mac` [+ `sync config`]) the same two ways, and without
DHCP at all (what the reservation's own write costs is the difference). Needs a
PostgreSQL server: ROCKS_TEST_POSTGRES_URL (scripts/pg-throwaway.sh) or --admin-url; a database
is created for the run and dropped after.

Usage: .venv/bin/python bench/dhcpdb.py [--hosts 10000] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROCKS, Run, add_runs, emit, hostfile, machine, run, stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--admin-url", default=os.environ.get("ROCKS_TEST_POSTGRES_URL", ""))
    a = ap.parse_args()
    if not a.admin_url:
        raise SystemExit("needs PostgreSQL: ROCKS_TEST_POSTGRES_URL or --admin-url "
                         "(scripts/pg-throwaway.sh start)")
    import psycopg

    name = f"rocks_bench_dhcp_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(a.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{a.admin_url.rpartition('/')[0]}/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="rocks-bench-dhcpdb-") as tmp:
            measure(Path(tmp), url, a.hosts, a.reps)
    finally:
        with psycopg.connect(a.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(state: Path, url: str, n: int, reps: int) -> None:
    import psycopg

    env = {**os.environ, "ROCKS_STATE": str(state), "ROCKS_DATABASE_URL": url,
           "ROCKS_CONFIG": ""}
    env.pop("ROCKS_SYNC_ROOT", None)

    def rocks(*argv: str) -> Run:
        return run([ROCKS, *argv], env)

    rocks("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes")
    rocks("load", "hostfile", str(hostfile(state / "hosts.csv", n)))
    rocks("set", "attr", "sync_dhcp", "kea")
    rocks("sync", "config", "loaders=no")

    def new_host(i: int, *, sync: bool) -> Run:
        host, mac, ip = f"new-{i}", f"52:54:01:00:{i >> 8:02x}:{i & 255:02x}", f"10.1.250.{i}"
        parts = [rocks("add", "host", host, "appliance=compute"),
                 rocks("add", "host", "interface", host, "eth0", f"ip={ip}", f"mac={mac}")]
        if sync:
            parts.append(rocks("sync", "config", "loaders=no"))
        return add_runs(*parts)

    def new_mac(i: int, *, sync: bool) -> Run:
        parts = [rocks("set", "host", "interface", "mac", "compute-0-1", "eth0",
                       f"52:54:02:00:00:{i:02x}")]
        if sync:
            parts.append(rocks("sync", "config", "loaders=no"))
        return add_runs(*parts)

    tag = {"hosts": n, "machine": machine()}
    file_runs = [new_host(i + 1, sync=True) for i in range(reps)]
    mac_file = [new_mac(i + 1, sync=True) for i in range(reps)]
    mac_only = [new_mac(50 + i, sync=False) for i in range(reps)]  # the inventory alone

    rocks("set", "attr", "sync_kea_hosts", "database")
    first = rocks("sync", "config", "loaders=no")  # Kea's schema, and every reservation
    emit("kea-database-first-sync", n, first.wall, cpu_seconds=round(first.cpu, 4),
         unqueued_seconds=round(first.unqueued, 4), **tag)
    db_runs = [new_host(100 + i, sync=False) for i in range(reps)]
    mac_db = [new_mac(100 + i, sync=False) for i in range(reps)]
    with psycopg.connect(url) as conn:
        live = conn.execute("SELECT count(*) FROM kea.hosts WHERE hostname = ANY(%s)",
                            ([f"new-{100 + i}" for i in range(reps)],)).fetchone()
    if live is None or live[0] != reps:
        raise SystemExit(f"reservations not live in Kea's table: {live}")
    conf = state / "root" / "etc" / "kea" / "kea-dhcp4.conf"
    if "hosts-database" not in conf.read_text():
        raise SystemExit("kea-dhcp4.conf does not name the database")

    for op, runs, note in (
            ("new_host_live_file", file_runs, "add host + add host interface + sync config"),
            ("new_host_live_kea_database", db_runs,
             "add host + add host interface (the reservation in the same transaction)"),
            ("mac_change_live_file", mac_file, "set host interface mac + sync config"),
            ("mac_change_live_kea_database", mac_db, "set host interface mac"),
            ("mac_change_inventory_only", mac_only,
             "set host interface mac, file mode without sync: the same command without the "
             "reservation (what writing it costs is the difference)")):
        st = stats(runs)
        emit(op, n, st.wall, note=note, **st.fields(), **tag)


if __name__ == "__main__":
    main()
