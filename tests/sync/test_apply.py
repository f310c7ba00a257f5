"""The applier: only changes are written, atomically; stale managed files go; dry runs touch
nothing; an interrupted run leaves old files and no litter behind."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import pytest

from rocks.errors import RocksError
from rocks.model.inventory import BootState
from rocks.sync import apply as applier
from rocks.sync import state
from rocks.sync.apply import MANIFEST, PENDING, apply, disk_reader, reload
from rocks.sync.inputs import SyncInput
from rocks.sync.plan import plan, plan_hosts
from tests.sync.conftest import REPO_ROOT, compute

Make = Callable[..., SyncInput]
PXE0 = "tftpboot/pxelinux.cfg/0A01FFFE"


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_dry_run_writes_nothing_and_returns_diff(cluster: Make, tmp_path: Path) -> None:
    res = apply(plan(cluster()), tmp_path, dry_run=True)
    assert list(tmp_path.iterdir()) == []
    assert len(res.changed) == 51 and res.unchanged == 0 and res.removed == []
    assert res.services_to_reload == {"dhcpd", "named"}
    assert "--- /dev/null\n+++ b/etc/hosts\n" in res.diff
    assert "+10.1.255.254\tcompute-0-0.local compute-0-0\n" in res.diff


def test_second_apply_writes_nothing(cluster: Make, tmp_path: Path) -> None:
    first = apply(plan(cluster()), tmp_path)
    assert len(first.changed) == 51
    assert (tmp_path / MANIFEST).is_file() and not (tmp_path / PENDING).exists()
    before = snapshot(tmp_path)
    again = apply(plan(cluster(), previous=disk_reader(tmp_path)), tmp_path)
    assert (again.changed, again.unchanged, again.removed) == ([], 51, [])
    assert again.services_to_reload == set()
    assert snapshot(tmp_path) == before  # same inodes, same mtimes


def test_change_one_host_touches_only_its_files(cluster: Make, tmp_path: Path) -> None:
    apply(plan(cluster()), tmp_path)
    before = snapshot(tmp_path)
    inp = cluster()
    hosts = tuple(dataclasses.replace(h, boot=BootState.INSTALL) if h.name == "compute-0-1" else h
                  for h in inp.hosts)
    inp = dataclasses.replace(inp, hosts=hosts, tokens={**inp.tokens, "compute-0-1": "t1"})
    res = apply(plan_hosts(inp, ["compute-0-1"], previous=disk_reader(tmp_path)), tmp_path,
                diff=True)
    assert sorted(res.changed) == [
        "tftpboot/grub/grub.cfg-52:54:00:00:00:01", "tftpboot/pxelinux.cfg/0A01FFFD"]
    assert res.services_to_reload == set()
    assert "-  LOCALBOOT 0\n" in res.diff
    after = snapshot(tmp_path)
    # the state records the new files' digests
    assert {k for k in after if after[k] != before[k]} == {*res.changed, MANIFEST}


def test_serial_moves_only_when_a_zone_changes(cluster: Make, tmp_path: Path) -> None:
    apply(plan(cluster()), tmp_path)
    inp = cluster(hosts=(*cluster().hosts, compute(2, 0)), serial_date=date(2026, 1, 16))
    res = apply(plan(inp, previous=disk_reader(tmp_path)), tmp_path)
    assert "var/named/rocks/local.zone" in res.changed
    assert "var/named/rocks/2.0.192.in-addr.arpa.zone" not in res.changed
    assert res.services_to_reload == {"dhcpd", "named"}
    local = (tmp_path / "var/named/rocks/local.zone").read_text()
    assert "( 2026011601 " in local
    public = (tmp_path / "var/named/rocks/example.org.zone").read_text()
    assert "( 2026011501 " in public
    # a second change on the same day counts up
    inp2 = dataclasses.replace(inp, hosts=(*inp.hosts, compute(2, 1)))
    apply(plan(inp2, previous=disk_reader(tmp_path)), tmp_path)
    assert "( 2026011602 " in (tmp_path / "var/named/rocks/local.zone").read_text()


def test_removed_host_loses_its_pxe_files(cluster: Make, tmp_path: Path) -> None:
    apply(plan(cluster()), tmp_path)
    assert (tmp_path / PXE0).is_file()
    fewer = cluster(hosts=tuple(h for h in cluster().hosts if h.name != "compute-0-0"))
    res = apply(plan(fewer, previous=disk_reader(tmp_path)), tmp_path)
    assert res.removed == ["tftpboot/grub/grub.cfg-52:54:00:00:00:00", PXE0]
    assert not (tmp_path / PXE0).exists()
    assert "compute-0-0" not in state.load(tmp_path).files.owners()


def test_partial_plan_removes_only_in_scope(cluster: Make, tmp_path: Path) -> None:
    apply(plan(cluster()), tmp_path)
    fewer = cluster(hosts=tuple(h for h in cluster().hosts if h.name != "compute-0-0"))
    untouched = apply(plan_hosts(fewer, ["compute-0-1"]), tmp_path)
    assert untouched.removed == []
    assert (tmp_path / PXE0).is_file()
    gone = apply(plan_hosts(fewer, ["compute-0-0"]), tmp_path)
    assert PXE0 in gone.removed and not (tmp_path / PXE0).exists()


def test_unmanaged_files_are_left_alone(cluster: Make, tmp_path: Path) -> None:
    stray = tmp_path / "tftpboot/pxelinux.cfg/0A0A0A0A"
    stray.parent.mkdir(parents=True)
    stray.write_text("mine\n")
    apply(plan(cluster()), tmp_path)
    assert stray.read_text() == "mine\n"


def test_mode_change_is_a_change(cluster: Make, tmp_path: Path) -> None:
    apply(plan(cluster()), tmp_path)
    os.chmod(tmp_path / "etc/hosts", 0o600)
    res = apply(plan(cluster(), previous=disk_reader(tmp_path)), tmp_path)
    assert res.changed == ["etc/hosts"]
    assert (tmp_path / "etc/hosts").stat().st_mode & 0o777 == 0o644


def test_failed_rename_keeps_old_file_and_no_litter(cluster: Make, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    apply(plan(cluster()), tmp_path)
    old = (tmp_path / PXE0).read_bytes()
    inp = cluster(tokens={"compute-0-0": "new-token"})

    real_replace = os.replace

    def broken(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith(".json"):  # the bookkeeping files still work
            return real_replace(src, dst)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(applier.os, "replace", broken)
    with pytest.raises(RocksError) as err:
        apply(plan(inp, previous=disk_reader(tmp_path)), tmp_path)
    assert err.value.first.code == "sync.write-failed"
    monkeypatch.undo()
    assert (tmp_path / PXE0).read_bytes() == old
    assert list(tmp_path.rglob("*.rocks-tmp")) == [] and not (tmp_path / PENDING).exists()
    res = apply(plan(inp, previous=disk_reader(tmp_path)), tmp_path)
    assert PXE0 in res.changed
    assert b"token=new-token" in (tmp_path / PXE0).read_bytes()


KILLED_RUN = """
import os, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from rocks.sync import apply as applier
from tests.sync.conftest import make_input
from rocks.sync.plan import plan
real_replace = os.replace
def dying(src, dst):  # die between writing a temp file and renaming it
    if str(dst).endswith(".json"):
        return real_replace(src, dst)
    os._exit(9)
applier.os.replace = dying
applier.apply(plan(make_input(tokens={{"compute-0-0": "new-token"}})), Path({root!r}))
"""


def test_killed_between_write_and_rename(cluster: Make, tmp_path: Path) -> None:
    apply(plan(cluster()), tmp_path)
    old = (tmp_path / PXE0).read_bytes()
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN.format(repo=str(REPO_ROOT),
                                                                   root=str(tmp_path))],
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert (tmp_path / PXE0).read_bytes() == old
    assert list(tmp_path.rglob("*.rocks-tmp")) != []  # the litter a kill leaves
    assert (tmp_path / PENDING).exists()
    res = apply(plan(cluster(tokens={"compute-0-0": "new-token"})), tmp_path)
    assert PXE0 in res.changed
    assert list(tmp_path.rglob("*.rocks-tmp")) == [] and not (tmp_path / PENDING).exists()


def test_many_files_take_the_batched_path(cluster: Make, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_syncfs = applier._syncfs

    def counted(root: Path) -> None:
        calls.append("sync")
        real_syncfs(root)

    monkeypatch.setattr(applier, "_syncfs", counted)
    apply(plan(cluster()), tmp_path)
    assert calls == ["sync"]
    calls.clear()
    apply(plan(cluster(tokens={"compute-0-0": "x"})), tmp_path)
    assert calls == []  # four files: one fsync each instead


def test_reload_with_fake_runner() -> None:
    seen: list[list[str]] = []

    def runner(argv: Sequence[str]) -> int:
        seen.append(list(argv))
        return 0 if argv[-1] != "named" else 1

    msgs = reload({"named", "dhcpd"}, runner, {"dhcpd": "isc-dhcp-server", "named": "named"})
    assert seen == [["systemctl", "reload-or-restart", "isc-dhcp-server"],
                    ["systemctl", "reload-or-restart", "named"]]
    assert msgs == ["reloaded isc-dhcp-server", "reloading named failed (exit 1)"]
    assert reload(set(), runner) == []


def test_bad_manifest_is_an_error(cluster: Make, tmp_path: Path) -> None:
    (tmp_path / MANIFEST).parent.mkdir(parents=True)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(RocksError) as err:
        apply(plan(cluster()), tmp_path)
    assert err.value.first.code == "sync.bad-manifest"
