"""Every generated DHCP, DNS and named.conf file passes the real daemon's own checker."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from rocks.sync.apply import apply
from rocks.sync.inputs import BiosLoader, DhcpFlavour, Discovery, SyncInput, UefiLoader
from rocks.sync.plan import plan
from tests.conftest import optional_skip
from tests.sync.conftest import need

DISCOVERY = Discovery("private", "10.1.100.1", "10.1.100.200")
VARIANTS = [
    pytest.param({}, id="pxelinux-grub"),
    pytest.param({"bios_loader": BiosLoader.IPXE, "uefi_loader": UefiLoader.IPXE}, id="ipxe"),
    pytest.param({"uefi_loader": UefiLoader.SNPONLY, "discovery": DISCOVERY}, id="snponly-disc"),
    pytest.param({"uefi_shim": True, "discovery": DISCOVERY}, id="shim-disc"),
]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def written(inp: SyncInput, root: Path) -> Path:
    result = apply(plan(inp), root)
    assert result.changed
    return root


@pytest.mark.parametrize("changes", VARIANTS)
def test_dhcpd_accepts_config(cluster: Callable[..., SyncInput], tmp_path: Path,
                              changes: dict[str, object]) -> None:
    dhcpd = need("dhcpd")
    root = written(cluster(dhcp=DhcpFlavour.ISC, **changes), tmp_path)
    res = run([dhcpd, "-t", "-4", "-cf", str(root / "etc/dhcp/dhcpd.conf")])
    assert res.returncode == 0, res.stderr


def test_dhcpd_check_can_fail(cluster: Callable[..., SyncInput], tmp_path: Path) -> None:
    dhcpd = need("dhcpd")
    conf = written(cluster(), tmp_path) / "etc/dhcp/dhcpd.conf"
    conf.write_text(conf.read_text().replace("fixed-address 10.1.255.254;", "fixed-address ;"))
    res = run([dhcpd, "-t", "-4", "-cf", str(conf)])
    assert res.returncode == 1


@pytest.mark.parametrize("changes", VARIANTS)
def test_kea_accepts_config(cluster: Callable[..., SyncInput], tmp_path: Path,
                            changes: dict[str, object]) -> None:
    kea = need("kea-dhcp4")
    # kea-dhcp4 -t fails on interfaces that do not exist here, hence none (E2E-NOTES §4)
    root = written(cluster(dhcp=DhcpFlavour.KEA, dhcp_interfaces=(), **changes), tmp_path)
    conf = root / "etc/kea/kea-dhcp4.conf"
    doc = json.loads(conf.read_text())
    assert doc["Dhcp4"]["interfaces-config"] == {"interfaces": []}
    assert len(doc["Dhcp4"]["subnet4"][0]["reservations"]) == 23
    res = run([kea, "-t", str(conf)])
    assert res.returncode == 0, res.stdout + res.stderr


def test_kea_check_can_fail(cluster: Callable[..., SyncInput], tmp_path: Path) -> None:
    kea = need("kea-dhcp4")
    conf = written(cluster(dhcp=DhcpFlavour.KEA), tmp_path) / "etc/kea/kea-dhcp4.conf"
    conf.write_text(conf.read_text().replace('"10.1.255.254"', '"10.9.9.9"'))
    assert run([kea, "-t", str(conf)]).returncode == 1


def test_zones_pass_named_checkzone(cluster: Callable[..., SyncInput], tmp_path: Path) -> None:
    checkzone = need("named-checkzone")
    root = written(cluster(), tmp_path)
    zones = sorted(p.name for p in (root / "var/named/rocks").iterdir())
    assert zones == ["1.10.in-addr.arpa.zone", "2.0.192.in-addr.arpa.zone", "example.org.zone",
                     "local.zone"]
    for name in zones:
        zone = name.removesuffix(".zone")
        res = run([checkzone, zone, str(root / "var/named/rocks" / name)])
        assert res.returncode == 0, res.stdout
        assert "loaded serial 2026011501" in res.stdout


def test_named_conf_fragment_passes_checkconf(cluster: Callable[..., SyncInput],
                                              tmp_path: Path) -> None:
    checkconf = need("named-checkconf")
    root = written(cluster(), tmp_path)
    wrapper = root / "named.conf"
    wrapper.write_text('options { directory "/"; };\ninclude "/etc/named/rocks.conf";\n')
    res = run([checkconf, str(root / "etc/named/rocks.conf")])
    assert res.returncode == 0, res.stdout
    if os.geteuid() != 0:
        optional_skip("not-root", "loading the zones through the fragment needs "
                      "named-checkconf -t (root)")
    res = run([checkconf, "-z", "-t", str(root), "/named.conf"])
    assert res.returncode == 0, res.stdout
    assert "zone local/IN: loaded serial 2026011501" in res.stdout


def test_two_pxe_interfaces_on_one_host(cluster: Callable[..., SyncInput], tmp_path: Path) -> None:
    kea, dhcpd = need("kea-dhcp4"), need("dhcpd")
    inp = cluster()
    nas = next(h for h in inp.hosts if h.name == "nas-0-0")
    eth1 = dataclasses.replace(nas.interfaces[0], device="eth1", mac="52:54:00:bb:00:02",
                               ip="10.1.255.201")
    two = dataclasses.replace(nas, interfaces=(*nas.interfaces, eth1))
    hosts = tuple(two if h.name == "nas-0-0" else h for h in inp.hosts)
    for flavour in DhcpFlavour:
        root = written(dataclasses.replace(inp, hosts=hosts, dhcp=flavour), tmp_path / flavour)
        if flavour is DhcpFlavour.KEA:
            res = run([kea, "-t", str(root / "etc/kea/kea-dhcp4.conf")])
        else:
            res = run([dhcpd, "-t", "-4", "-cf", str(root / "etc/dhcp/dhcpd.conf")])
        assert res.returncode == 0, res.stdout + res.stderr
        assert (root / "tftpboot/pxelinux.cfg/0A01FFC9").is_file()  # eth1's address
