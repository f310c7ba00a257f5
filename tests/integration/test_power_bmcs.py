"""Power commands against simulated BMCs on this machine's loopback (127.16.N.x, N from the
pid): OpenIPMI's ipmi_sim for IPMI and sushy-tools' Redfish emulator (fake driver). A BMC that
refuses the credentials, one that does not answer, one that answers too slowly and a host with
no BMC each get their own error while the others succeed; no password ever shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.bmcsim import ipmi_sim_missing, write_ipmi_sim, write_redfish
from tests.integration.cluster import REPO, ROCKS

pytestmark = [pytest.mark.integration]

NET = f"127.16.{os.getpid() % 250 + 1}"
PASSWORD = "Bmc-S3cret-pw"
WRONG = "Not-the-pw-9"
RF_PORT = 18620
SYSTEM = "5fa0c2a4-9c1d-4b7e-8a42-0d3f9b1c7e55"


@dataclass
class Bmcs:
    env: dict[str, str]
    vmdir: Path
    tmp: Path

    def rocks(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([str(ROCKS), *args], capture_output=True, text=True, env=self.env,
                           timeout=timeout, cwd=REPO)
        for secret in (PASSWORD, WRONG):
            assert secret not in r.stdout + r.stderr, "a password was printed"
        return r

    def ok(self, *args: str) -> str:
        r = self.rocks(*args)
        assert r.returncode == 0, f"rocks {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
        return r.stdout


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{host}:{port} not listening:\n{log.read_text(errors='replace')}")


def _silent_server(host: str, port: int, stop: threading.Event) -> socket.socket:
    """Accepts connections and never answers: a BMC that hangs."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(16)
    srv.settimeout(0.2)
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)
        for conn in held:
            conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def bmcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bmcs]:
    tmp_path = tmp_path_factory.mktemp("bmcs")
    missing = ipmi_sim_missing()
    assert missing is None, missing
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    vmdir = tmp_path / "vm"
    vmdir.mkdir()
    # the machine behind the IPMI BMC: a process that runs while the power is on
    (vmdir / "qemu.json").write_text(json.dumps(["/bin/sh", "-c", "exec sleep 600",
                                                 "-boot", "c"]))
    try:
        sim = write_ipmi_sim(tmp_path / "ipmi", "bmc-ok", [(f"{NET}.1", 623)], "admin",
                             PASSWORD, vmdir=vmdir)
        log = tmp_path / "ipmi_sim.log"
        with log.open("wb") as out:
            procs.append(subprocess.Popen(sim, stdout=out, stderr=out,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
        conf = write_redfish(tmp_path / "redfish", {"admin": PASSWORD}, [{
            "uuid": SYSTEM, "name": "node-r", "power_state": "Off", "external_notifier": False,
            "nics": [{"mac": "52:54:00:16:00:01", "ip": f"{NET}.30"}]}])
        rlog = tmp_path / "redfish.log"
        with rlog.open("wb") as out:
            emulator = [sys.executable, "-m", "sushy_tools.emulator.main", "--config",
                        str(conf), "-i", f"{NET}.20", "-p", str(RF_PORT)]
            procs.append(subprocess.Popen(emulator, stdout=out, stderr=out,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
        _wait_port(f"{NET}.20", RF_PORT, procs[-1], rlog)
        _silent_server(f"{NET}.22", RF_PORT, stop)
        state = tmp_path / "state"
        state.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
        env.update(ROCKS_STATE=str(state), PYTHONPATH=str(REPO))
        b = Bmcs(env, vmdir, tmp_path)
        for net in ("mgmt", "mgmt2"):
            b.ok("add", "network", net, f"subnet={NET}.0", "netmask=255.255.255.0")
        hosts = {  # host: (bmc address, protocol, password)
            "ipmi-0-0": (f"{NET}.1", "ipmi", PASSWORD),
            "ipmi-0-1": (f"{NET}.1", "ipmi", WRONG),  # the same BMC, the wrong password
            "ipmi-0-2": (f"{NET}.9", "ipmi", PASSWORD),  # nothing there
            "rf-0-0": (f"{NET}.20", "redfish", PASSWORD),
            "rf-0-1": (f"{NET}.20", "redfish", WRONG),
            "rf-0-2": (f"{NET}.21", "redfish", PASSWORD),  # nothing there
            "rf-0-3": (f"{NET}.22", "redfish", PASSWORD),  # answers never
        }
        # BMCs come in through the host file's bmc column, credentials through the attribute
        # file (secret: columns). A wrong-password host reaches its twin's BMC: addresses are
        # unique per network, so it sits on a second network over the same range.
        rows = ["name,appliance,rack,rank,interface,ip,mac,network,bmc"]
        attrs = ["target,bmc_username,secret:bmc_password,bmc_port,bmc_scheme",
                 f"global,admin,{PASSWORD},,"]
        for i, (host, (ip, proto, pw)) in enumerate(hosts.items()):
            net = "mgmt2" if pw == WRONG else "mgmt"
            rows.append(f"{host},compute,0,{i},bmc,{ip},,{net},{proto}")
            rf = (str(RF_PORT), "http") if proto == "redfish" else ("", "")
            if pw == WRONG or rf[0]:
                attrs.append(f"{host},,{pw if pw == WRONG else ''},{rf[0]},{rf[1]}")
        rows.append("nobmc-0-0,compute,0,9,,,,,")
        (tmp_path / "hosts.csv").write_text("\n".join(rows) + "\n")
        (tmp_path / "attrs.csv").write_text("\n".join(attrs) + "\n")
        b.ok("load", "hostfile", str(tmp_path / "hosts.csv"))
        b.ok("load", "attrfile", str(tmp_path / "attrs.csv"))
        yield b
    finally:
        stop.set()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        pid = vmdir / "qemu.pid"
        if pid.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid.read_text()), 9)


def test_each_failure_is_its_own_and_the_others_succeed(bmcs: Bmcs) -> None:
    b = bmcs
    r = b.rocks("set", "host", "power", "ipmi-0-[0-2]", "rf-0-[0-3]", "nobmc-0-0",
                "action=status", "timeout=15")  # generous: ipmi_sim asks its chassis script
    assert r.returncode == 2, r.stdout + r.stderr
    # the two good BMCs answer (on or off: the other tests of this module, in any order, may
    # have left either machine on), grouped as `run host` groups its output
    groups = re.findall(r"^----- (\S+) -----\n(on|off)$", r.stdout, re.M)
    assert sorted(h for hosts, _ in groups for h in hosts.split(",")) == \
        ["ipmi-0-0", "rf-0-0"], r.stdout + r.stderr
    err = r.stderr
    assert re.search(r"^ipmi-0-1: denied: login refused", err, re.M), err
    assert re.search(r"^ipmi-0-2: (unreachable|timed out): ", err, re.M), err
    assert re.search(r"^rf-0-1: denied: login refused \(HTTP 401\)", err, re.M), err
    assert re.search(r"^rf-0-2: unreachable: connection refused", err, re.M), err
    assert re.search(r"^rf-0-3: timed out: ", err, re.M), err
    assert re.search(r"^nobmc-0-0: no bmc: no interface marked as its BMC", err, re.M), err
    assert "ok 2, no bmc 1 (nobmc-0-0), denied 2 (ipmi-0-1,rf-0-1)" in err, err
    assert "error: 6 of 8 hosts did not succeed" in err, err
    listed = b.ok("list", "host", "power", "timeout=15", "output-format=json")
    rows = {row["host"]: row for row in json.loads(listed)}
    assert rows["ipmi-0-0"]["state"] in ("on", "off") and rows["ipmi-0-0"]["problem"] is None
    assert rows["ipmi-0-0"]["bmc"] == f"ipmi {NET}.1:623"
    assert rows["rf-0-0"]["bmc"] == f"redfish http://{NET}.20:{RF_PORT}"
    assert rows["rf-0-1"]["state"] is None and rows["rf-0-1"]["problem"].startswith("denied")


def test_ipmi_power_and_boot_flag(bmcs: Bmcs) -> None:
    b = bmcs
    out = b.ok("set", "host", "power", "ipmi-0-0", "action=on", "next-boot=pxe")
    assert out == "----- ipmi-0-0 -----\npowered on, next boot pxe\n"
    log = (b.vmdir / "chassis.log").read_text()
    assert "set boot pxe" in log and "-boot n (flag pxe)" in log, log
    assert b.ok("set", "host", "power", "ipmi-0-0", "action=status").endswith("\non\n")
    assert b.ok("set", "host", "power", "ipmi-0-0", "action=reset").endswith("\nreset\n")
    assert (b.vmdir / "chassis.log").read_text().rstrip().endswith("-boot c (flag default)")
    b.ok("set", "host", "power", "ipmi-0-0", "action=off")
    assert b.ok("set", "host", "power", "ipmi-0-0", "action=status").endswith("\noff\n")
    r = b.rocks("set", "host", "power", "ipmi-0-0", "action=reset")
    assert r.returncode == 2 and "ipmi-0-0: failed: cannot reset: the machine is off" in r.stderr


def _redfish_system() -> dict[str, object]:
    import httpx

    r = httpx.get(f"http://{NET}.20:{RF_PORT}/redfish/v1/Systems/{SYSTEM}",
                  auth=("admin", PASSWORD), timeout=10)
    r.raise_for_status()
    return dict(r.json())


def test_redfish_power_and_next_boot(bmcs: Bmcs) -> None:
    b = bmcs
    out = b.ok("set", "host", "power", "rf-0-0", "action=on", "next-boot=pxe")
    assert out == "----- rf-0-0 -----\npowered on, next boot pxe\n"
    boot = _redfish_system()["Boot"]
    assert isinstance(boot, dict) and boot["BootSourceOverrideTarget"] == "Pxe", boot
    # the emulator applies a power change 1-11 s later, as hardware does
    deadline = time.monotonic() + 20
    while (state := b.ok("set", "host", "power", "rf-0-0", "action=status")) != \
            "----- rf-0-0 -----\non\n":
        if time.monotonic() >= deadline:  # a timeout, not a timing
            pytest.fail(state)
        time.sleep(1)
    b.ok("set", "host", "power", "rf-0-0", "action=off", "next-boot=disk")
    boot = _redfish_system()["Boot"]
    assert isinstance(boot, dict) and boot["BootSourceOverrideTarget"] == "Hdd", boot
