"""Same inputs, byte-identical kickstart: from two `rocks` processes with different hash seeds,
started in two different working directories, for a roll added to the store and for a host of
the inventory. Provenance names node files relative to their roll (`hpc:nodes/hpc.xml:3`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from rocks.compiler.service import load_graph

ROCKS = str(Path(sys.executable).parent / "rocks")


def roll_source(tmp_path: Path) -> Path:
    root = tmp_path / "src" / "hpc"
    (root / "nodes").mkdir(parents=True)
    (root / "graphs" / "default").mkdir(parents=True)
    (root / "RPMS").mkdir()
    (root / "roll.xml").write_text('<roll name="hpc" interface="4.0"><info version="2.0" '
                                   'release="1" arch="x86_64" os="linux"/></roll>\n')
    (root / "nodes" / "hpc.xml").write_text(textwrap.dedent("""\
        <?xml version="1.0"?>
        <kickstart>
        <package>hpc-tools</package>
        <post>echo "&hostname; in rack &rack;" > /etc/hpc-node</post>
        </kickstart>
        """))
    (root / "graphs" / "default" / "hpc.xml").write_text(
        '<graph><edge from="compute" to="hpc"/></graph>\n')
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory with the hpc roll added and enabled, and one host with its own
    attributes."""
    tmp = tmp_path_factory.mktemp("det")
    env = {"ROCKS_STATE": str(tmp / "state")}
    for argv in (["add", "roll", str(roll_source(tmp))], ["enable", "roll", "hpc"],
                 ["add", "host", "compute-0-0"],
                 ["set", "host", "attr", "compute-0-0", "Kickstart_Timezone", "Europe/Paris"],
                 ["set", "host", "attr", "compute-0-0", "x11", "true"]):
        r = run_cli(argv, env)
        assert r.code == 0, (argv, r.stderr)
    return tmp / "state"


def rocks(state: Path, cwd: Path, seed: str, *argv: str) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
    env.update(ROCKS_STATE=str(state), PYTHONHASHSEED=seed)
    done = subprocess.run([ROCKS, *argv], cwd=cwd, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_graph_digest_is_the_same_from_any_directory(store: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The compile-cache key starts from the graph digest: no working directory in it."""
    roll = store / "rolls" / "hpc" / "2.0" / "x86_64"
    digests = []
    for cwd in (store, tmp_path, roll / "nodes"):
        monkeypatch.chdir(cwd)
        digests.append(load_graph(rolls=[roll]).digest)
    assert len(set(digests)) == 1


@pytest.mark.parametrize("argv", [
    ("list", "appliance", "profile", "compute", "provenance=yes"),
    ("list", "appliance", "profile", "compute"),
    ("list", "host", "profile", "compute-0-0", "provenance=yes"),
], ids=["appliance-provenance", "appliance", "host-provenance"])
def test_two_processes_in_two_directories_give_the_same_bytes(
        store: Path, tmp_path: Path, argv: tuple[str, ...]) -> None:
    args = list(argv)  # the store's enabled roll is part of the cluster's graph
    # one run beside the store (paths relative to the cwd would be short), one far from it
    near, far = store.parent, tmp_path / "a" / "b" / "c"
    far.mkdir(parents=True)
    first = rocks(store, near, "1", *args)
    second = rocks(store, far, "2", *args)
    assert first == second
    text = first.decode()
    assert "%packages" in text
    assert "../" not in text and str(store) not in text and str(tmp_path) not in text
    if "appliance" in argv:
        assert "#   hpc [hpc] nodes/hpc.xml (via compute -> hpc)\n" in text
        if "provenance=yes" in argv:
            assert "# rocks: hpc:nodes/hpc.xml:3 (node hpc, via compute -> hpc)\nhpc-tools\n" \
                in text
    if "compute-0-0" in argv:
        assert "timezone --utc Europe/Paris\n" in text
        assert "# rocks: base:nodes/x11.xml:" in text  # the host's x11=true reached x11.xml
