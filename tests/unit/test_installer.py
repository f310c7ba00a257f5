"""rocks.installer's pieces on their own: reading the kickstart (against the bundled roll's real
compiled kickstart), refusing what it does not execute, running scripts with their interpreter
and log, the phone-home reporter, partition sizes, fstab and NetworkManager keyfiles.

The whole installer runs for real in tests/integration/test_reinstall.py (qemu) and its storage
on loop devices in tests/integration/test_partition_rules.py.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from rocks.compiler.service import Compiler, load_graph, preview_attributes
from rocks.installer import bootloader, kickstart, storage, system
from rocks.installer.events import Reporter
from rocks.installer.kickstart import InstallError
from rocks.installer.main import boot_args
from rocks.installer.scripts import KsScript, run_script


@pytest.fixture(scope="module")
def compute_ks() -> str:
    graph = load_graph()
    return Compiler(graph).render("compute", preview_attributes(graph, "compute", "el9"))


def test_the_compute_kickstart_is_executable_as_served(compute_ks: str) -> None:
    handler = kickstart.parse(compute_ks, includes=False)
    assert kickstart.check_supported(handler) == []
    scripts = kickstart.scripts(handler)
    pre = [s for s in scripts if s.kind == "pre"]
    post = [s for s in scripts if s.kind == "post"]
    assert [s.origin for s in pre][:2] == ["base:nodes/install-log-begin.xml:10",
                                           "base:nodes/phone-home.xml:11"]
    assert post[0].title == "%post --nochroot base:nodes/install-log-begin.xml:14"
    assert post[0].log == "/mnt/sysimage/var/log/rocks-post-01-install-log-begin.log"
    node_info = next(s for s in post if "node-info.xml" in s.origin)
    assert node_info.interp == "/usr/bin/python3" and node_info.chroot
    # the installer reports where the kickstart's own phone-home lines do
    rep = Reporter.from_scripts(scripts)
    assert rep is not None
    assert (rep.url, rep.token) == ("http://10.1.1.1:8080/install/events", "preview")
    # the partition include is there to be written by %pre: a full parse needs it
    with pytest.raises(InstallError, match=r"rocks-partition\.ks"):
        kickstart.parse(compute_ks, includes=True)


def test_unsupported_commands_are_refused_with_their_lines() -> None:
    handler = kickstart.parse("autopart --type=lvm\nrootpw --lock\nuser --name=alice\n"
                              "text\nsshpw --username=root --lock x\n", includes=False)
    problems = kickstart.check_supported(handler)
    assert problems == [
        "kickstart line 1: `autopart` is not executed by the rocks test installer "
        "(README: what it executes)",
        "kickstart line 3: `user` is not executed by the rocks test installer "
        "(README: what it executes)",
    ]


def test_parse_errors_name_the_kickstart_line() -> None:
    with pytest.raises(InstallError, match=r"kickstart line 2: .*bootproto"):
        kickstart.parse("rootpw --lock\nnetwork --bootproto=dhcpx\n", includes=False)


def test_mac_headers_one_per_interface(tmp_path: Path) -> None:
    for dev, mac in (("lo", "00:00:00:00:00:00"), ("eth1", "52:54:00:00:00:02"),
                     ("eth0", "52:54:00:00:00:01")):
        (tmp_path / dev).mkdir()
        (tmp_path / dev / "address").write_text(mac + "\n")
    assert kickstart.mac_headers(tmp_path) == {
        "X-RHN-Provisioning-MAC-0": "eth0 52:54:00:00:00:01",
        "X-RHN-Provisioning-MAC-1": "eth1 52:54:00:00:00:02"}


class _Frontend(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []
    seen: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def _answer(self, body: bytes) -> None:
        self.seen.append((self.command, {k.lower(): v for k, v in self.headers.items()}, body))
        status, headers, text = self.answers.pop(0)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers["Content-Length"])))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def frontend() -> Iterator[tuple[str, type[_Frontend]]]:
    handler = type("H", (_Frontend,), {"answers": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_retries_busy_then_sends_mac_headers(frontend: tuple[str, type[_Frontend]]
                                                   ) -> None:
    base, h = frontend
    h.answers += [(503, {"Retry-After": "1"}, b"busy\n"), (200, {}, b"rootpw --lock\n")]
    slept: list[float] = []
    got = kickstart.fetch(f"{base}/install/kickstart?token=t",
                          {"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:00:00:01"},
                          sleep=slept.append)
    assert (got.text, got.attempts, slept) == ("rootpw --lock\n", 2, [1.0])
    assert h.seen[-1][1]["x-rhn-provisioning-mac-0"] == "eth0 52:54:00:00:00:01"
    h.answers.append((403, {}, b"missing or invalid token\n"))
    with pytest.raises(InstallError, match="refused the kickstart: HTTP 403 missing or invalid"):
        kickstart.fetch(f"{base}/install/kickstart", {}, sleep=slept.append)


def test_reporter_posts_stage_message_and_token(frontend: tuple[str, type[_Frontend]]) -> None:
    base, h = frontend
    h.answers.append((200, {}, b"ok\n"))
    said: list[str] = []
    body = f'curl -X POST --data-urlencode "token=abc_-1" {base}/install/events || true\n'
    rep = Reporter.from_scripts([KsScript("pre", body)], said.append)
    assert rep is not None and rep.post("failed", "installer: no disk")
    assert h.seen[-1][2] == b"stage=failed&message=installer%3A+no+disk&token=abc_-1"
    assert said == ["event failed: ok"]
    assert Reporter.from_scripts([KsScript("pre", "echo hi\n")]) is None


def test_run_script_interpreter_log_status_and_origin(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "pre.log"
    s = KsScript("pre", "# rocks: site:nodes/x.xml:7 (node x)\necho out; echo err >&2; exit 4\n",
                 "/bin/bash", log=str(log))
    res = run_script(s)
    assert (res.status, res.label, s.origin) == (4, "exit 4", "site:nodes/x.xml:7")
    assert res.output == log.read_text() and "out\n" in res.output and "err\n" in res.output
    assert log.stat().st_mode & 0o777 == 0o600
    assert res.summary() == "%pre site:nodes/x.xml:7: exit 4: out | err"
    slow = run_script(KsScript("pre", "echo started; sleep 30\n"), timeout=0.5)
    assert slow.status == 124 and slow.note.startswith("error: still running")
    assert "started" in slow.output
    missing = run_script(KsScript("pre", "print(1)\n", "/no/python"))
    assert (missing.status, missing.note) == (127, "error: interpreter /no/python is not in "
                                                   "the installer")
    assert KsScript("post", "true\n", lineno=40).origin == "kickstart line 40"


def test_grow_shares_free_space_by_base_size_within_maxsize() -> None:
    assert storage.grow_sizes([10, 20, 5], [False, True, True], [0, 0, 0], 65) == [10, 44, 11]
    assert storage.grow_sizes([10, 20, 5], [False, True, True], [0, 25, 0], 65) == [10, 25, 30]
    assert storage.grow_sizes([10], [False], [0], 10) == [10]
    with pytest.raises(ValueError):
        storage.grow_sizes([10, 20], [False, False], [0, 0], 25)


def test_requests_from_reqpart_and_part_lines() -> None:
    lines = ("reqpart --add-boot\npart / --fstype=ext4 --size=600 --label=r\n"
             "part swap --size=64\npart /data --onpart=LABEL=d --noformat\n")
    uefi = storage.requests(kickstart.parse(lines, includes=False), "uefi")
    assert [(r.mount, r.fstype, r.size, r.format, r.onpart, r.label) for r in uefi] == [
        ("/boot/efi", "efi", 600, True, "", ""), ("/boot", "xfs", 1024, True, "", ""),
        ("/", "ext4", 600, True, "", "r"), ("swap", "swap", 64, True, "", ""),
        ("/data", "", 0, False, "LABEL=d", "")]
    twice = kickstart.parse(lines + "part /boot/efi --size=200\n", includes=False)
    with pytest.raises(InstallError, match="/boot/efi is asked for twice"):
        storage.requests(twice, "uefi")
    h2 = kickstart.parse("reqpart\npart / --size=600\n", includes=False)
    assert [(r.mount, r.fstype, r.size) for r in storage.requests(h2, "bios")] == [
        ("biosboot", "biosboot", 1), ("/", "xfs", 600)]
    h3 = kickstart.parse("part pv.01 --size=100\n", includes=False)
    with pytest.raises(InstallError, match="LVM, RAID and btrfs"):
        storage.requests(h3, "bios")


def test_fstab_as_anaconda_writes_it() -> None:
    reqs = [storage.Request("/boot/efi", "efi", uuid="AAAA-BBBB"),
            storage.Request("/", "xfs", uuid="u-root"),
            storage.Request("/boot", "ext4", uuid="u-boot"),
            storage.Request("swap", "swap", uuid="u-swap"),
            storage.Request("biosboot", "biosboot"),
            storage.Request("/state/partition1", "xfs", uuid="u-data", fsoptions="noatime")]
    text = storage.Layout(Path("/mnt/sysimage"), reqs, []).fstab()
    assert text.splitlines()[1:] == [
        "UUID=u-root / xfs defaults 0 0",
        "UUID=u-boot /boot ext4 defaults 0 2",
        "UUID=AAAA-BBBB /boot/efi vfat umask=0077,shortname=winnt 0 2",
        "UUID=u-data /state/partition1 xfs noatime 0 0",
        "UUID=u-swap none swap defaults 0 0",
    ]


def _net(**kw: object) -> SimpleNamespace:
    base = dict(device="", bootProto="dhcp", ip="", netmask="", gateway="", nameserver="",
                onboot=True, mtu="", noipv4=False, noipv6=False, nodefroute=False, lineno=3)
    base.update(kw)
    return SimpleNamespace(**base)


def test_network_keyfiles() -> None:
    name, text = system.keyfile(_net(device="52:54:00:AA:00:01", bootProto="static",
                                     ip="10.1.255.254", netmask="255.255.0.0",
                                     gateway="10.1.1.1", nameserver="10.1.1.1,10.1.1.2"),
                                0, {"52:54:00:aa:00:01": "eth0"})
    assert name == "eth0.nmconnection"
    assert "[ethernet]\nmac-address=52:54:00:AA:00:01\n" in text
    assert "interface-name" not in text
    assert "[ipv4]\nmethod=manual\naddress1=10.1.255.254/16,10.1.1.1\ndns=10.1.1.1;10.1.1.2;\n" \
        in text
    name, text = system.keyfile(_net(device="ens3", onboot=False), 1, {})
    assert name == "ens3.nmconnection"
    assert "interface-name=ens3" in text and "autoconnect=false" in text
    assert "[ipv4]\nmethod=auto\n" in text
    with pytest.raises(InstallError, match="line 3: network --bootproto=static needs"):
        system.keyfile(_net(device="eth0", bootProto="static"), 0, {})


def test_kernel_choice_and_boot_args(tmp_path: Path) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    for v in ("5.14.0-70", "5.14.0-362", "0-rescue-abc"):
        (boot / f"vmlinuz-{v}").write_text("")
    (boot / "initramfs-5.14.0-362.img").write_text("")
    assert bootloader.installed_kernel(tmp_path) == (
        "5.14.0-362", "vmlinuz-5.14.0-362", "initramfs-5.14.0-362.img")
    (boot / "vmlinuz-6.1.0").write_text("")
    with pytest.raises(InstallError, match=r"kernel 6\.1\.0 has no /boot/initramfs-6\.1\.0\.img"):
        bootloader.installed_kernel(tmp_path)
    assert boot_args("BOOT_IMAGE=/v 'inst.ks=http://x/k?token=a&b=c' inst.ks.sendmac ip=dhcp") \
        == {"BOOT_IMAGE": "/v", "inst.ks": "http://x/k?token=a&b=c", "inst.ks.sendmac": "",
            "ip": "dhcp"}
