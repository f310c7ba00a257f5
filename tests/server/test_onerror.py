"""Failures reported in seconds: the base roll's %onerror (and el7's %traceback) run as a node
runs them — bash, the node's source address, the installer's logs in its /tmp (a private /tmp
of a mount namespace here) — against a real server, which stores `failed` with the redacted,
size-capped tail of the logs and puts the host first on the console."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rocks.compiler.check import validate_kickstart
from rocks.compiler.service import Compiler, load_graph, preview_attributes
from rocks.inventory import queries as q
from rocks.model.inventory import Scope
from tests.server.conftest import ROOTPW, Cluster, Server
from tests.server.racks import make_racked_cluster, wait_until
from tests.server.test_install import client, events_of

NODES = ["compute-0-0", "compute-0-1", "compute-0-2"]
FATAL = "ERROR: the following error occurred while installing: no space left on device"


@pytest.mark.parametrize("release", ["el9", "el10", "el7"])
def test_error_sections_pass_pykickstart(release: str) -> None:
    graph = load_graph(release=release)
    for appliance in ("compute", "frontend"):
        attrs = preview_attributes(graph, appliance, release)
        text = Compiler(graph, release=release).render(graph.appliances[appliance].node, attrs)
        problems = validate_kickstart(text, release)
        assert problems == [], [str(p) for p in problems]
        assert len(re.findall(r"^%onerror ", text, re.M)) == 1
        # %traceback is deprecated from RHEL 8 on (%onerror runs on a traceback there)
        assert len(re.findall(r"^%traceback ", text, re.M)) == (release == "el7")


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Server]]:
    cluster = make_racked_cluster(tmp_path_factory.mktemp("failing"), 1, 4, installing=NODES)
    srv = Server(cluster, tmp_path_factory.mktemp("server"), refresh_interval=0.2)
    with cluster.inventory.transaction() as s:  # the node posts to this very server
        q.set_attr(s, Scope.GLOBAL, "", "Kickstart_FrontendURL", srv.base)
    srv.start()
    yield cluster, srv
    srv.stop()
    cluster.inventory.close()


def section(kickstart: str, name: str) -> str:
    found = re.search(rf"^%{name}\b[^\n]*\n(.*?)^%end$", kickstart, re.M | re.S)
    assert found is not None, f"no %{name} in the kickstart"
    return found.group(1)


def run_as_node(work: Path, address: str, token: str, scripts: list[str]) -> None:
    """Run the scripts with bash as the installer does: its logs in /tmp (a private tmpfs in
    a mount namespace), curl leaving from the node's own address."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare is missing: apt-get install util-linux")
    work.mkdir()
    (work / "curl").write_text(f'#!/bin/sh\nexec {shutil.which("curl")} --interface {address} '
                               '"$@"\n')
    (work / "curl").chmod(0o755)
    noise = "".join(f"12:00:{i % 60:02d},000 INF anaconda: step {i} of the install "
                    + "x" * 150 + "\n" for i in range(200))
    (work / "anaconda.log").write_text(
        noise + f"12:01:00 INF boot: inst.ks=http://10.1.1.1:8080/install/kickstart?token={token}\n"
        f"12:01:01 DBG kickstart: rootpw --iscrypted {ROOTPW}\n"
        f"12:01:02 DBG the token alone: {token}\n"
        "12:01:03 ERR \x1b[31mcoloured\x1b[0m\n"
        f"12:01:04 ERR {FATAL}\n")
    (work / "packaging.log").write_text("12:00:00 INF dnf: fetching\n" * 30)
    for i, text in enumerate(scripts):
        (work / f"script{i}.sh").write_text(text)
    runs = " && ".join(f"bash ./script{i}.sh" for i in range(len(scripts)))
    inner = ("set -e; cd \"$0\"; mount -t tmpfs tmpfs /tmp; mkdir /tmp/node-bin; "
             "cp curl /tmp/node-bin/; cp anaconda.log packaging.log /tmp/; "
             f"export PATH=/tmp/node-bin:$PATH; {runs}")
    # as root a mount namespace needs no user namespace (which a chrooted process, as on a
    # freshly debootstrapped machine, may not create)
    userns = [] if os.geteuid() == 0 else ["--map-root-user"]
    done = subprocess.run(["unshare", "--mount", *userns, "bash", "-c", inner,
                           str(work)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def failed_messages(cluster: Cluster, name: str) -> list[str]:
    return [m for s, m in events_of(cluster, name) if s == "failed"]


def test_onerror_posts_failed_with_the_log_tail(failing: tuple[Cluster, Server],
                                                tmp_path: Path) -> None:
    cluster, srv = failing
    name = "compute-0-0"
    token, address = cluster.tokens[name], cluster.addresses[name]
    with client(srv, address) as c:
        kickstart = c.get(f"/install/kickstart?token={token}").text
    run_as_node(tmp_path / "node", address, token, [section(kickstart, "onerror")])
    messages = wait_until(lambda: failed_messages(cluster, name))
    assert len(messages) == 1
    text = messages[0].replace("\\x0a", "\n")
    assert text.startswith(f"installer failed on {name} (%onerror)\n")
    assert text.rstrip("\n").endswith(FATAL)  # the end of the log: the error
    assert "== /tmp/packaging.log" not in text  # capped: the newest lines of the last log
    assert 2900 < len(text.encode()) <= 3000 + 100  # the tail, and the heading line
    assert token not in text and "token=********" in text
    assert ROOTPW not in text and "secrethashvalue" not in text
    assert "\x1b" not in messages[0] and "\\x1b[31m" in messages[0]  # shown, never obeyed
    console = httpx.get(f"{srv.base}/console.json", params={"size": 10}).json()
    assert console["names"][0] == name and console["rows"][name]["stage"] == "failed"
    assert FATAL in console["rows"][name]["message"]


def test_el7_traceback_and_onerror_post_once(failing: tuple[Cluster, Server],
                                             tmp_path: Path) -> None:
    from rocks.profiles import ClusterSource, GraphOptions, profile_service

    cluster, srv = failing
    name = "compute-0-1"
    token, address = cluster.tokens[name], cluster.addresses[name]
    with cluster.inventory.transaction(readonly=True) as s:
        svc = profile_service(s, ClusterSource(cluster.state), GraphOptions("el7"))
        view = svc.view(q.resolve_attrs_many(s, [name])[name])
    kickstart = svc.compiler.render(view.root, {**view.attrs, "install_token": token},
                                    host=name)
    traceback = section(kickstart, "traceback")
    run_as_node(tmp_path / "crash", address, token, [traceback])
    assert wait_until(lambda: failed_messages(cluster, name))[0].startswith(
        f"installer crashed on {name} (%traceback)")
    # anaconda runs %onerror and then %traceback on a crash: one report, not two
    run_as_node(tmp_path / "both", address, token, [section(kickstart, "onerror"), traceback])
    messages = wait_until(lambda: len(m := failed_messages(cluster, name)) == 2 and m)
    assert messages[1].startswith(f"installer failed on {name} (%onerror)")
    srv.wait_refresh(0.5)
    assert len(failed_messages(cluster, name)) == 2
