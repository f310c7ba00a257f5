"""`rocks sync distro`: a service frontend mirrors the head node's distribution by content,
over HTTP from the head's own frontend, atomically.

The second mirror after one RPM changed fetches that RPM and the repodata, nothing else (the
head's access log says what was asked for); a mirror that fails half way, or is killed with
SIGKILL while fetching, leaves the previous copy in place and whole.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from rocks.packages.distro import HEADER_CACHE, create_distro
from rocks.packages.roll import RollRecord, add_roll
from tests.packages.conftest import RollDirMaker
from tests.packages.rpmtools import make_rpm
from tests.server.conftest import Server, make_cluster, until

REPO = Path(__file__).resolve().parents[2]


def tree(root: Path) -> dict[str, str]:
    """Every file of a distribution by relative path: its sha256 (rocks' header cache aside)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != HEADER_CACHE}


@pytest.fixture
def rolls(roll_dir: RollDirMaker, os_media: Path, tmp_path: Path) -> list[RollRecord]:
    store = tmp_path / "store"
    return [add_roll(os_media, store),
            add_roll(roll_dir("mail", ["hello-2.0", "mailx", "postfix-lite"],
                              comps={"mail": ["mailx"]}), store)]


@pytest.fixture
def head(tmp_path: Path, rolls: list[RollRecord]) -> Iterator[Server]:
    """The head node: its distribution served by `rocks start frontend`'s server."""
    state = tmp_path / "head"
    state.mkdir()
    create_distro(rolls, state / "distro")
    cluster = make_cluster(state, 1)
    srv = Server(cluster, state)
    srv.start()
    yield srv
    srv.stop()
    cluster.inventory.close()


def _distro_fetches(srv: Server, since: int) -> list[str]:
    """Paths under /install/distro the head served after log offset `since`."""
    text = srv.log.read_text()[since:]
    return re.findall(r"served path=/install/distro/(\S+) status=200", text)


def _sync(state: Path, source: str) -> tuple[int, str]:
    r = run_cli(["sync", "distro", f"from={source}"], {"ROCKS_STATE": str(state)})
    return r.code, r.stdout + r.stderr


def test_second_mirror_fetches_only_the_changed_rpm(head: Server, rolls: list[RollRecord],
                                                    roll_dir: RollDirMaker,
                                                    tmp_path: Path) -> None:
    source = f"{head.base}/install/distro"
    mine = tmp_path / "service"
    code, out = _sync(mine, source)
    assert code == 0, out
    head_tree = head.cluster.state / "distro"
    assert tree(mine / "distro") == tree(head_tree)  # every file, byte for byte
    assert "images/pxeboot/vmlinuz" in tree(mine / "distro")

    code, out = _sync(mine, source)
    assert (code, "unchanged" in out) == (0, True), out

    # one package changes on the head (hello 2.0 -> 2.1): the rest of the tree is the same
    newer = roll_dir("newer", [])
    make_rpm("hello", "2.1", dest=newer / "RPMS")
    create_distro([*rolls, add_roll(newer, tmp_path / "store")], head_tree)
    mark = len(head.log.read_text())
    code, out = _sync(mine, source)
    assert code == 0, out
    assert tree(mine / "distro") == tree(head_tree)
    fetched = until(lambda: _distro_fetches(head, mark), "the head's access log")
    assert [f for f in fetched if f.endswith(".rpm")] == ["RPMS/hello-2.1-1.noarch.rpm"]
    assert all(f.startswith("repodata/") or f.endswith(".rpm") or f == ".rocks-distro.json"
               for f in fetched), fetched
    assert not any(f.startswith("images/") for f in fetched)
    assert "files fetched" in out
    # the unchanged files are the previous copy's, linked (no second copy on disk)
    assert (mine / "distro" / "RPMS" / "mailx-1.0-1.noarch.rpm").stat().st_nlink >= 1
    assert [p.name for p in mine.iterdir() if p.name.startswith(".distro.new")] == []


def test_a_failed_mirror_leaves_the_old_copy_served(head: Server, rolls: list[RollRecord],
                                                    roll_dir: RollDirMaker,
                                                    tmp_path: Path) -> None:
    source = f"{head.base}/install/distro"
    mine = tmp_path / "service"
    assert _sync(mine, source)[0] == 0
    before = tree(mine / "distro")
    head_tree = head.cluster.state / "distro"
    newer = roll_dir("newer", [])
    make_rpm("hello", "2.2", dest=newer / "RPMS")
    create_distro([*rolls, add_roll(newer, tmp_path / "store")], head_tree)
    (head_tree / "RPMS" / "hello-2.2-1.noarch.rpm").unlink()  # the head cannot serve it
    code, out = _sync(mine, source)
    assert code != 0 and "hello-2.2-1.noarch.rpm" in out and "HTTP 404" in out, out
    assert tree(mine / "distro") == before  # untouched, whole
    assert [p.name for p in mine.iterdir() if p.name.startswith(".distro.new")] == []


class _Stalling(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; a request for `stall` waits until `release` is set."""

    stall = ""
    reached = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        if self.stall and self.path.endswith(self.stall):
            type(self).reached.set()
            type(self).release.wait(timeout=120)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        return None


def test_a_mirror_killed_mid_fetch_leaves_the_old_copy(rolls: list[RollRecord],
                                                       roll_dir: RollDirMaker,
                                                       tmp_path: Path) -> None:
    head_tree = tmp_path / "head" / "distro"
    create_distro(rolls, head_tree)
    handler = type("Handler", (_Stalling,), {"stall": "", "reached": threading.Event(),
                                             "release": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(handler, directory=str(head_tree)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    source = f"http://127.0.0.1:{server.server_address[1]}"
    mine = tmp_path / "service"
    env = {**os.environ, "ROCKS_STATE": str(mine), "ROCKS_CONFIG": "", "PYTHONPATH": str(REPO)}
    proc = None
    try:
        assert _sync(mine, source)[0] == 0
        before = tree(mine / "distro")
        newer = roll_dir("newer", [])
        make_rpm("hello", "2.3", dest=newer / "RPMS")
        create_distro([*rolls, add_roll(newer, tmp_path / "store")], head_tree)
        handler.stall = "hello-2.3-1.noarch.rpm"
        proc = subprocess.Popen([str(Path(sys.executable).parent / "rocks"), "sync", "distro",
                                 f"from={source}"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert handler.reached.wait(timeout=120), "the mirror never asked for the new RPM"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert tree(mine / "distro") == before  # the old copy, whole, is what is served
        assert [p for p in mine.iterdir() if p.name.startswith(".distro.new")]  # its litter
        handler.stall = ""
        handler.release.set()
        code, out = _sync(mine, source)  # the next run cleans up and completes
        assert code == 0, out
        assert tree(mine / "distro") == tree(head_tree)
        assert [p for p in mine.iterdir() if p.name.startswith(".distro.new")] == []
    finally:
        handler.release.set()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.shutdown()


@pytest.mark.postgres
def test_a_service_frontend_follows_create_distro(os_media: Path, tmp_path: Path) -> None:
    """Head node and service frontend on one PostgreSQL: `rocks create distro` on the head is
    notified to the service frontend, which mirrors it by itself."""
    if not os.environ.get("ROCKS_TEST_POSTGRES_URL"):
        from tests.conftest import optional_skip

        optional_skip("no-postgres", "ROCKS_TEST_POSTGRES_URL is not set")
    from tests.cli.inventory_fixtures import _empty_pg, _pg_database

    url = _pg_database()
    _empty_pg(url)
    (tmp_path / "head").mkdir()
    (tmp_path / "svc").mkdir()
    cluster = make_cluster(tmp_path / "head", 1, url=url)
    head = Server(cluster, tmp_path / "head", host="127.0.0.2", name="head",
                  refresh_interval=0.3)
    svc = Server(cluster, tmp_path / "svc", state=tmp_path / "svc", host="127.0.0.3",
                 name="fe-1", refresh_interval=0.3)
    env = {"ROCKS_STATE": str(tmp_path / "head"), "ROCKS_DATABASE_URL": url}

    def rocks(*argv: str) -> str:
        r = run_cli(list(argv), env)
        assert r.code == 0, (argv, r.stdout, r.stderr)
        return r.stdout

    try:
        head.start(timeout=120)
        svc.start(timeout=120)
        rocks("set", "attr", "Kickstart_DistroURL", f"{head.base}/install/distro")
        rocks("add", "roll", str(os_media))
        rocks("enable", "roll", "os")
        rocks("create", "distro")
        built = (tmp_path / "head" / "distro" / "repodata" / "repomd.xml").read_bytes()
        mirrored = tmp_path / "svc" / "distro" / "repodata" / "repomd.xml"
        until(lambda: mirrored.is_file() and mirrored.read_bytes() == built,
              "the service frontend to mirror the new distribution", timeout=120)
        assert tree(tmp_path / "svc" / "distro") == tree(tmp_path / "head" / "distro")
        assert "distribution mirrored from" in svc.logs()
        assert "mirrored from" not in head.logs()  # the head mirrors nothing from itself
        def reported() -> str:
            out = rocks("list", "frontend")
            return out if "*" not in out else ""

        listing = until(reported, "both frontends to report the site's distribution", timeout=60)
        assert re.search(r"^fe-1\s+http://127\.0\.0\.3:\d+\s+up\b", listing, re.M), listing
        assert re.search(r"^head\s+http://127\.0\.0\.2:\d+\s+up\b", listing, re.M), listing
    finally:
        head.stop()
        svc.stop()
        cluster.inventory.close()
