"""netfacts.derive: which network is private, which frontend, what follows from an explicit value.

The CLI tests (tests/cli/test_network_facts.py) drive the same facts through the inventory;
these pin the choices that are awkward to set up there.
"""

from __future__ import annotations

from rocks.inventory.netfacts import Fact, FrontendNic, derive, private_network
from rocks.model.inventory import Network

PRIVATE = Network("private", "192.168.10.0", "255.255.255.0", zone="local", pxe=True)
OTHER_PXE = Network("boot", "172.16.0.0", "255.255.0.0", zone="boot", pxe=True)
NICS = (
    FrontendNic("fe2", "eth0", "192.168.10.2", "private"),
    FrontendNic("fe1", "eth0", "192.168.10.1", "private", name="head"),
)


def values(facts: dict[str, Fact]) -> dict[str, str]:
    return {k: f.value for k, f in facts.items()}


def test_private_is_by_name_else_the_first_pxe_network() -> None:
    assert private_network([OTHER_PXE, PRIVATE]) == PRIVATE
    ipmi = Network("ipmi", "10.2.0.0", "255.255.255.0")
    assert private_network([ipmi, OTHER_PXE]) == OTHER_PXE
    assert private_network([ipmi]) is None


def test_first_frontend_by_name_unless_an_explicit_address_picks_one() -> None:
    got = values(derive([PRIVATE], NICS, {}))
    assert (got["Kickstart_PrivateAddress"], got["Kickstart_PrivateHostname"]) == (
        "192.168.10.1", "head")  # fe1 sorts first; its name on the network is head
    got = values(derive([PRIVATE], NICS, {"Kickstart_PrivateKickstartHost": "192.168.10.2"}))
    assert (got["Kickstart_PrivateAddress"], got["Kickstart_PrivateHostname"]) == (
        "192.168.10.2", "fe2")


def test_gateway_and_urls() -> None:
    got = values(derive([PRIVATE], NICS, {}))
    assert got["Kickstart_PrivateGateway"] == "192.168.10.1"  # the frontend routes
    assert got["Kickstart_FrontendURL"] == "http://192.168.10.1:8080"
    assert got["Kickstart_DistroURL"] == "http://192.168.10.1:8080/install/distro"
    routed = Network("private", "192.168.10.0", "255.255.255.0", zone="local", pxe=True,
                     gateway="192.168.10.254")
    got = values(derive([routed], NICS, {"Kickstart_FrontendURL": "https://fe.example.org/"}))
    assert got["Kickstart_PrivateGateway"] == "192.168.10.254"
    assert got["Kickstart_FrontendURL"] == "http://192.168.10.1:8080"  # (the explicit one wins)
    assert got["Kickstart_DistroURL"] == "https://fe.example.org/install/distro"


def test_without_a_frontend_only_the_network_shape() -> None:
    assert sorted(values(derive([PRIVATE], (), {}))) == [
        "Kickstart_PrivateBroadcast", "Kickstart_PrivateDNSDomain", "Kickstart_PrivateMTU",
        "Kickstart_PrivateNetmask", "Kickstart_PrivateNetmaskCIDR", "Kickstart_PrivateNetwork"]
    assert derive([], NICS, {}) == {}
