"""A realistic small cluster for the sync tests: a frontend, 20 compute nodes in two racks, a NAS
and a switch on a private PXE network 10.1.0.0/16 and a public 192.0.2.0/24."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from rocks.model.inventory import Appliance, BootAction, BootState, Host, Interface, Network
from rocks.sync.inputs import Frontend, SyncInput
from tests.conftest import require_tool

PRIVATE = Network("private", "10.1.0.0", "255.255.0.0", mtu=1500, zone="local", servedns=True,
                  pxe=True)
PUBLIC = Network("public", "192.0.2.0", "255.255.255.0", zone="example.org", servedns=True,
                 gateway="192.0.2.1")
APPLIANCES = (
    Appliance("frontend", "server", kickstartable=False),
    Appliance("compute", "compute"),
    Appliance("nas", "nas"),
    Appliance("network", "", kickstartable=False),
)
ACTIONS = (
    BootAction("install", "vmlinuz-9-x86_64", "initrd.img-9-x86_64", "console=ttyS0,115200"),
    BootAction("os", "localboot 0"),
)
FRONTEND = Frontend("frontend", "10.1.1.1", "http://10.1.1.1:8080", "local", (), ("10.1.1.1",))
DAY = date(2026, 1, 15)
REPO_ROOT = Path(__file__).resolve().parents[2]


def compute(rack: int, rank: int, boot: BootState = BootState.OS, **iface: object) -> Host:
    name = f"compute-{rack}-{rank}"
    eth0 = Interface(name, "eth0", mac=f"52:54:00:00:{rack:02x}:{rank:02x}",
                     ip=f"10.1.255.{254 - rack * 10 - rank}", network="private")
    return Host(name, "compute", rack, rank, boot=boot,
                interfaces=(dataclasses.replace(eth0, **iface),))  # type: ignore[arg-type]


def cluster_hosts() -> tuple[Host, ...]:
    fe = Host("frontend", "frontend", interfaces=(
        Interface("frontend", "eth0", "52:54:00:aa:00:01", "10.1.1.1", "private"),
        Interface("frontend", "eth1", "52:54:00:aa:00:02", "192.0.2.10", "public"),
    ))
    nas = Host("nas-0-0", "nas", interfaces=(
        Interface("nas-0-0", "eth0", "52:54:00:bb:00:01", "10.1.255.200", "private"),
    ))
    switch = Host("network-0-0", "network", interfaces=(
        Interface("network-0-0", "eth0", "52:54:00:cc:00:01", "10.1.255.199", "private"),
    ))
    nodes = [compute(r, k, BootState.INSTALL if (r, k) == (0, 0) else BootState.OS)
             for r in range(2) for k in range(10)]
    return (fe, nas, switch, *nodes)


def make_input(**changes: object) -> SyncInput:
    base = SyncInput(
        frontend=FRONTEND, networks=(PRIVATE, PUBLIC), appliances=APPLIANCES,
        hosts=cluster_hosts(), boot_actions=ACTIONS, tokens={"compute-0-0": "tok-0-0"},
        serial_date=DAY, local_boot_files=True,  # most tests look at every host's own files
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def cluster() -> Callable[..., SyncInput]:
    return make_input


PACKAGE_OF = {"dhcpd": "isc-dhcp-server", "kea-dhcp4": "kea-dhcp4-server"}


def need(binary: str) -> str:
    return require_tool(binary, PACKAGE_OF.get(binary, "bind9-utils"))
