"""DHCP reservations from the database: Kea with its PostgreSQL host backend, reading the
inventory's own database, inside a private network namespace.

`rocks add host interface` makes a reservation a DHCP client in the namespace (busybox
udhcpc, with the host's MAC) is then offered — without any file rewritten or Kea reloaded; a
`frontend` attribute moves its next-server; `rocks remove host` withdraws it. Kea keeps running
with the configuration `rocks sync config` wrote once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from tests.conftest import optional_skip, require_tool
from tests.integration.netlab import lab_unavailable

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
MAC = "52:54:00:19:00:01"
SCRIPT = """#!/bin/sh
echo "$1 ip=$ip siaddr=$siaddr hostname=$hostname" >> "$0.out"
"""


@dataclass
class Site:
    env: dict[str, str]
    root: Path
    work: Path
    ns: str

    def rocks(self, *argv: str) -> str:
        r = run_cli(list(argv), self.env)
        assert r.code == 0, (argv, r.stdout, r.stderr)
        return r.stdout + r.stderr

    def ask(self) -> str | None:
        """One DHCP exchange from the client side (MAC `MAC`): the bound lease, or None."""
        script = self.work / "udhcpc.sh"
        out = Path(f"{script}.out")
        out.unlink(missing_ok=True)
        subprocess.run(["ip", "netns", "exec", self.ns, "busybox", "udhcpc", "-i", "c0", "-n",
                        "-q", "-f", "-t", "3", "-T", "1", "-s", str(script)],
                       capture_output=True, timeout=60)
        bound = [x for x in out.read_text().splitlines() if x.startswith("bound ")] \
            if out.exists() else []
        return bound[-1] if bound else None


def _socket_dir(url: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SHOW unix_socket_directories").fetchone()
    assert row is not None
    return str(row[0]).split(",")[0].strip()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    if os.geteuid() != 0:
        optional_skip("not-root", "Kea in a network namespace needs root")
    reason = lab_unavailable()
    assert reason is None, reason
    require_tool("kea-dhcp4", "kea-dhcp4-server")
    require_tool("kea-admin", "kea-admin")
    require_tool("busybox", "busybox-static")
    if not os.environ.get("ROCKS_TEST_POSTGRES_URL"):
        optional_skip("no-postgres", "ROCKS_TEST_POSTGRES_URL is not set")
    from tests.cli.inventory_fixtures import _empty_pg, _pg_database

    url = _pg_database()
    _empty_pg(url)
    dbname = url.rsplit("/", 1)[1]
    env = {"ROCKS_STATE": str(tmp_path / "state"), "ROCKS_DATABASE_URL": url}
    work = tmp_path / "run"
    work.mkdir()
    (work / "udhcpc.sh").write_text(SCRIPT)
    (work / "udhcpc.sh").chmod(0o755)
    ns = f"rocks-kea-{os.getpid()}"
    s = Site(env, tmp_path / "state" / "root", work, ns)
    s.rocks("add", "network", "private", "subnet=10.19.0.0", "netmask=255.255.0.0", "pxe=yes")
    s.rocks("add", "host", "frontend-0-0", "appliance=frontend")
    s.rocks("add", "host", "interface", "frontend-0-0", "eth0", "ip=10.19.0.1",
            "mac=52:54:00:19:ff:01")
    s.rocks("add", "host", "fe-1", "appliance=frontend")  # a service frontend
    s.rocks("add", "host", "interface", "fe-1", "eth0", "ip=10.19.0.2", "mac=52:54:00:19:ff:02")
    for name, value in (("sync_dhcp", "kea"), ("sync_kea_hosts", "database"),
                        # which frontend host is the head node
                        ("Kickstart_PrivateKickstartHost", "10.19.0.1"),
                        ("sync_dhcp_interfaces", "s0"),
                        # Kea runs in the namespace: it reaches PostgreSQL by its socket
                        ("sync_kea_database",
                         f"postgresql://kea@/{dbname}?host={_socket_dir(url)}")):
        s.rocks("set", "attr", name, value)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    try:
        for argv in (["netns", "add", ns], ["-n", ns, "link", "set", "lo", "up"],
                     ["-n", ns, "link", "add", "s0", "type", "veth", "peer", "name", "c0"],
                     ["-n", ns, "addr", "add", "10.19.0.1/16", "dev", "s0"],
                     ["-n", ns, "link", "set", "c0", "address", MAC],
                     ["-n", ns, "link", "set", "s0", "up"], ["-n", ns, "link", "set", "c0", "up"]):
            subprocess.run(["ip", *argv], check=True, capture_output=True)
        yield s
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_add_host_is_a_reservation_kea_serves_without_a_reload(site: Site) -> None:
    out = site.rocks("sync", "config")
    assert "Kea's tables created in schema kea" in out or "kea reservations" in out, out
    conf_path = site.root / "etc/kea/kea-dhcp4.conf"
    written = conf_path.read_bytes()
    conf = json.loads(written)
    assert conf["Dhcp4"]["hosts-database"]["type"] == "postgresql"
    assert all(not sub["reservations"] for sub in conf["Dhcp4"]["subnet4"])
    # Kea as sync wrote it; only the lease file and pid/lock files go to the test's directory
    conf["Dhcp4"]["lease-database"]["name"] = str(site.work / "leases4.csv")
    run_conf = site.work / "kea-dhcp4.conf"
    run_conf.write_text(json.dumps(conf))
    env = {**os.environ, "KEA_PIDFILE_DIR": str(site.work), "KEA_LOCKFILE_DIR": str(site.work)}
    check = subprocess.run(["ip", "netns", "exec", site.ns, "kea-dhcp4", "-t", str(run_conf)],
                           capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    log = site.work / "kea.log"
    with log.open("wb") as fh:
        kea = subprocess.Popen(["ip", "netns", "exec", site.ns, "kea-dhcp4", "-c",
                                str(run_conf)], stdout=fh, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "DHCP4_STARTED" not in log.read_text():
            if kea.poll() is not None or time.monotonic() > deadline:  # a hang, not a timing
                pytest.fail(f"Kea did not start:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.2)
        assert site.ask() is None  # an unknown MAC: no pool, no reservation, no lease

        site.rocks("add", "host", "compute-0-0")
        site.rocks("add", "host", "interface", "compute-0-0", "eth0", "ip=10.19.1.5",
                   f"mac={MAC}")
        lease = site.ask()
        assert lease is not None and "ip=10.19.1.5 " in lease and "hostname=compute-0-0" in lease
        assert "siaddr= " in lease  # no next-server of its own: the head node's classes'

        # served by the service frontend from now on: its next-server, at once
        site.rocks("set", "rack", "attr", "0", "frontend", "fe-1")
        lease = site.ask()
        assert lease is not None and "siaddr=10.19.0.2 " in lease, lease

        site.rocks("set", "host", "interface", "ip", "compute-0-0", "eth0", "10.19.1.9")
        lease = site.ask()
        assert lease is not None and "ip=10.19.1.9 " in lease, lease

        site.rocks("remove", "host", "compute-0-0")
        assert site.ask() is None  # withdrawn

        assert conf_path.read_bytes() == written  # no file rewritten for any of it
        assert kea.poll() is None  # never restarted
        text = log.read_text()
        assert "DHCP4_DYNRECONF" not in text and "DHCP4_CONFIG_COMPLETE" in text
        assert text.count("DHCP4_CONFIG_COMPLETE") == 1, "Kea's configuration was reloaded"
    finally:
        os.killpg(kea.pid, signal.SIGTERM)
        kea.wait(timeout=20)
