"""`rocks run host`, `list host status` and `sync host access` against 50 real sshd nodes, each
in its own network namespace with its own address (see nodes.py). One node is stopped, one
sleeps past the timeout, one serves the wrong host key, one fails: each is reported as such
while the others succeed."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli
from rocks.inventory import open_inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, Host, Interface, Network
from rocks.remote.access import AccessRules, access_conf
from rocks.remote.ssh import cluster_key, public_key
from tests.conftest import optional_skip
from tests.remote.nodes import SshCluster, unavailable

pytestmark = pytest.mark.integration

N = 50
NAMES = [f"compute-0-{i}" for i in range(N)]
SLEEPER, WRONG_KEY, STOPPED, FAILING = "compute-0-3", "compute-0-4", "compute-0-7", "compute-0-8"

Rocks = Callable[..., CliResult]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshCluster, Path]]:
    if os.geteuid() != 0:
        optional_skip("not-root", "real sshd nodes need root (network namespaces)")
    why = unavailable()
    assert not why, why
    root = tmp_path_factory.mktemp("sshnodes")
    state = root / "state"
    key = cluster_key(state)  # what `rocks run host` will use
    nodes = SshCluster(root / "nodes", public_key(key))
    try:
        nodes.setup(NAMES, extra={SLEEPER: ["ForceCommand sleep 60"],
                                  FAILING: ["ForceCommand echo broken; exit 2"]},
                    wrong_key=(WRONG_KEY,))
        nodes.stop(STOPPED)
        (state / "ssh" / "known_hosts").write_text(nodes.known_hosts())
        inv = open_inventory(str(state / "rocks.db"))
        with inv.transaction() as s:
            q.seed_defaults(s, [Appliance("compute", "compute")])
            q.add_network(s, Network("private", f"10.213.{nodes.subnet}.0", "255.255.255.0",
                                     pxe=True))
            for i, name in enumerate(NAMES):
                node = nodes.nodes[name]
                q.add_host(s, Host(name, "compute", 0, i, interfaces=(
                    Interface(name, "eth0", ip=node.address, network="private"),)))
            q.set_attr(s, "global", "", "ssh_port", "2200")
        inv.close()
        yield nodes, state
    finally:
        nodes.close()


@pytest.fixture
def rocks(cluster: tuple[SshCluster, Path]) -> Rocks:
    env = {"ROCKS_STATE": str(cluster[1])}

    def call(*argv: str) -> CliResult:
        return run_cli(list(argv), env)

    return call


def test_run_on_fifty_nodes_reports_each_failure(rocks: Rocks) -> None:
    r = rocks("run", "host", "command=echo hello", "timeout=4")
    assert r.stdout == (
        "----- compute-0-[0-2,5-6,9-49] -----\nhello\n"
        "----- compute-0-8 -----\nbroken\n"
    )
    lines = r.stderr.splitlines()
    assert lines[0].startswith("compute-0-4: host key mismatch: ")
    assert lines[-2] == ("ok 46, failed 1 (compute-0-8: exit 2), unreachable 1 (compute-0-7), "
                         "timed out 1 (compute-0-3), host key mismatch 1 (compute-0-4)")
    assert lines[-1] == "error: 4 of 50 hosts did not succeed [run-failed]"
    assert r.code == 2  # the sleeper was killed at the timeout: "timed out 1 (compute-0-3)"


def test_collate_and_per_host_output(rocks: Rocks) -> None:
    r = rocks("run", "host", "compute-0-1", "compute-0-12", "compute-0-2",
              "command=echo $ROCKS_TEST_NODE; echo second", "collate=yes")
    assert (r.code, r.stderr) == (0, "ok 3\n")
    assert r.stdout == (
        "compute-0-1: compute-0-1\ncompute-0-1: second\n"
        "compute-0-2: compute-0-2\ncompute-0-2: second\n"
        "compute-0-12: compute-0-12\ncompute-0-12: second\n"
    )
    r = rocks("run", "host", "compute-0-[1-2]", "command=echo $ROCKS_TEST_NODE")
    assert r.stdout == (
        "----- compute-0-1 -----\ncompute-0-1\n----- compute-0-2 -----\ncompute-0-2\n")


def test_status_follows_a_node_down_and_back(rocks: Rocks, cluster: tuple[SshCluster, Path]
                                             ) -> None:
    nodes, _state = cluster
    node = "compute-0-5"

    def state_of(*extra: str) -> list[str]:
        out = rocks("list", "host", "status", node, STOPPED, "timeout=1",
                    *(extra or ("probe=yes",))).stdout
        return [line.split()[1] + "/" + line.split()[-1] for line in out.splitlines()[1:]]

    assert state_of() == ["up/probe", "down/probe"]
    nodes.stop(node)
    assert state_of() == ["down/probe", "down/probe"]
    assert state_of("probe=no") == ["down/probe", "down/probe"]
    nodes.start(node)
    assert state_of() == ["up/probe", "down/probe"]
    # The last successful run host is recorded too.
    assert rocks("run", "host", "compute-0-6", "command=true").code == 0
    out = rocks("list", "host", "status", "compute-0-6", "probe=no").stdout
    assert out.splitlines()[1].split()[1::3] == ["up", "run-host"]


def test_probe_of_every_node(rocks: Rocks) -> None:
    r = rocks("list", "host", "status", "timeout=1", "probe=yes")
    states = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:]}
    assert len(states) == N
    assert states[STOPPED] == "down"
    assert [n for n, st in states.items() if st != "up"] == [STOPPED]


def test_unknown_keys_refused_until_learnt(rocks: Rocks, cluster: tuple[SshCluster, Path]) -> None:
    known = cluster[1] / "ssh" / "known_hosts"
    kept = known.read_text()
    known.write_text("".join(line for line in kept.splitlines(keepends=True)
                             if not line.startswith("compute-0-9 ")))
    try:
        r = rocks("run", "host", "compute-0-9", "command=true")
        assert r.code == 2
        assert "unknown host key 1 (compute-0-9)" in r.stderr
        r = rocks("run", "host", "compute-0-9", "command=true", "hostkey=learn")
        assert (r.code, r.stderr) == (0, "ok 1\n")
        assert "compute-0-9 ssh-ed25519 " in known.read_text()
        # A changed key is refused even when learning.
        r = rocks("run", "host", WRONG_KEY, "command=true", "hostkey=learn")
        assert "host key mismatch 1 (compute-0-4)" in r.stderr
    finally:
        known.write_text(kept)


def test_sync_access_writes_the_rules_on_running_nodes(rocks: Rocks, tmp_path: Path) -> None:
    for i in (10, 11):
        target = tmp_path / f"access-{i}.conf"
        assert rocks("set", "host", "attr", f"compute-0-{i}", "access_file", str(target)).code == 0
    assert rocks("set", "host", "access", "compute-0-10", "users=alice", "groups=hpc").code == 0
    r = rocks("sync", "host", "access", "compute-0-10", "compute-0-11")
    assert (r.code, r.stdout, r.stderr) == (0, "", "ok 2\n")
    assert (tmp_path / "access-10.conf").read_text() == access_conf(
        AccessRules(("alice",), ("hpc",)))
    assert (tmp_path / "access-11.conf").read_text() == access_conf(AccessRules())
    assert rocks("set", "host", "access", "compute-0-10", "users=", "groups=").code == 0
    assert rocks("sync", "host", "access", "compute-0-10").code == 0
    assert (tmp_path / "access-10.conf").read_text() == access_conf(AccessRules())


def test_cluster_key_published_for_kickstarts(rocks: Rocks, cluster: tuple[SshCluster, Path]
                                              ) -> None:
    # `rocks run host` (as root) publishes the key it uses, for the kickstarts to carry
    assert rocks("run", "host", "compute-0-0", "command=true").code == 0
    out = rocks("list", "attr", "output-format=csv").stdout
    pub = public_key(cluster[1] / "ssh" / "cluster_ed25519")
    assert f"cluster_ssh_pubkey,{pub},G," in out.replace('"', "")
    assert oct((cluster[1] / "ssh" / "cluster_ed25519").stat().st_mode & 0o777) == "0o600"
