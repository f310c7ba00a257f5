"""Shared fixtures: paths to the shared corpus and a builder for throwaway roll directories."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "rocks"


def need_corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not beside the checkout ({CORPUS})")
    return CORPUS


@pytest.fixture(autouse=True)
def _own_default_state(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes this machine's default state (/var/lib/rocks): a command run
    without ROCKS_STATE in its environment gets an empty state of the test's own."""
    monkeypatch.setenv("ROCKS_STATE", str(tmp_path_factory.mktemp("default-state")))


RollMaker = Callable[..., Path]


@pytest.fixture
def make_roll(tmp_path: Path) -> RollMaker:
    """make_roll("name", {"nodes/a.xml": "...", "graphs/default/g.xml": "..."}) -> roll dir."""

    def make(name: str, files: dict[str, str], *, roll_xml: bool = True) -> Path:
        root = tmp_path / name
        (root / "nodes").mkdir(parents=True, exist_ok=True)
        (root / "graphs" / "default").mkdir(parents=True, exist_ok=True)
        if roll_xml and "roll.xml" not in files:
            (root / "roll.xml").write_text(
                f'<roll name="{name}" interface="4.0"><info version="1.0" release="1" '
                'arch="x86_64" os="linux"/></roll>\n'
            )
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        return root

    return make
