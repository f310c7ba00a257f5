"""Files holding secrets are 0600 in a 0700 state directory: when a state is made, and when an
older one (an earlier rocks made rocks.db and api-token 0644 in a 0755 directory) is opened."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from rocks.server.config import ServerConfig, api_token


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> object:
    old = os.umask(0o022)  # what a root shell has: files 0644 unless rocks says otherwise
    yield
    os.umask(old)


def test_a_new_state_is_private(tmp_path: Path) -> None:
    from rocks.remote.ssh import cluster_key

    state = tmp_path / "state"
    env = {"ROCKS_STATE": str(state)}
    r = run_cli(["add", "host", "compute-0-0"], env)
    assert r.code == 0, r.stderr
    r = run_cli(["set", "host", "boot", "compute-0-0", "action=install"],
                {**env, "ROCKS_SYNC_ROOT": str(tmp_path / "root")})
    assert r.code == 0, r.stderr  # an install token is in rocks.db now
    assert run_cli(["create", "frontend", "token", "readonly=yes"], env).code == 0
    api_token(ServerConfig(database_url="", state_dir=str(state)))
    assert mode(state) == 0o700
    for name in ("rocks.db", "api-token", "readonly-token"):
        assert mode(state / name) == 0o600, name
    for extra in state.glob("rocks.db-*"):
        assert mode(extra) == 0o600, extra.name
    if shutil.which("ssh-keygen"):
        key = cluster_key(state)
        assert mode(key) == 0o600 and mode(key.parent) == 0o700


def test_an_older_world_readable_state_is_tightened_when_opened(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"ROCKS_STATE": str(state)}
    assert run_cli(["add", "host", "compute-0-0"], env).code == 0
    (state / "api-token").write_text("old-token\n")
    (state / "ssh").mkdir()
    (state / "ssh" / "id_ed25519").write_text("PRIVATE\n")
    (state / "ssh" / "id_ed25519.pub").write_text("ssh-ed25519 AAAA\n")
    # what an earlier rocks left: everything readable by every local user
    state.chmod(0o755)
    (state / "ssh").chmod(0o755)
    for p in (state / "rocks.db", state / "api-token", state / "ssh" / "id_ed25519",
              state / "ssh" / "id_ed25519.pub"):
        p.chmod(0o644)
    r = run_cli(["list", "host"], env)
    assert r.code == 0, r.stderr
    assert mode(state) == 0o700 and mode(state / "ssh") == 0o700
    assert mode(state / "rocks.db") == 0o600 and mode(state / "api-token") == 0o600
    assert mode(state / "ssh" / "id_ed25519") == 0o600
    assert mode(state / "ssh" / "id_ed25519.pub") == 0o644  # public halves stay readable
    assert "compute-0-0" in r.stdout


def test_a_database_outside_the_state_keeps_its_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    r = run_cli(["list", "host"], {"ROCKS_DATABASE_URL": str(shared / "site.db"),
                                   "ROCKS_STATE": str(tmp_path / "state")})
    assert r.code == 0, r.stderr
    assert mode(shared / "site.db") == 0o600  # the file holds secrets wherever it is
    assert mode(shared) == 0o755  # a directory the site chose is not ours to change
