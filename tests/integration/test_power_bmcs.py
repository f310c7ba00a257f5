"""Power commands against simulated BMCs on this machine's loopback (127.16.N.x, N from the
pid): OpenIPMI's ipmi_sim for IPMI and sushy-tools' Redfish emulator (fake driver). A BMC that
refuses the credentials, one that does not answer, one that answers too slowly and a host with
no BMC each get their own error while the others succeed; no password ever shows.

The tests run in any order: each machine whose power a test changes belongs to that test alone
(ipmi-1-0 and rf-1-0), and the machines the others ask about are never switched on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rocks.power.model import PowerResult
from tests.integration.bmcsim import ipmi_sim_missing, write_ipmi_sim, write_redfish
from tests.integration.cluster import REPO, ROCKS

pytestmark = [pytest.mark.integration]

NET = f"127.16.{os.getpid() % 250 + 1}"
PASSWORD = "Bmc-S3cret-pw"
WRONG = "Not-the-pw-9"
RF_PORT = 18620
SYSTEM = "5fa0c2a4-9c1d-4b7e-8a42-0d3f9b1c7e55"  # rf-0-x: asked, never switched
POWER_SYSTEM = "7c2e51d0-3a4b-4f6e-9d8c-1b2a3c4d5e66"  # rf-1-0: test_redfish_power_… alone


@dataclass
class Bmcs:
    env: dict[str, str]
    vmdir: Path  # the machine of ipmi-1-0 (test_ipmi_power_and_boot_flag alone)
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
    vmdirs = [tmp_path / "vm-status", tmp_path / "vm-power"]
    try:
        # two machines behind IPMI BMCs (a process runs while the power is on): one only asked
        # for its state (at .1), one switched by the IPMI power test (at .2)
        for n, vmdir in enumerate(vmdirs, start=1):
            vmdir.mkdir()
            (vmdir / "qemu.json").write_text(json.dumps(["/bin/sh", "-c", "exec sleep 600",
                                                         "-boot", "c"]))
            sim = write_ipmi_sim(tmp_path / f"ipmi{n}", f"bmc-{n}", [(f"{NET}.{n}", 623)],
                                 "admin", PASSWORD, vmdir=vmdir)
            with (tmp_path / f"ipmi_sim{n}.log").open("wb") as out:
                procs.append(subprocess.Popen(sim, stdout=out, stderr=out,
                                              stdin=subprocess.DEVNULL,
                                              start_new_session=True))
        conf = write_redfish(tmp_path / "redfish", {"admin": PASSWORD}, [{
            "uuid": uuid, "name": name, "power_state": "Off", "external_notifier": False,
            "nics": [{"mac": f"52:54:00:16:00:0{i}", "ip": f"{NET}.3{i}"}]}
            for i, (uuid, name) in enumerate([(SYSTEM, "node-r"),
                                              (POWER_SYSTEM, "node-p")], start=1)])
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
        b = Bmcs(env, vmdirs[1], tmp_path)
        for net in ("mgmt", "mgmt2", "mgmt3"):
            b.ok("add", "network", net, f"subnet={NET}.0", "netmask=255.255.255.0")
        hosts = {  # host: (bmc address, protocol, password)
            "ipmi-0-0": (f"{NET}.1", "ipmi", PASSWORD),
            "ipmi-0-1": (f"{NET}.1", "ipmi", WRONG),  # the same BMC, the wrong password
            "ipmi-0-2": (f"{NET}.9", "ipmi", PASSWORD),  # nothing there
            "ipmi-1-0": (f"{NET}.2", "ipmi", PASSWORD),
            "rf-0-0": (f"{NET}.20", "redfish", PASSWORD),
            "rf-0-1": (f"{NET}.20", "redfish", WRONG),
            "rf-0-2": (f"{NET}.21", "redfish", PASSWORD),  # nothing there
            "rf-0-3": (f"{NET}.22", "redfish", PASSWORD),  # answers never
            "rf-1-0": (f"{NET}.20", "redfish", PASSWORD),  # the emulator's other system
        }
        # BMCs come in through the host file's bmc column, credentials through the attribute
        # file (secret: columns). A host sharing another's BMC sits on a second network over
        # the same range (addresses are unique per network).
        rows = ["name,appliance,rack,rank,interface,ip,mac,network,bmc"]
        attrs = ["target,bmc_username,secret:bmc_password,bmc_port,bmc_scheme,bmc_system",
                 f"global,admin,{PASSWORD},,,"]
        for i, (host, (ip, proto, pw)) in enumerate(hosts.items()):
            net = "mgmt2" if pw == WRONG else "mgmt3" if host == "rf-1-0" else "mgmt"
            rows.append(f"{host},compute,0,{i},bmc,{ip},,{net},{proto}")
            if proto == "redfish":
                system = POWER_SYSTEM if host == "rf-1-0" else SYSTEM
                attrs.append(f"{host},,{pw if pw == WRONG else ''},{RF_PORT},http,{system}")
            elif pw == WRONG:
                attrs.append(f"{host},,{pw},,,")
        rows.append("nobmc-0-0,compute,0,19,,,,,")
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
        for vmdir in vmdirs:
            pid = vmdir / "qemu.pid"
            if pid.exists():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid.read_text()), 9)


def test_each_failure_is_its_own_and_the_others_succeed(bmcs: Bmcs) -> None:
    b = bmcs
    r = b.rocks("set", "host", "power", "ipmi-0-[0-2]", "rf-0-[0-3]", "nobmc-0-0",
                "action=status", "timeout=10")
    assert r.returncode == 2, r.stdout + r.stderr
    # the two good BMCs answer (their machines are never switched on), grouped as `run host`
    # groups its output
    assert r.stdout == "----- ipmi-0-0,rf-0-0 -----\noff\n", r.stdout + r.stderr
    err = r.stderr
    assert re.search(r"^ipmi-0-1: denied: login refused: Incorrect password", err, re.M), err
    assert re.search(r"^ipmi-0-2: (unreachable|timed out): ", err, re.M), err
    assert re.search(r"^rf-0-1: denied: login refused \(HTTP 401\)", err, re.M), err
    assert re.search(r"^rf-0-2: unreachable: connection refused", err, re.M), err
    assert re.search(r"^rf-0-3: timed out: ", err, re.M), err
    assert re.search(r"^nobmc-0-0: no bmc: no interface marked as its BMC", err, re.M), err
    assert "ok 2, no bmc 1 (nobmc-0-0), denied 2 (ipmi-0-1,rf-0-1)" in err, err
    assert "error: 6 of 8 hosts did not succeed" in err, err
    listed = b.ok("list", "host", "power", "ipmi-0-[0-1]", "rf-0-[0-1]", "timeout=10",
                  "output-format=json")
    rows = {row["host"]: row for row in json.loads(listed)}
    assert rows["ipmi-0-0"]["state"] == "off" and rows["ipmi-0-0"]["problem"] is None, rows
    assert rows["ipmi-0-0"]["bmc"] == f"ipmi {NET}.1:623"
    assert rows["ipmi-0-1"]["state"] is None and rows["ipmi-0-1"]["problem"].startswith(
        "denied: login refused"), rows
    assert rows["rf-0-0"]["bmc"] == f"redfish http://{NET}.20:{RF_PORT}"
    assert rows["rf-0-1"]["state"] is None and rows["rf-0-1"]["problem"].startswith("denied")


def test_ipmi_power_and_boot_flag(bmcs: Bmcs) -> None:
    b = bmcs
    chassis = b.vmdir / "chassis.log"
    b.ok("set", "host", "power", "ipmi-1-0", "action=off")  # whatever it was before
    assert b.ok("set", "host", "power", "ipmi-1-0", "action=status").endswith("\noff\n")
    seen = chassis.read_text() if chassis.exists() else ""

    def since() -> str:
        return chassis.read_text()[len(seen):]

    out = b.ok("set", "host", "power", "ipmi-1-0", "action=on", "next-boot=pxe")
    assert out == "----- ipmi-1-0 -----\npowered on, next boot pxe\n"
    assert "set boot pxe" in since() and "-boot n (flag pxe)" in since(), since()
    assert b.ok("set", "host", "power", "ipmi-1-0", "action=status").endswith("\non\n")
    assert b.ok("set", "host", "power", "ipmi-1-0", "action=reset").endswith("\nreset\n")
    assert since().rstrip().endswith("-boot c (flag default)"), since()  # the flag was spent
    b.ok("set", "host", "power", "ipmi-1-0", "action=off")
    assert b.ok("set", "host", "power", "ipmi-1-0", "action=status").endswith("\noff\n")
    r = b.rocks("set", "host", "power", "ipmi-1-0", "action=reset")
    assert r.returncode == 2 and "ipmi-1-0: failed: cannot reset: the machine is off" in r.stderr


def _redfish_system(uuid: str) -> dict[str, object]:
    import httpx

    r = httpx.get(f"http://{NET}.20:{RF_PORT}/redfish/v1/Systems/{uuid}",
                  auth=("admin", PASSWORD), timeout=10)
    r.raise_for_status()
    return dict(r.json())


def test_redfish_power_and_next_boot(bmcs: Bmcs) -> None:
    # rf-1-0's system is this test's alone and starts off with no change pending: the fake
    # driver applies a power change 1-11 s after the request and drops a request for the
    # state it still shows, so a change left pending by another test would undo ours
    b = bmcs
    out = b.ok("set", "host", "power", "rf-1-0", "action=on", "next-boot=pxe")
    assert out == "----- rf-1-0 -----\npowered on, next boot pxe\n"
    boot = _redfish_system(POWER_SYSTEM)["Boot"]
    assert isinstance(boot, dict) and boot["BootSourceOverrideTarget"] == "Pxe", boot
    deadline = time.monotonic() + 30
    while (state := b.ok("set", "host", "power", "rf-1-0", "action=status")) != \
            "----- rf-1-0 -----\non\n":
        if time.monotonic() >= deadline:  # a timeout, not a timing
            pytest.fail(state)
        time.sleep(1)
    b.ok("set", "host", "power", "rf-1-0", "action=off", "next-boot=disk")
    boot = _redfish_system(POWER_SYSTEM)["Boot"]
    assert isinstance(boot, dict) and boot["BootSourceOverrideTarget"] == "Hdd", boot
    assert _redfish_system(SYSTEM)["PowerState"] == "Off"  # the other system never moved


def _marked(mark: str) -> list[tuple[int, int]]:
    """(pid, parent pid) of the live processes whose environment carries `mark`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark.encode() not in (proc / "environ").read_bytes():
                continue
            state, ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if state != "Z":
            found.append((int(proc.name), int(ppid)))
    return found


def test_ipmi_requests_never_share_a_pyghmi(bmcs: Bmcs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Right and wrong passwords to one BMC at once always end the same way (each request
    has a pyghmi of its own: a worker process), a worker is reused for the next BMC, one whose
    request overstays is killed, one that dies is reported, and none is left behind."""
    from rocks.power.fanout import run_power
    from rocks.power.model import Action, Bmc, Outcome, Protocol

    mark = f"rocks-power-test-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("ROCKS_TEST_MARK", mark)  # inherited by the hub and its workers
    good = [Bmc(f"good-{i}", Protocol.IPMI, f"{NET}.1", "admin", PASSWORD) for i in range(4)]
    wrong = [Bmc(f"wrong-{i}", Protocol.IPMI, f"{NET}.1", "admin", WRONG) for i in range(4)]
    mixed = [b for pair in zip(good, wrong, strict=True) for b in pair]
    expected = [(b.host, Outcome.OK, "off") if b.password == PASSWORD else
                (b.host, Outcome.DENIED, "login refused: Incorrect password provided")
                for b in mixed]
    for parallel in (8, 1):  # all at once; then one worker, one BMC after another
        results = run_power(mixed, Action.STATUS, parallel=parallel, timeout=30)
        assert [(r.host, r.outcome, r.state or r.detail) for r in results] == expected
    assert _marked(mark) == []
    # nothing answers at .9: pyghmi gives up on a login after 4-6 s, the timeout comes first
    silent = [Bmc(f"silent-{i}", Protocol.IPMI, f"{NET}.9", "admin", PASSWORD)
              for i in range(3)]
    results = run_power(silent, Action.STATUS, parallel=3, timeout=1.0)
    assert {(r.outcome, r.detail) for r in results} == {
        (Outcome.TIMED_OUT, "no result within 1 s")}
    assert _marked(mark) == [], "a worker outlived its timeout"
    # a worker that dies mid-request
    box: list[list[PowerResult]] = []
    runner = threading.Thread(target=lambda: box.append(
        run_power(silent[:1], Action.STATUS, timeout=60)))
    runner.start()
    deadline = time.monotonic() + 10
    while not (workers := [p for p, ppid in _marked(mark) if ppid != os.getpid()]):
        if time.monotonic() >= deadline:
            pytest.fail("no worker process seen within 10 s")
        time.sleep(0.02)
    os.kill(workers[0], signal.SIGKILL)
    runner.join(timeout=60)
    assert box and box[0][0].outcome is Outcome.ERROR, box
    assert box[0][0].detail == "the IPMI worker process ended (signal 9)"
    assert _marked(mark) == []
