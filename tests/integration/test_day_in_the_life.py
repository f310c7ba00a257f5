"""A day in the life of an admin, driven only through the CLI and HTTP (no library calls).

A roll with two RPMs, two node files and an appliance is built with `rocks create roll`, added and
enabled; the site extends compute under <state>/site; a network, a frontend and hosts of the
roll's appliance and of compute are loaded from a host file; the distribution is built; the
frontend runs; hosts are set to install; each host's kickstart is fetched over HTTP as the node
does (from its own 127.x address, with its token from its PXE boot file). Then the site file is
edited while the frontend runs, and a node file only the roll's appliance reaches is broken.

Every `rocks` is a subprocess of the installed console script; every node fetch is an HTTP
request from the node's address. The network facts in the kickstart (netmask, gateway, URL,
FQDN) come from the network the hosts are on.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROCKS = Path(sys.executable).parent / "rocks"
# (name, appliance, rank, eth0 on the private network, its MAC, eth1 on loopback)
HOSTS = (
    ("head", "frontend", 0, "192.168.50.1", "52:54:00:50:00:01", ""),
    ("gpu-0-0", "gpu", 0, "192.168.50.10", "52:54:00:50:00:10", "127.50.0.10"),
    ("compute-0-0", "compute", 0, "192.168.50.20", "52:54:00:50:00:20", "127.50.0.20"),
    ("compute-0-1", "compute", 1, "192.168.50.21", "52:54:00:50:00:21", "127.50.0.21"),
)
SITE_V1 = "echo site-extension-v1 > /etc/site-extension\n"
SITE_V2 = "echo site-extension-v2 > /etc/site-extension\n"


def _spec(name: str) -> str:
    return (f"Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: {name} for the day test\n"
            "License: MIT\nBuildArch: noarch\n\n%description\nA test package.\n\n%install\n"
            f"mkdir -p %{{buildroot}}/etc/{name}\necho {name} > %{{buildroot}}/etc/{name}/id\n\n"
            f"%files\n/etc/{name}/id\n")


GPU_NODE = ("<kickstart>\n<description>The GPU appliance: compute plus the driver</description>\n"
            "<package>gpu-driver</package>\n<post>\necho gpu > /etc/gpu-node\n</post>\n"
            "</kickstart>\n")


@dataclass
class Day:
    tmp: Path
    state: Path
    env: dict[str, str]
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def rocks(self, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([str(ROCKS), *argv], env=self.env, cwd=self.tmp, text=True,
                           capture_output=True, timeout=300, check=False)
        if ok:
            assert r.returncode == 0, f"rocks {' '.join(argv)}:\n{r.stdout}\n{r.stderr}"
        return r

    def token(self, host: str) -> str:
        """The token the host's PXE boot file hands its installer (as the node reads it)."""
        out = self.rocks("report", "host", "pxe", host).stdout
        found = re.findall(r"token=([A-Za-z0-9_-]+)", out)
        assert found, out
        return found[0]

    def kickstart(self, host: str) -> httpx.Response:
        """GET /install/kickstart from the host's own address, as Anaconda does."""
        _, _, _, _, mac, loop = next(h for h in HOSTS if h[0] == host)
        transport = httpx.HTTPTransport(local_address=loop)
        with httpx.Client(transport=transport, timeout=30) as client:
            return client.get(f"{self.base}/install/kickstart",
                              params={"token": self.token(host)},
                              headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac}"})

    def wait_for(self, host: str, predicate: str, *, absent: bool = False,
                 seconds: float = 20.0) -> str:
        """The host's kickstart once `predicate` is (or is no longer) in it."""
        end = time.monotonic() + seconds
        text = ""
        while time.monotonic() < end:
            r = self.kickstart(host)
            text = r.text
            if r.status_code == 200 and ((predicate in text) != absent):
                return text
            time.sleep(0.3)
        raise AssertionError(f"{host}: {predicate!r} {'still' if absent else 'never'} served:\n"
                             f"{text[-2000:]}\n--- server log\n{self.log.read_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_roll(root: Path) -> Path:
    roll = root / "gpu"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "src").mkdir()
    (roll / "roll.xml").write_text(
        '<roll name="gpu" interface="4.0">\n<info version="1.0" release="1" arch="x86_64" '
        'os="linux"/>\n<description>GPU nodes</description>\n</roll>\n')
    (roll / "nodes" / "gpu.xml").write_text(GPU_NODE)
    (roll / "nodes" / "hello.xml").write_text(
        "<kickstart>\n<package>hello-rocks</package>\n</kickstart>\n")
    (roll / "graphs" / "default" / "gpu.xml").write_text(
        '<graph>\n<appliance name="gpu" node="gpu"/>\n<edge from="gpu" to="compute"/>\n'
        '<edge from="compute" to="hello"/>\n</graph>\n')
    (roll / "src" / "gpu-driver.spec").write_text(_spec("gpu-driver"))
    (roll / "src" / "hello-rocks.spec").write_text(_spec("hello-rocks"))
    return roll


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    if shutil.which("rpmbuild") is None:
        pytest.fail("rpmbuild is missing: apt-get install rpm (scripts/apt-packages.txt)")
    tmp = tmp_path_factory.mktemp("day")
    state = tmp / "state"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ROCKS_") and k != "PYTHONPATH"}
    env.update(ROCKS_STATE=str(state), HOME=str(tmp))
    port = _free_port()
    day = Day(tmp, state, env, f"http://127.0.0.1:{port}", None, tmp / "frontend.log")  # type: ignore[arg-type]

    # the roll: built, added, enabled
    roll = _make_roll(tmp)
    iso = Path(day.rocks("create", "roll", str(roll), f"dir={tmp / 'out'}").stdout.strip())
    assert iso.is_file()
    day.rocks("add", "roll", str(iso))
    day.rocks("enable", "roll", "gpu")
    day.rocks("add", "appliance", "gpu")  # the roll declares it; its node is in the graph

    # the site's own extension of compute, in the state
    assert (state / "site" / "nodes").is_dir(), "the state init creates the site graph"
    (state / "site" / "nodes" / "extend-compute.xml").write_text(
        f"<kickstart>\n<post>\n{SITE_V1}</post>\n</kickstart>\n")

    # the network, the frontend and the hosts
    day.rocks("add", "network", "private", "subnet=192.168.50.0", "netmask=255.255.255.0",
              "gateway=192.168.50.1", "zone=cluster.test", "servedns=yes", "pxe=yes")
    day.rocks("add", "network", "loop", "subnet=127.50.0.0", "netmask=255.255.0.0")
    rows = ["name,appliance,rack,rank,interface,ip,mac,network"]
    for name, appliance, rank, ip, mac, loop in HOSTS:
        rows.append(f"{name},{appliance},0,{rank},eth0,{ip},{mac},private")
        if loop:
            rows.append(f"{name},{appliance},0,{rank},eth1,{loop},,loop")
    (tmp / "hosts.csv").write_text("\n".join(rows) + "\n")
    day.rocks("load", "hostfile", str(tmp / "hosts.csv"))
    day.rocks("create", "distro", "force=yes")  # the roll's packages only: no OS roll here

    day.proc = subprocess.Popen(
        [str(ROCKS), "start", "frontend", "host=127.0.0.1", f"port={port}"], env=env, cwd=tmp,
        stdout=day.log.open("ab"), stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 60
        while True:
            assert day.proc.poll() is None, day.log.read_text()[-3000:]
            try:
                if httpx.get(f"{day.base}/status.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() >= end:  # a timeout, not a timing
                pytest.fail(day.log.read_text()[-3000:])
            time.sleep(0.1)
        # the distribution lacks the base roll's packages (no OS roll here): force=yes
        day.rocks("set", "host", "boot", "gpu-0-0", "compute-0-0", "compute-0-1",
                  "action=install", "force=yes")
        yield day
    finally:
        day.proc.send_signal(signal.SIGTERM)
        try:
            day.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            day.proc.kill()
            day.proc.wait()


def test_the_rolls_package_and_the_site_extension_are_served(day: Day) -> None:
    gpu = day.wait_for("gpu-0-0", "gpu-driver")
    compute = day.wait_for("compute-0-0", "hello-rocks")
    for text in (gpu, compute):
        assert "\nhello-rocks\n" in text  # compute -> hello, an edge of the roll
        assert SITE_V1 in text  # <state>/site/nodes/extend-compute.xml
    assert "\ngpu-driver\n" in gpu and "gpu-driver" not in compute
    assert "echo gpu > /etc/gpu-node" in gpu
    # the listings agree with what is served
    listed = day.rocks("list", "host", "profile", "gpu-0-0").stdout
    assert "\ngpu-driver\n" in listed and SITE_V1 in listed
    preview = day.rocks("list", "appliance", "profile", "gpu").stdout
    assert "\ngpu-driver\n" in preview
    check = day.rocks("check", "graph").stdout
    assert "roll gpu 1.0 x86_64: store, enabled, untrusted" in check
    assert f"site graph {day.state / 'site'}: 1 file" in check
    assert re.search(r"^appliance gpu: gpu, \d+ nodes", check, re.M), check


def test_a_site_edit_is_served_without_a_restart(day: Day) -> None:
    day.wait_for("compute-0-1", SITE_V1)
    pid = day.proc.pid
    path = day.state / "site" / "nodes" / "extend-compute.xml"
    path.write_text(f"<kickstart>\n<post>\n{SITE_V2}</post>\n</kickstart>\n")
    try:
        text = day.wait_for("compute-0-1", SITE_V2)
        assert SITE_V1 not in text
        assert day.proc.pid == pid and day.proc.poll() is None
    finally:  # the other tests (any order) see the site as the fixture made it
        path.write_text(f"<kickstart>\n<post>\n{SITE_V1}</post>\n</kickstart>\n")
        day.wait_for("compute-0-1", SITE_V1)


def test_a_broken_roll_node_fails_only_its_appliance(day: Day) -> None:
    day.wait_for("gpu-0-0", "gpu-driver")
    node = day.state / "rolls" / "gpu" / "1.0" / "x86_64" / "nodes" / "gpu.xml"
    node.write_text(GPU_NODE.replace("</post>", "</pots>"))  # malformed XML
    try:
        # compute keeps compiling from the new graph (its site edit is still picked up) …
        # (a line no earlier graph had: the compute kickstart shows it only from the new graph)
        path = day.state / "site" / "nodes" / "extend-compute.xml"
        site = f"{SITE_V1}echo after-the-gpu-node-broke\n"
        path.write_text(f"<kickstart>\n<post>\n{site}</post>\n</kickstart>\n")
        day.wait_for("compute-0-0", "echo after-the-gpu-node-broke")
        # … and the GPU node is still served its last validated profile, and told about it
        gpu = day.kickstart("gpu-0-0")
        assert gpu.status_code == 200 and "\ngpu-driver\n" in gpu.text
        status = httpx.get(f"{day.base}/status.json", timeout=10).json()
        assert "gpu" in status["graph_problems"], status
        assert "rolls/gpu/1.0/x86_64/nodes/gpu.xml" in status["graph_problems"]["gpu"]
        assert "compute" not in status["graph_problems"]
        page = httpx.get(f"{day.base}/", timeout=10).text
        assert "appliance gpu" in page and "still serving its last validated profile" in page
        assert "appliance gpu: compile failed; serving its last validated profile" in \
            day.log.read_text()
        # check graph: the root cause first, located, and no follow-on noise
        r = day.rocks("check", "graph", ok=False)
        assert r.returncode == 2
        errors = [ln for ln in r.stderr.splitlines() if ": error: " in ln]
        assert errors and errors[0].startswith("rolls/gpu/1.0/x86_64/nodes/gpu.xml:"), r.stderr
        assert "malformed XML" in errors[0]
        assert not any("no node file" in ln for ln in errors), r.stderr
        assert re.search(r"^appliance gpu: FAILS: rolls/gpu/1\.0/x86_64/nodes/gpu\.xml:\d+ ",
                         r.stdout, re.M), r.stdout
        assert re.search(r"^appliance compute: compute, \d+ nodes", r.stdout, re.M), r.stdout
    finally:  # the other tests (any order) see the roll and the site as the fixture made them
        node.write_text(GPU_NODE)
        site_node = day.state / "site" / "nodes" / "extend-compute.xml"
        site_node.write_text(f"<kickstart>\n<post>\n{SITE_V1}</post>\n</kickstart>\n")
        day.wait_for("gpu-0-0", "gpu-driver")
        day.wait_for("compute-0-0", "after-the-gpu-node-broke", absent=True)


def test_the_network_facts_reach_the_kickstart(day: Day) -> None:
    text = day.wait_for("compute-0-0", "hello-rocks")
    assert "--netmask=255.255.255.0" in text
    assert "--gateway=192.168.50.1" in text
    assert re.search(r"^url --url=http://192\.168\.50\.1[:/]", text, re.M), text
    fqdn = "compute-0-0.cluster.test"
    assert f"--hostname={fqdn}" in text
    assert fqdn in day.rocks("report", "host", "hosts").stdout
    dhcpd = day.rocks("report", "host", "dhcpd").stdout  # Rocks' shape: name + domain
    assert 'option domain-name "cluster.test";' in dhcpd, dhcpd
    assert 'option host-name "compute-0-0";' in dhcpd, dhcpd
