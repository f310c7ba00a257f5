"""The incremental plan writes exactly what the full plan writes.

A cluster is synced in full into one tree; then random changes are made to its hosts (a new
MAC, a new address — valid, outside its network, another host's —, a boot state, an appliance,
a rename, a new or removed interface or host, a BMC) and each change is synced incrementally
into that tree, while a second tree is synced in full from nothing. The two trees must be
byte-identical, and the problems reported the same (hypothesis picks the changes).
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rocks.model.inventory import BootState, Host, Interface, Network
from rocks.sync import state
from rocks.sync.apply import apply, disk_reader
from rocks.sync.incremental import HostRow, Update, plan_update
from rocks.sync.inputs import BiosLoader, DhcpFlavour, Discovery, SyncInput, UefiLoader
from tests.sync.conftest import make_input

IPMI = Network("ipmi", "10.2.0.0", "255.255.0.0", zone="ipmi", servedns=True)


class FakeInventory:
    """An inventory in memory with the versions the database's triggers would keep."""

    def __init__(self, inp: SyncInput, seed: int = 0) -> None:
        self.base_input = dataclasses.replace(inp, hosts=(), tokens={})
        self.rows: dict[int, tuple[Host, str | None]] = {
            i: (h, inp.tokens.get(h.name)) for i, h in enumerate(inp.hosts, 1)}
        self.rng = random.Random(seed)
        self.version = {i: self._new() for i in self.rows}
        self.next_id = len(self.rows) + 1

    def _new(self) -> int:
        return self.rng.getrandbits(62)

    # what a writer does (the triggers' part: a new version)
    def put(self, hid: int, host: Host, token: str | None) -> None:
        self.rows[hid] = (host, token)
        self.version[hid] = self._new()

    def add(self, host: Host, token: str | None = None) -> int:
        hid = self.next_id
        self.next_id += 1
        self.put(hid, host, token)
        return hid

    def drop(self, hid: int) -> None:
        del self.rows[hid]
        del self.version[hid]

    def input(self) -> SyncInput:
        rows = sorted(self.rows.values(), key=lambda r: r[0].name)
        return dataclasses.replace(self.base_input, hosts=tuple(h for h, _ in rows),
                                   tokens={h.name: t for h, t in rows if t})

    # the Inventory protocol
    def base(self) -> SyncInput:
        return self.base_input

    def tracking(self) -> bool:
        return True

    def version_sums(self) -> tuple[int, int, int]:
        vs = list(self.version.values())
        return (len(vs), sum(v & 0xFFFFFFFF for v in vs), sum(v >> 32 for v in vs))

    def versions(self) -> dict[int, int]:
        return dict(self.version)

    def versions_of(self, ids: Collection[int]) -> dict[int, int]:
        return {i: self.version[i] for i in ids if i in self.version}

    def hosts(self, ids: Collection[int] | None) -> list[HostRow]:
        out = [(i, h, t) for i, (h, t) in self.rows.items() if ids is None or i in ids]
        return sorted(out, key=lambda r: r[1].name)

    def others_claim(self, ids: Sequence[int], ips: Iterable[str], macs: Iterable[str]) -> bool:
        ips, macs = set(ips), set(macs)
        return any(i.ip in ips or (i.mac and i.mac in macs)
                   for hid, (h, _) in self.rows.items() if hid not in ids for i in h.interfaces)


def sync(inv: FakeInventory, root: Path, *, full: bool = False,
         hint: Collection[int] = ()) -> Update:
    st_ = state.load(root)
    update = plan_update(inv, st_.cache, previous=disk_reader(root), full=full, hint=hint)
    apply(update.plan, root, cache=update.cache, loaded=st_)
    return update


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "var/lib/rocks" not in str(p)}


def mirror(root: Path, scratch: Path) -> Path:
    """A copy of the tree as it is before a change (the full plan's zone serials count up
    from the same earlier zone files)."""
    copy = scratch / f"mirror-{len(list(scratch.iterdir()))}"
    shutil.copytree(root, copy, symlinks=True)
    return copy


def assert_same_as_full(inv: FakeInventory, root: Path, before: Path, update: Update) -> None:
    """The tree the incremental update made is the one a full plan makes from the same
    starting tree, byte for byte, and the problems are the same."""
    full = sync(inv, before, full=True)
    assert tree(root) == tree(before)
    assert [str(d) for d in update.plan.problems] == [str(d) for d in full.plan.problems]


# ---------------------------------------------------------------------------- changes

def _iface(host: Host, device: str) -> Interface | None:
    return next((i for i in host.interfaces if i.device == device), None)


def _with(host: Host, device: str, **change: object) -> Host:
    ifaces = tuple(dataclasses.replace(i, **change) if i.device == device else i  # type: ignore[arg-type]
                   for i in host.interfaces)
    return dataclasses.replace(host, interfaces=ifaces)


CHANGES = ("mac", "ip", "ip-outside", "ip-taken", "boot", "appliance", "rename", "add-iface",
           "remove-iface", "remove-host", "add-host", "bmc", "bad-mac", "name", "network")


def change(inv: FakeInventory, kind: str, pick: int) -> list[int]:
    """Apply one change to one host (chosen by `pick`); the ids changed."""
    ids = sorted(inv.rows)
    hid = ids[pick % len(ids)]
    host, token = inv.rows[hid]
    others = [h for i, (h, _) in inv.rows.items() if i != hid]
    eth0 = _iface(host, "eth0")
    n = pick % 200 + 1
    if kind == "mac" and eth0:
        inv.put(hid, _with(host, "eth0", mac=f"52:54:01:{n:02x}:{n:02x}:00"), token)
    elif kind == "ip" and eth0:
        inv.put(hid, _with(host, "eth0", ip=f"10.1.200.{n}", network="private"), token)
    elif kind == "ip-outside" and eth0:
        inv.put(hid, _with(host, "eth0", ip="10.9.9.9"), token)
    elif kind == "ip-taken" and eth0 and others:
        taken = [i.ip for h in others for i in h.interfaces if i.ip]
        inv.put(hid, _with(host, "eth0", ip=taken[pick % len(taken)]), token)
    elif kind == "boot":
        install = host.boot is BootState.OS
        inv.put(hid, dataclasses.replace(host, boot=BootState.INSTALL if install
                                         else BootState.OS), f"tok-{n}" if install else None)
    elif kind == "appliance":
        app = ("compute", "nas", "network")[pick % 3]
        inv.put(hid, dataclasses.replace(host, appliance=app), token)
    elif kind == "rename":
        new = f"renamed-{n}"
        if all(h.name != new for h in others):
            inv.put(hid, dataclasses.replace(host, name=new, interfaces=tuple(
                dataclasses.replace(i, host=new) for i in host.interfaces)), token)
    elif kind == "add-iface" and not _iface(host, "eth9"):
        extra = Interface(host.name, "eth9", f"52:54:02:00:{n:02x}:09", f"192.0.2.{n + 20}",
                          "public")
        inv.put(hid, dataclasses.replace(host, interfaces=(*host.interfaces, extra)), token)
    elif kind == "remove-iface" and host.interfaces:
        inv.put(hid, dataclasses.replace(host, interfaces=host.interfaces[1:]), token)
    elif kind == "remove-host" and len(inv.rows) > 2:
        inv.drop(hid)
    elif kind == "add-host":
        name = f"new-{n}"
        if all(h.name != name for h in [*others, host]):
            return [inv.add(Host(name, "compute", boot=BootState.INSTALL, interfaces=(
                Interface(name, "eth0", f"52:54:03:00:{n:02x}:00", f"10.1.100.{n}",
                          "private"),)), f"tok-new-{n}")]
    elif kind == "bmc":
        bmc = Interface(host.name, "ipmi", f"52:54:04:00:{n:02x}:00", f"10.2.0.{n}", "ipmi",
                        bmc="ipmi")
        if not _iface(host, "ipmi"):
            inv.put(hid, dataclasses.replace(host, interfaces=(*host.interfaces, bmc)), token)
    elif kind == "bad-mac" and eth0:
        inv.put(hid, _with(host, "eth0", mac="NOT-A-MAC"), token)
    elif kind == "name" and eth0:
        inv.put(hid, _with(host, "eth0", name=f"alias-{n}"), token)
    elif kind == "network" and eth0:
        inv.put(hid, _with(host, "eth0", network="public", ip=f"192.0.2.{n + 30}"), token)
    return [hid]


def cluster(variant: int) -> SyncInput:
    inp = make_input(networks=(*make_input().networks, IPMI), local_boot_files=False)
    return dataclasses.replace(
        inp,
        dhcp=(DhcpFlavour.ISC, DhcpFlavour.KEA)[variant % 2],
        bios_loader=(BiosLoader.PXELINUX, BiosLoader.IPXE)[variant // 2 % 2],
        uefi_loader=(UefiLoader.GRUB, UefiLoader.SNPONLY)[variant // 4 % 2],
        local_boot_files=bool(variant // 8 % 2),
        discovery=Discovery("private", "10.1.150.1", "10.1.150.9") if variant % 3 == 0
        else None,
        pxe_mac_names=variant % 5 == 0)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variant=st.integers(0, 15),
       steps=st.lists(st.tuples(st.sampled_from(CHANGES), st.integers(0, 10_000)),
                      min_size=1, max_size=6),
       hinted=st.booleans())
def test_incremental_equals_full(tmp_path_factory: pytest.TempPathFactory, variant: int,
                                 steps: list[tuple[str, int]], hinted: bool) -> None:
    scratch = tmp_path_factory.mktemp("inc")
    inv = FakeInventory(cluster(variant), seed=variant)
    root = scratch / "live"
    first = sync(inv, root)
    assert first.full and first.cache is not None
    for kind, pick in steps:
        before = mirror(root, scratch)
        ids = change(inv, kind, pick)
        update = sync(inv, root, hint=ids if hinted else ())
        assert_same_as_full(inv, root, before, update)


def test_one_changed_host_is_planned_alone(tmp_path: Path) -> None:
    inv = FakeInventory(cluster(0))
    sync(inv, tmp_path / "t")
    ids = change(inv, "mac", 5)
    update = sync(inv, tmp_path / "t", hint=ids)
    assert not update.full and update.hosts == 1
    host = inv.rows[ids[0]][0].name
    # its own files and the one shared file a MAC is in; nothing else is even planned
    assert {f.owner for f in update.plan.files} <= {"", host}
    assert [f.path for f in update.plan.files if not f.owner] == ["etc/dhcp/dhcpd.conf"]
    # a boot change touches no shared file
    update = sync(inv, tmp_path / "t", hint=change(inv, "boot", 5))
    assert not update.full and [f for f in update.plan.files if not f.owner] == []
    # nothing changed: nothing planned, and no hint needed to know it
    update = sync(inv, tmp_path / "t")
    assert not update.full and update.plan.files == () and update.hosts == 0


def test_a_change_outside_the_hosts_plans_everything(tmp_path: Path) -> None:
    inv = FakeInventory(cluster(0))
    sync(inv, tmp_path / "t")
    before = mirror(tmp_path / "t", tmp_path)
    inv.base_input = dataclasses.replace(inv.base_input, lease_time=600)
    update = sync(inv, tmp_path / "t")
    assert update.full and "changed" in update.why
    assert_same_as_full(inv, tmp_path / "t", before, update)
    # the frontend's own host: the full plan decides
    fe = next(i for i, (h, _) in inv.rows.items() if h.name == "frontend")
    host, token = inv.rows[fe]
    inv.put(fe, dataclasses.replace(host, comment="x"), token)
    update = sync(inv, tmp_path / "t", hint=[fe])
    assert update.full and update.why.startswith("a frontend host")


def test_a_version_missed_by_the_hint_is_still_found(tmp_path: Path) -> None:
    """Another writer changed a host the caller does not know about: the sums disagree with
    the hint, every version is compared, and both hosts are planned."""
    inv = FakeInventory(cluster(0))
    sync(inv, tmp_path / "t")
    before = mirror(tmp_path / "t", tmp_path)
    mine = change(inv, "mac", 3)
    change(inv, "ip", 7)
    update = sync(inv, tmp_path / "t", hint=mine)
    assert not update.full and update.hosts == 2
    assert_same_as_full(inv, tmp_path / "t", before, update)


def test_hand_edited_files_are_repaired_by_verify(tmp_path: Path) -> None:
    from rocks.sync.apply import verify

    inv = FakeInventory(cluster(0))
    root = tmp_path / "t"
    sync(inv, root)
    host_file = next(p for p in (root / "tftpboot/pxelinux.cfg").iterdir() if p.name != "default")
    host_file.unlink()
    (root / "etc/hosts").write_text("edited\n")
    loaded = state.load(root)
    broken, _ = verify(root, loaded)
    assert "" in broken and len(broken) == 2
