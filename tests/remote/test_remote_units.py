"""rocks.remote without real nodes: host ranges, ssh outcome classification, reports, access
rules (the file, the check, the sync script run for real), status decisions, the TCP probe."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rocks.errors import RocksError
from rocks.remote.access import (
    AccessRules,
    Caller,
    access_conf,
    allowed,
    check_names,
    split_names,
    sync_script,
)
from rocks.remote.hostlist import compress
from rocks.remote.probe import probe
from rocks.remote.report import collated, grouped, summary
from rocks.remote.ssh import HostResult, Outcome, SshConfig, Target, classify, ssh_argv
from rocks.remote.status import Facts, State, decide


def test_compress_ranges_padding_and_plain_names() -> None:
    names = ["compute-0-3", "compute-0-0", "compute-0-1", "compute-0-2", "login-0-0",
             "compute-0-10", "compute-0-7", "frontend", "n01", "n02", "n3"]
    assert compress(names) == "compute-0-[0-3,7,10],frontend,login-0-0,n[01-02],n3"
    assert compress(["a"]) == "a"
    assert compress([]) == ""


@pytest.mark.parametrize(("status", "stderr", "outcome"), [
    (0, "", Outcome.OK),
    (2, "", Outcome.FAILED),
    (255, "ssh: connect to host 10.1.1.1 port 22: Connection refused\r\n", Outcome.UNREACHABLE),
    (255, "ssh: connect to host 10.1.1.1 port 22: No route to host\r\n", Outcome.UNREACHABLE),
    (255, "@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nHost key "
          "verification failed.\r\n", Outcome.HOST_KEY),
    (255, "No ED25519 host key is known for c-0-0 and you have requested strict checking.\r\n"
          "Host key verification failed.\r\n", Outcome.UNKNOWN_KEY),
    (255, "root@10.1.1.1: Permission denied (publickey).\r\n", Outcome.DENIED),
    (255, "", Outcome.FAILED),
    (255, "something odd\n", Outcome.ERROR),
])
def test_classify(status: int, stderr: str, outcome: Outcome) -> None:
    assert classify(status, stderr)[0] is outcome


def test_ssh_argv_is_batch_strict_and_keyed_by_host_name(tmp_path: Path) -> None:
    config = SshConfig(known_hosts=tmp_path / "kh", identity=tmp_path / "key", timeout=5)
    argv = ssh_argv(Target("compute-0-1", "10.1.255.253", 2222), "uptime", config)
    assert argv[0] == "ssh" and argv[-2:] == ["10.1.255.253", "uptime"]
    for option in ("BatchMode=yes", "StrictHostKeyChecking=yes", "HostKeyAlias=compute-0-1",
                   f"UserKnownHostsFile={tmp_path / 'kh'}", "ConnectTimeout=5"):
        assert option in argv
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[argv.index("-i") + 1] == str(tmp_path / "key")
    assert argv[argv.index("-l") + 1] == "root"


def _results() -> list[HostResult]:
    return [
        HostResult("compute-0-10", Outcome.OK, 0, "hello\n"),
        HostResult("compute-0-2", Outcome.OK, 0, "hello\n"),
        HostResult("compute-0-1", Outcome.OK, 0, "hello\n"),
        HostResult("login-0-0", Outcome.OK, 0, "hello\n"),
        HostResult("compute-0-7", Outcome.FAILED, 2, "", "oops"),
        HostResult("compute-0-9", Outcome.UNREACHABLE, detail="connection refused"),
        HostResult("compute-0-3", Outcome.TIMED_OUT, detail="no answer within 3 s"),
        HostResult("compute-0-4", Outcome.HOST_KEY),
    ]


def test_grouped_like_dshbak_c_in_host_order() -> None:
    assert grouped(_results()) == (
        "----- compute-0-[1-2,10],login-0-0 -----\nhello\n"
        "----- compute-0-7 -----\noops\n"
    )
    assert grouped(_results()[:2], group=False) == (
        "----- compute-0-2 -----\nhello\n----- compute-0-10 -----\nhello\n"
    )


def test_collated_prefixes_lines() -> None:
    results = [HostResult("b-0-1", Outcome.OK, 0, "x\ny\n"),
               HostResult("b-0-0", Outcome.OK, 0, "z")]
    assert collated(results) == "b-0-0: z\nb-0-1: x\nb-0-1: y\n"


def test_summary_names_every_outcome() -> None:
    assert summary(_results()) == (
        "ok 4, failed 1 (compute-0-7: exit 2), unreachable 1 (compute-0-9), "
        "timed out 1 (compute-0-3), host key mismatch 1 (compute-0-4)"
    )
    assert summary([]) == "no hosts"


def test_access_conf_and_check() -> None:
    rules = AccessRules(("alice", "bob"), ("hpc",))
    assert access_conf(rules).splitlines()[1:] == [
        "+:root:ALL", "+:(hpc):ALL", "+:alice:ALL", "+:bob:ALL", "-:ALL:ALL"]
    assert access_conf(AccessRules()).count("\n") == 1  # only the comment: no restriction
    assert allowed(rules, Caller("alice", 1000, ("users",)))
    assert allowed(rules, Caller("carol", 1001, ("users", "hpc")))
    assert not allowed(rules, Caller("carol", 1001, ("users",)))
    assert allowed(rules, Caller("root", 0))
    assert allowed(AccessRules(), Caller("carol", 1001))
    assert split_names(" a, b,,a ,c") == ("a", "b", "c")
    with pytest.raises(RocksError, match="user name 'ALL' is not valid"):
        check_names("user", ["ALL"])
    with pytest.raises(RocksError, match="group name 'a b' is not valid"):
        check_names("group", ["a b"])


def test_sync_script_writes_the_same_file(tmp_path: Path) -> None:
    target = tmp_path / "access.conf"
    target.write_text("old\n")
    rules = AccessRules(("alice",), ("hpc", "chem"))
    done = subprocess.run(["sh", "-c", sync_script(rules, str(target))], capture_output=True,
                          text=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert target.read_text() == access_conf(rules)
    assert not target.with_name("access.conf.rocks-new").exists()


NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def test_decide_follows_installs_then_probe_then_records() -> None:
    started = NOW - timedelta(minutes=10)
    inst = Facts("c", "install", started, NOW - timedelta(minutes=1), "packages")
    assert decide(inst, True, NOW, 1800).state is State.INSTALLING
    assert decide(inst, None, NOW, 30).state is State.STALLED
    failed = Facts("c", "install", started, NOW - timedelta(minutes=1), "failed")
    assert decide(failed, True, NOW, 1800).state is State.STALLED
    waiting = Facts("c", "install", started)
    assert decide(waiting, False, NOW, 1800).state is State.INSTALLING
    assert decide(waiting, True, NOW, 1800).state is State.UP  # not rebooted yet
    earlier = NOW - timedelta(hours=1)
    seen = Facts("c", recorded=State.UP, recorded_since=earlier, recorded_source="run-host")
    up = decide(seen, True, NOW, 1800)
    assert (up.state, up.since, up.source) == (State.UP, earlier, "probe")
    down = decide(seen, False, NOW, 1800)
    assert (down.state, down.since) == (State.DOWN, NOW)
    last = decide(seen, None, NOW, 1800)
    assert (last.state, last.since, last.source) == (State.UP, earlier, "run-host")
    assert decide(Facts("c"), None, NOW, 1800).state is State.UNKNOWN


def test_forget_host_keys_drops_only_those_hosts(tmp_path: Path) -> None:
    from rocks.remote.ssh import forget_host_keys

    kh = tmp_path / "known_hosts"
    kh.write_text("compute-0-0 ssh-ed25519 AAAA1\ncompute-0-1 ssh-ed25519 AAAA2\n"
                  "login-0-0,compute-0-0 ssh-rsa AAAA3\n# a comment\n")
    kh.chmod(0o644)
    assert forget_host_keys(kh, ["compute-0-0"]) == 2
    assert kh.read_text() == "compute-0-1 ssh-ed25519 AAAA2\n# a comment\n"
    assert kh.stat().st_mode & 0o777 == 0o644
    assert forget_host_keys(tmp_path / "none", ["x"]) == 0


def test_decide_takes_the_nodes_own_up_report_until_something_newer() -> None:
    booted = NOW - timedelta(minutes=5)
    reported = Facts("c", last_event=booted, last_stage="up")
    st = decide(reported, None, NOW, 1800)
    assert (st.state, st.since, st.source) == (State.UP, booted, "install-events")
    assert decide(reported, False, NOW, 1800).state is State.DOWN  # a probe decides
    later = Facts("c", last_event=booted, last_stage="up", recorded=State.DOWN,
                  recorded_since=NOW - timedelta(minutes=1), recorded_source="probe")
    assert decide(later, None, NOW, 1800).state is State.DOWN


def test_probe_up_and_down_on_loopback() -> None:
    # a listener that accepts connections but says nothing is not an sshd
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        found = probe([("127.0.0.1", port), ("127.0.0.2", port), ("127.0.0.1", port)], 1.0)
    finally:
        listener.close()
    assert len(found) == 2
    assert not found[("127.0.0.1", port)].up
    assert found[("127.0.0.1", port)].detail == "no SSH banner"
    assert not found[("127.0.0.2", port)].up
    assert found[("127.0.0.2", port)].detail == "refused"


def test_probe_with_a_banner_wants_the_banner() -> None:
    import threading

    talk, mute = socket.socket(), socket.socket()
    for s in (talk, mute):
        s.bind(("127.0.0.1", 0))
        s.listen(4)

    def serve() -> None:
        conn, _ = talk.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ends = [("127.0.0.1", talk.getsockname()[1]), ("127.0.0.1", mute.getsockname()[1])]
    try:
        found = probe(ends, 1.0)
    finally:
        thread.join(5)
        talk.close()
        mute.close()
    assert found[ends[0]].up
    assert (found[ends[1]].up, found[ends[1]].detail) == (False, "no SSH banner")


def test_kickstart_access_node_writes_what_sync_writes(tmp_path: Path) -> None:
    from rocks.cli.context import run_cli

    r = run_cli(["list", "appliance", "profile", "compute", "access_users=alice,bob",
                 "access_groups=hpc,chem", "cluster_ssh_pubkey=ssh-ed25519 AAAAtest rocks"])
    assert r.code == 0, r.stderr
    ks = r.stdout
    assert "cat >> /root/.ssh/authorized_keys << 'ROCKS-EOF'\nssh-ed25519 AAAAtest rocks\n" in ks
    start = ks.index("access_users='alice,bob'")
    script = ks[start:ks.index("%end", start)]
    assert "authselect enable-feature with-pamaccess" in script
    target = tmp_path / "access.conf"
    script = script.replace("/etc/security/access.conf", str(target))
    script = "\n".join(line for line in script.splitlines() if "authselect" not in line)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == access_conf(AccessRules(("alice", "bob"), ("hpc", "chem")))


def test_kickstart_without_rules_has_no_access_section() -> None:
    from rocks.cli.context import run_cli

    ks = run_cli(["list", "appliance", "profile", "compute"]).stdout
    assert "access.conf" not in ks and "with-pamaccess" not in ks
    frontend = run_cli(["list", "appliance", "profile", "frontend",
                        "cluster_ssh_pubkey=ssh-ed25519 AAAAtest rocks"]).stdout
    assert "AAAAtest" not in frontend  # not managed: the frontend does not authorize itself
