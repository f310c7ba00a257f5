"""One host changed → its configuration live, through the real CLI on SQLite and PostgreSQL.

The commands that change what sync writes of a host make it live themselves, incrementally
(rocks.sync.incremental): the host's files and the shared files' changed fragments. What they
leave must be exactly what a full plan writes — after each change, `sync config full=yes`
finds nothing to write. The host versions the plan relies on are kept by the database's
triggers, whoever writes (plain SQL too), and move only for what sync reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rocks.cli.context import CliResult
from rocks.inventory import core
from tests.cli.inventory_fixtures import Rocks, _pg_database, rocks_env

__all__ = ["rocks_env"]


def ok(r: CliResult) -> str:
    assert (r.code, r.stderr) == (0, ""), r
    return r.stdout


@pytest.fixture
def rocks(rocks_env: Rocks) -> Rocks:
    """A frontend and two compute hosts on a PXE network served by DNS, synced once."""
    ok(rocks_env("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
                 "pxe=yes", "servedns=yes", "zone=local"))
    ok(rocks_env("add", "host", "fe", "appliance=frontend"))
    ok(rocks_env("add", "host", "interface", "fe", "eth0", "ip=10.1.1.1",
                 "mac=52:54:00:00:01:01", "network=private"))
    for i in range(2):
        ok(rocks_env("add", "host", f"compute-0-{i}"))
        ok(rocks_env("add", "host", "interface", f"compute-0-{i}", "eth0",
                     f"ip=10.1.255.{254 - i}", f"mac=52:54:00:00:02:0{i}", "network=private"))
    r = rocks_env("sync", "config", "loaders=no")
    assert r.code == 0, r
    return rocks_env


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state" / "root"  # rocks_env's ROCKS_STATE, and sync's root under it


def full_writes_nothing(rocks: Rocks) -> None:
    """A full plan finds nothing to change: the incremental writes left exactly its files."""
    r = rocks("sync", "config", "loaders=no", "full=yes")
    assert r.code == 0, r
    assert " 0 written, 0 removed, " in r.stderr, r.stderr


def dhcpd(root: Path) -> str:
    return (root / "etc/dhcp/dhcpd.conf").read_text()


def test_each_host_change_is_live_at_once_and_equals_a_full_sync(rocks: Rocks,
                                                                 root: Path) -> None:
    ok(rocks("set", "host", "interface", "mac", "compute-0-1", "eth0", "52:54:00:00:09:01"))
    assert "hardware ethernet 52:54:00:00:09:01;" in dhcpd(root)
    assert "52:54:00:00:02:01" not in dhcpd(root)
    full_writes_nothing(rocks)

    ok(rocks("set", "host", "boot", "compute-0-1", "action=install", "force=yes"))
    assert (root / "tftpboot/pxelinux.cfg/0A01FFFD").exists()  # installing: its own files
    ok(rocks("set", "host", "interface", "ip", "compute-0-1", "eth0", "10.1.200.7"))
    assert "fixed-address 10.1.200.7;" in dhcpd(root)
    assert "10.1.200.7" in (root / "etc/hosts").read_text()
    assert (root / "tftpboot/pxelinux.cfg/0A01C807").exists()
    assert not (root / "tftpboot/pxelinux.cfg/0A01FFFD").exists()
    full_writes_nothing(rocks)

    ok(rocks("add", "host", "compute-0-2"))
    ok(rocks("add", "host", "interface", "compute-0-2", "eth0", "ip=10.1.255.100",
             "mac=52:54:00:00:02:02", "network=private"))
    assert "hardware ethernet 52:54:00:00:02:02;" in dhcpd(root)
    full_writes_nothing(rocks)

    ok(rocks("set", "host", "boot", "compute-0-2", "action=install", "force=yes"))
    assert "token=" in (root / "tftpboot/pxelinux.cfg/0A01FF64").read_text()
    full_writes_nothing(rocks)

    ok(rocks("remove", "host", "interface", "compute-0-0", "eth0"))
    assert "52:54:00:00:02:00" not in dhcpd(root)
    full_writes_nothing(rocks)

    r = rocks("remove", "host", "compute-0-2")
    assert r.code == 0, r
    assert "compute-0-2" not in dhcpd(root)
    assert not (root / "tftpboot/pxelinux.cfg/0A01FF64").exists()
    full_writes_nothing(rocks)


def test_a_change_made_with_sync_no_waits_for_sync_config(rocks: Rocks, root: Path) -> None:
    ok(rocks("set", "host", "interface", "mac", "compute-0-0", "eth0", "52:54:00:00:09:00",
             "sync=no"))
    assert "52:54:00:00:09:00" not in dhcpd(root)
    r = rocks("sync", "config", "loaders=no")  # incremental: this host, and dhcpd.conf
    assert r.code == 0 and " 1 written, 0 removed, " in r.stderr, r
    assert "hardware ethernet 52:54:00:00:09:00;" in dhcpd(root)
    full_writes_nothing(rocks)


def test_an_address_taken_by_another_host_is_refused(rocks: Rocks, root: Path) -> None:
    before = dhcpd(root)
    r = rocks("set", "host", "interface", "ip", "compute-0-1", "eth0", "10.1.255.254")
    assert r.code == 2 and "10.1.255.254" in r.stderr, r
    assert dhcpd(root) == before
    full_writes_nothing(rocks)


def test_a_file_edited_by_hand_is_written_again_by_sync_config(rocks: Rocks,
                                                               root: Path) -> None:
    (root / "etc/hosts").write_text("edited\n")
    (root / "etc/dhcp/dhcpd.conf").unlink()
    r = rocks("sync", "config", "loaders=no")
    assert r.code == 0 and " 2 written, 0 removed, " in r.stderr, r
    assert "compute-0-0" in (root / "etc/hosts").read_text()
    assert "hardware ethernet 52:54:00:00:02:00;" in dhcpd(root)


def test_a_full_plan_made_by_a_one_host_command_keeps_the_boot_loaders(rocks: Rocks,
                                                                       root: Path) -> None:
    r = rocks("sync", "config")  # with the boot loaders (this machine's packages)
    assert r.code == 0, r
    loaders = sorted(p.name for p in (root / "tftpboot").iterdir() if p.is_file())
    assert "pxelinux.0" in loaders, loaders
    ok(rocks("set", "network", "private", "mtu=9000"))  # every host's files: a full plan
    ok(rocks("set", "host", "interface", "mac", "compute-0-0", "eth0", "52:54:00:00:09:00"))
    assert "hardware ethernet 52:54:00:00:09:00;" in dhcpd(root)
    assert sorted(p.name for p in (root / "tftpboot").iterdir() if p.is_file()) == loaders
    r = rocks("sync", "config")
    assert r.code == 0 and " 0 written, 0 removed, " in r.stderr, r


def test_the_names_loaders_try_first_are_a_setting(rocks: Rocks, root: Path) -> None:
    ok(rocks("set", "host", "boot", "compute-0-0", "action=install", "force=yes"))
    pxe = root / "tftpboot/pxelinux.cfg"
    assert sorted(p.name for p in pxe.iterdir()) == ["0A01FFFE", "default"]
    ok(rocks("set", "attr", "sync_pxe_mac_names", "yes"))
    r = rocks("sync", "config", "loaders=no")  # a setting changed: planned in full
    assert r.code == 0, r
    assert sorted(p.name for p in pxe.iterdir()) == ["01-52-54-00-00-02-00", "0A01FFFE",
                                                      "default"]
    assert (root / "tftpboot/grub/grub.cfg-01-52-54-00-00-02-00").exists()
    full_writes_nothing(rocks)


# ---------------------------------------------------------------- host versions


@pytest.fixture
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of the inventory rocks_env runs on (this test's SQLite file, or the process's
    PostgreSQL database)."""
    if request.node.callspec.params["rocks_env"] == "postgres":
        return _pg_database()
    return f"sqlite:///{tmp_path / 'state' / 'rocks.db'}"


@contextmanager
def inventory(url: str) -> Iterator[core.Db]:
    db = core.connect(url)
    assert db is not None
    with db.transaction():
        yield db


def versions(url: str) -> dict[str, int]:
    with inventory(url) as db:
        assert core.tracks_versions(db)
        return dict(db.rows("SELECT h.name, v.version FROM hosts h "
                            "JOIN host_versions v ON v.host_id = h.id"))


def test_host_versions_move_for_what_sync_reads_only(rocks: Rocks, url: str) -> None:
    def moved(*argv: str) -> set[str]:
        before = versions(url)
        r = rocks(*argv)
        assert r.code == 0, r
        after = versions(url)
        return {h for h in after if before.get(h) != after[h]} | (set(before) - set(after))

    assert moved("set", "host", "comment", "compute-0-0", "comment=spare") == set()
    assert moved("set", "host", "rack", "compute-0-0", "rack=3") == {"compute-0-0"}
    assert moved("set", "host", "interface", "module", "compute-0-1", "eth0",
                 "module=e1000") == {"compute-0-1"}
    assert moved("set", "host", "attr", "compute-0-1", "x11", "off") == {"compute-0-1"}
    assert moved("set", "attr", "Kickstart_Timezone", "UTC") == set()
    assert moved("set", "host", "boot", "compute-0-0", "action=install",
                 "force=yes") == {"compute-0-0"}
    assert moved("remove", "host", "compute-0-1") == {"compute-0-1"}
    assert "compute-0-1" not in versions(url)
    # another writer, in plain SQL: the triggers are the database's, not rocks'
    before = versions(url)
    with inventory(url) as db:
        db.execute("UPDATE interfaces SET mac = ? WHERE device = ? AND host_id = "
                   "(SELECT id FROM hosts WHERE name = ?)",
                   ("52:54:00:00:0a:00", "eth0", "compute-0-0"))
    after = versions(url)
    assert after["compute-0-0"] != before["compute-0-0"]
    assert after["fe"] == before["fe"]
