"""BMCs in the inventory through the CLI: bmc= interfaces, the host file's bmc column, DHCP
reservations (ISC checked by dhcpd -t, Kea by kea-dhcp4 -t) without boot files, DNS names,
and the power commands' handling of hosts without a usable BMC (no BMC is contacted)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli

BMC_MAC = "52:54:00:00:09:00"


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.env = {"ROCKS_STATE": str(tmp / "state"), "ROCKS_SYNC_ROOT": str(self.root)}

    def __call__(self, *argv: str) -> CliResult:
        return run_cli(list(argv), env=self.env)

    def ok(self, *argv: str) -> CliResult:
        r = self(*argv)
        assert r.code == 0, r.stderr
        return r


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    c = Cluster(tmp_path)
    c.ok("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes",
         "servedns=yes", "zone=local")
    c.ok("add", "network", "ipmi", "subnet=10.2.0.0", "netmask=255.255.255.0", "zone=ipmi",
         "servedns=yes")
    c.ok("add", "host", "compute-0-0")
    c.ok("add", "host", "interface", "compute-0-0", "eth0", "mac=52:54:00:00:02:00",
         "ip=10.1.255.254", "network=private")
    c.ok("add", "host", "interface", "compute-0-0", "ipmi", f"mac={BMC_MAC}",
         "ip=10.2.0.10", "network=ipmi", "bmc=ipmi")
    return c


def test_bmc_interface_is_listed_and_one_per_host(cluster: Cluster) -> None:
    out = cluster.ok("list", "host", "interface", "output-format=csv").stdout
    assert "compute-0-0,ipmi,52:54:00:00:09:00,10.2.0.10,ipmi,,,,,ipmi\n" in out
    r = cluster("add", "host", "interface", "compute-0-0", "bmc2", "ip=10.2.0.11",
                "network=ipmi", "bmc=redfish")
    assert r.code == 2 and "already has a BMC (ipmi)" in r.stderr
    r = cluster("add", "host", "interface", "compute-0-0", "eth1", "bmc=amt")
    assert r.code != 0 and "amt" in r.stderr
    # a BMC address never stands for the host itself
    out = cluster.ok("list", "host", "attr", "compute-0-0", "attr=hostaddr").stdout
    assert "10.1.255.254" in out and "10.2.0.10" not in out


@pytest.mark.parametrize("flavour", ["isc", "kea"])
def test_sync_gives_the_bmc_a_reservation_and_no_boot_file(cluster: Cluster,
                                                           flavour: str) -> None:
    cluster.ok("set", "host", "boot", "compute-0-0", "action=install", "force=yes")
    cluster.ok("add", "attr", "sync_dhcp", flavour)
    cluster.ok("sync", "config", "loaders=no")
    if flavour == "isc":
        conf = cluster.root / "etc/dhcp/dhcpd.conf"
        text = conf.read_text()
        assert "subnet 10.2.0.0 netmask 255.255.255.0 {" in text, text
        block = text.split(f"hardware ethernet {BMC_MAC};")[1].split("}")[0]
        assert "fixed-address 10.2.0.10;" in block
        assert 'option host-name "compute-0-0-ipmi";' in block
        ipmi_subnet = text.split("subnet 10.2.0.0")[1].split("\n}")[0]
        assert "filename" not in ipmi_subnet and "next-server" not in ipmi_subnet
        check = ["dhcpd", "-t", "-4", "-cf", str(conf)]
    else:
        conf = cluster.root / "etc/kea/kea-dhcp4.conf"
        text = conf.read_text()
        assert '"subnet": "10.2.0.0/24"' in text
        assert f'"hw-address": "{BMC_MAC}", "ip-address": "10.2.0.10"' in text
        check = ["kea-dhcp4", "-t", str(conf)]
    if shutil.which(check[0]):
        res = subprocess.run(check, capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
    # the install boot files are the host's (its eth0 address), never the BMC's
    tftp = list((cluster.root / "tftpboot").rglob("*"))
    assert any("0A01FFFE" in p.name for p in tftp)
    assert not any("0A02000A" in p.name for p in tftp)
    zones = "".join(p.read_text() for p in (cluster.root / "var/named").rglob("*") if p.is_file())
    assert "compute-0-0-ipmi" in zones


def test_hostfile_bmc_column_round_trips(cluster: Cluster) -> None:
    dumped = cluster.ok("dump", "section=hostfile").stdout
    assert dumped.splitlines()[0].endswith(",bmc")
    assert "compute-0-0,compute,0,0,ipmi,10.2.0.10,52:54:00:00:09:00,ipmi,ipmi" in dumped
    path = cluster.tmp / "hosts.csv"
    path.write_text(dumped)
    loaded = cluster.ok("load", "hostfile", str(path)).stdout
    assert loaded.startswith("hosts: 0 added, 0 changed")
    bad = cluster.tmp / "bad.csv"
    bad.write_text("name,appliance,rack,rank,interface,ip,mac,network,bmc\n"
                   "compute-0-1,compute,0,1,ipmi,10.2.0.20,,ipmi,ipmi\n"
                   "compute-0-1,compute,0,1,bmc,10.2.0.21,,ipmi,redfish\n"
                   "compute-0-2,compute,0,2,ipmi,10.2.0.22,,ipmi,amt\n")
    r = cluster("load", "hostfile", str(bad))
    assert r.code == 2
    assert f"{bad}:2: " in r.stderr and "2 BMC interfaces (ipmi, bmc)" in r.stderr
    assert f"{bad}:4: " in r.stderr and "'amt' is not a BMC protocol" in r.stderr
    assert "compute-0-1" not in cluster.ok("list", "host").stdout


def test_power_without_a_usable_bmc_fails_per_host(cluster: Cluster) -> None:
    cluster.ok("add", "host", "compute-0-1")
    cluster.ok("add", "host", "interface", "compute-0-1", "ipmi", "network=ipmi", "bmc=ipmi")
    r = cluster("set", "host", "power", "compute-0-1", "action=status")
    assert r.code == 2
    assert "compute-0-1: no bmc: its BMC interface ipmi has no address" in r.stderr
    assert r.stderr.splitlines()[-2] == "no bmc 1 (compute-0-1)"
    r = cluster("set", "host", "power", "compute-0-1", "action=dance")
    assert r.code != 0 and "dance" in r.stderr
    r = cluster("set", "host", "power", "compute-0-1", "action=status", "timeout=0")
    assert r.code == 2 and "timeout must be more than 0" in r.stderr


def test_rack_attributes_cover_a_rack_and_hosts_override(cluster: Cluster) -> None:
    for host in ("compute-3-0", "compute-3-1"):
        cluster.ok("add", "host", host)
    cluster.ok("set", "attr", "bmc_password", "global-pw", "secret=yes")
    cluster.ok("set", "rack", "attr", "rack3", "bmc_password", "rack-pw", "secret=yes")
    cluster.ok("add", "rack", "attr", "3", "bmc_username", "ops")
    cluster.ok("set", "host", "attr", "compute-3-1", "bmc_username", "own")
    r = cluster("add", "rack", "attr", "3", "bmc_username", "again")
    assert r.code == 2 and "already exists at rack 3" in r.stderr
    r = cluster("set", "rack", "attr", "r3", "x", "1")
    assert r.code == 2 and "not a rack number" in r.stderr
    listed = cluster.ok("list", "rack", "attr", "output-format=csv").stdout
    assert listed == "rack,attr,value\n3,bmc_password,********\n3,bmc_username,ops\n"
    out = cluster.ok("list", "host", "attr", "compute-0-0", "compute-3-0", "compute-3-1",
                     "attr=bmc_user*", "output-format=csv").stdout
    assert "compute-3-0,bmc_username,ops,K\n" in out and "compute-3-1,bmc_username,own,H\n" in out
    assert "compute-0-0,bmc_username,,R\n" in out
    out = cluster.ok("list", "host", "attr", "compute-3-0", "attr=bmc_password").stdout
    assert "********  K" in out and "rack-pw" not in out
    # a host moved into the rack gets the rack's values; the dump restores rack attributes
    cluster.ok("set", "host", "rack", "compute-0-0", "rack=3")
    out = cluster.ok("list", "host", "attr", "compute-0-0", "attr=bmc_username").stdout
    assert "ops" in out
    dumped = cluster.ok("dump", "section=attrfile").stdout
    assert "rack:3,rack-pw,ops\n" in dumped.replace(",,", ",") or "rack:3," in dumped
    path = cluster.tmp / "attrs.csv"
    path.write_text("target,secret:bmc_password\nrack:3,new-pw\nrack:x,pw\n")
    r = cluster("load", "attrfile", str(path))
    assert r.code == 2 and f"{path}:3: " in r.stderr
    path.write_text("target,secret:bmc_password\nrack:3,new-pw\nrack:7,pw7\n")
    assert "attributes: 1 added, 1 changed" in cluster.ok("load", "attrfile", str(path)).stdout
    cluster.ok("remove", "rack", "attr", "3", "bmc_username")
    assert "bmc_username" not in cluster.ok("list", "rack", "attr").stdout
