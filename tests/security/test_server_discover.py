"""`rocks discover` as a process: it enrolls only MACs that ask for an address after it started,
reloads the DHCP server when the dynamic range opens, after each new host and when the range is
withdrawn, and says what it is doing. Everything it touches is the test's own: a state
directory, a sync root, a leases file and a reload command that only writes a file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rocks.cli.context import run_cli

REPO = Path(__file__).resolve().parents[2]
OLD_MAC = "52:54:00:aa:00:01"  # asked before discover started: not enrolled
NEW_MACS = ("52:54:00:aa:00:02", "52:54:00:aa:00:03")


def lease(ip: str, mac: str, starts: str) -> str:
    return (f"lease {ip} {{\n  starts 1 {starts};\n  binding state active;\n"
            f"  hardware ethernet {mac};\n}}\n")


def test_discover_enrolls_only_macs_seen_after_it_started(tmp_path: Path) -> None:
    env = {"ROCKS_STATE": str(tmp_path / "state"), "ROCKS_SYNC_ROOT": str(tmp_path / "root")}
    for argv in (["add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
                  "pxe=yes"],
                 ["add", "host", "compute-0-0"],
                 # sync=no: discover's own first sync writes DHCP and DNS (named: below)
                 ["add", "host", "interface", "compute-0-0", "eth0", "mac=52:54:00:00:02:00",
                  "ip=10.1.255.254", "network=private", "sync=no"]):
        r = run_cli(argv, env=env)
        assert r.code == 0, r.stderr
    leases = tmp_path / "dhcpd.leases"
    leases.write_text(lease("10.1.0.12", OLD_MAC, "2026/11/23 10:00:00")
                      + lease("10.1.0.13", "52:54:00:00:02:00", "2026/11/23 10:00:01"))
    reloads = tmp_path / "reloads"
    reload_cmd = f"{sys.executable} -c \"open('{reloads}', 'a').write('reload\\\\n')\""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rocks.cli.main", "discover", "appliance=compute",
         "duration=60", "max=2", f"leases={leases}", f"reload-command={reload_cmd}"],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)}, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        before = []
        while not (first := proc.stderr.readline()).startswith("discover: listening"):
            assert first, "discover ended before it listened"
            before.append(first)
        assert before == ["reloaded dhcpd (" + reload_cmd + ")\n",
                          f"configuration written under {tmp_path / 'root'}; not reloading "
                          "named (reload-command= reloads the DHCP server that reads it)\n"]
        assert first.startswith(f"discover: listening on {leases} for new MACs on network "
                                "private (dynamic range 10.1.0.11-10.1.0.42)"), first
        conf = (tmp_path / "root/etc/dhcp/dhcpd.conf").read_text()
        assert "range 10.1.0.11 10.1.0.42;" in conf  # the range is open while it listens
        assert reloads.read_text().count("reload") == 1
        time.sleep(1.5)  # a poll of the unchanged file: nothing new
        with leases.open("a") as fh:  # the old MAC asks again (renewal), and two new ones
            fh.write(lease("10.1.0.14", NEW_MACS[0], "2026/11/23 11:00:00"))
            fh.write(lease("10.1.0.15", NEW_MACS[1], "2026/11/23 11:00:01"))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == "compute-0-1\ncompute-0-2\n"
    assert f"discovered {NEW_MACS[0]}: compute-0-1 10.1.255.253 (1 new)" in err
    assert f"discovered {NEW_MACS[1]}: compute-0-2 10.1.255.252 (2 new)" in err
    assert err.rstrip().endswith("discover: 2 new hosts; 2 new host(s): compute-0-1, "
                                 "compute-0-2; dynamic range withdrawn")
    conf = (tmp_path / "root/etc/dhcp/dhcpd.conf").read_text()
    assert "range" not in conf and NEW_MACS[0] in conf and OLD_MAC not in conf
    assert reloads.read_text().count("reload") == 3  # opened, new hosts, withdrawn
    listed = run_cli(["list", "host"], env=env)
    assert OLD_MAC not in listed.stdout
    r = run_cli(["list", "host", "interface", "compute-0-1"], env=env)
    assert NEW_MACS[0] in r.stdout


def test_discover_without_new_macs_enrolls_nothing(tmp_path: Path) -> None:
    env = {"ROCKS_STATE": str(tmp_path / "state"), "ROCKS_SYNC_ROOT": str(tmp_path / "root")}
    r = run_cli(["add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0",
                 "pxe=yes"], env=env)
    assert r.code == 0, r.stderr
    leases = tmp_path / "dhcpd.leases"
    leases.write_text(lease("10.1.0.12", OLD_MAC, "2026/11/23 10:00:00"))
    r = run_cli(["discover", "appliance=compute", "duration=1.5", f"leases={leases}"], env=env)
    assert r.code == 0, r.stderr
    assert r.stdout == ""
    assert "not reloading dhcpd" in r.stderr  # a test root: the machine's dhcpd is left alone
    assert r.stderr.rstrip().endswith("discover: time is up; 0 new host(s); "
                                      "dynamic range withdrawn")
    assert "range" not in (tmp_path / "root/etc/dhcp/dhcpd.conf").read_text()
