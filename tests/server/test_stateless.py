"""Stateless nodes against a real server: GET /install/state (a host's own state, by its address
and its token, only while it is set to stateless), the images under /boot/images, and `up`."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rocks.inventory import queries as q
from rocks.inventory.bootstate import set_boot
from rocks.model.inventory import BootChoice, Scope
from tests.server.conftest import ROOTPW, Cluster, Server, mac, make_cluster, until
from tests.server.test_install import assert_clean_refusal, client, events_of

HOST_SECRET = "only-for-compute-0-0-5e1f"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStatelessTestKey rocks-cluster"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """compute-0-0 and -1 stateless, -2 installing, -3 booting its disk."""
    c = make_cluster(tmp_path_factory.mktemp("stateless"), 4, idle=("compute-0-0",
                                                                     "compute-0-1",
                                                                     "compute-0-3"))
    with c.inventory.transaction() as s:
        c.tokens.update(set_boot(s, ["compute-0-0", "compute-0-1"], BootChoice.STATELESS))
        q.set_attr(s, Scope.HOST, "compute-0-0", "db_password", HOST_SECRET, secret=True)
        q.set_attr(s, Scope.GLOBAL, "", "cluster_ssh_pubkey", PUBKEY)
    images = c.state / "root" / "tftpboot" / "images" / "compute"
    (images / "0123abcd").mkdir(parents=True)
    (images / "0123abcd" / "vmlinuz").write_bytes(b"kernel bytes")
    (images / "current").symlink_to("0123abcd")
    yield c
    c.inventory.close()


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(cluster, tmp_path_factory.mktemp("server"), refresh_interval=0.2)
    srv.start()
    yield srv
    srv.stop()


def members(body: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: m for m in tar.getmembers()}


def read(body: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read().decode()


def test_a_stateless_host_gets_its_own_state(cluster: Cluster, server: Server) -> None:
    bodies = {}
    for i, name in enumerate(("compute-0-0", "compute-0-1")):
        with client(server, cluster.addresses[name]) as c:
            r = c.get("/install/state", params={"token": cluster.tokens[name]},
                      headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(i)}"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/x-tar"
        assert r.headers["cache-control"] == "no-store"
        body = bodies[name] = r.content
        assert read(body, "etc/hostname") == f"{name}\n"
        env = read(body, "etc/rocks/host.env")
        assert f"HOST={name}\n" in env and f"ADDRESSES={cluster.addresses[name]}\n" in env
        keyfile = read(body, "etc/NetworkManager/system-connections/eth0.nmconnection")
        assert f"mac-address={mac(i).upper()}" in keyfile
        assert f"address1={cluster.addresses[name]}/8" in keyfile
        assert read(body, "root/.ssh/authorized_keys") == PUBKEY + "\n"
        m = members(body)
        assert m["root/.ssh/authorized_keys"].mode == 0o600 and m["root/.ssh"].mode == 0o700
        assert all(x.uid == 0 and x.gid == 0 for x in m.values())
        assert read(body, "etc/rocks/secrets/rootpw_hash") == ROOTPW
    # each host its own secrets, never another's; its own SSH host key, the same every boot
    assert read(bodies["compute-0-0"], "etc/rocks/secrets/db_password") == HOST_SECRET
    assert HOST_SECRET.encode() not in bodies["compute-0-1"]
    pubs = {n: read(b, "etc/ssh/ssh_host_ed25519_key.pub") for n, b in bodies.items()}
    assert len(set(pubs.values())) == 2 and all(p.startswith("ssh-ed25519 ") for p in pubs.values())
    assert members(bodies["compute-0-0"])["etc/ssh/ssh_host_ed25519_key"].mode == 0o600
    assert "PRIVATE KEY" in read(bodies["compute-0-0"], "etc/ssh/ssh_host_ed25519_key")
    known = (cluster.state / "ssh" / "known_hosts").read_text().splitlines()
    assert {f"{n} {' '.join(p.split()[:2])}" for n, p in pubs.items()} <= set(known)
    with client(server, cluster.addresses["compute-0-0"]) as c:
        again = c.get("/install/state", params={"token": cluster.tokens["compute-0-0"]})
    assert read(again.content, "etc/ssh/ssh_host_ed25519_key.pub") == pubs["compute-0-0"]
    keydir = cluster.state / "ssh" / "hosts" / "compute-0-0"
    assert keydir.stat().st_mode & 0o777 == 0o700
    assert (keydir / "ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600
    assert cluster.tokens["compute-0-0"].encode() not in bodies["compute-0-0"]


def test_state_refusals(cluster: Cluster, server: Server) -> None:
    t0, t1 = cluster.tokens["compute-0-0"], cluster.tokens["compute-0-1"]
    with client(server, cluster.addresses["compute-0-0"]) as c:
        assert_clean_refusal(c.get("/install/state"))  # no token
        assert_clean_refusal(c.get("/install/state", params={"token": t1}))  # another's token
        assert_clean_refusal(c.get("/install/state", params={"token": t0 + "x"}))
        assert_clean_refusal(c.get("/install/state", params={"token": "é"}))
        r = c.get("/install/state", params={"token": t0},
                  headers={"X-RHN-Provisioning-MAC-0": f"eth0 {mac(1)}"})  # another's MAC
        assert_clean_refusal(r)
        r = c.post("/install/state", params={"token": t0})
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    with client(server) as c:  # not a host's address, a valid token
        assert_clean_refusal(c.get("/install/state", params={"token": t0}))
    # installing: its install token gets a kickstart, never a state
    with client(server, cluster.addresses["compute-0-2"]) as c:
        assert_clean_refusal(c.get("/install/state",
                                   params={"token": cluster.tokens["compute-0-2"]}))
    # a stateless host's token gets no kickstart
    with client(server, cluster.addresses["compute-0-0"]) as c:
        assert_clean_refusal(c.get("/install/kickstart", params={"token": t0}))
    logs = server.logs()
    assert "reason=host-is-not-set-to-stateless" in logs
    assert "reason=missing-or-invalid-token" in logs
    assert HOST_SECRET not in logs


def test_images_are_served_and_a_stateless_node_reports_up(
        cluster: Cluster, server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=10) as c:
        r = c.get("/boot/images/compute/current/vmlinuz")
        assert (r.status_code, r.content) == (200, b"kernel bytes")
        assert c.get("/boot/images/compute/current/../../../rocks.db").status_code == 404
    up = {"stage": "up", "message": "stateless: image 0123abcd, kernel 6.1"}
    with client(server, cluster.addresses["compute-0-1"]) as c:
        r = c.post("/install/events", data=up)
    assert (r.status_code, r.text) == (200, "ok\n")
    until(lambda: ("up", up["message"]) in events_of(cluster, "compute-0-1"), "the up event")


def test_leaving_stateless_spends_the_token(cluster: Cluster, server: Server,
                                            tmp_path: Path) -> None:
    # its own host (compute-0-3 boots its disk): the other tests keep theirs stateless, in
    # whatever order they run
    name = "compute-0-3"
    with cluster.inventory.transaction() as s:
        token = set_boot(s, [name], BootChoice.STATELESS)[name]
    with client(server, cluster.addresses[name]) as c:
        until(lambda: c.get("/install/state", params={"token": token}).status_code == 200,
              "the server to see the host stateless")
    with cluster.inventory.transaction() as s:
        set_boot(s, [name], BootChoice.OS)
        run_action = next(h.run_action for h in q.list_hosts(s, [name]))
    assert run_action == "os"
    server.wait_refresh()
    with client(server, cluster.addresses[name]) as c:
        assert_clean_refusal(c.get("/install/state", params={"token": token}))
