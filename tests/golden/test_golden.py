"""Golden kickstarts of the bundled appliances.

Regenerate on purpose only: `ROCKS_REGEN_GOLDEN=1 .venv/bin/pytest tests/golden`. Each golden file
is also parsed by pykickstart for its release, so a golden cannot freeze an invalid kickstart.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rocks.compiler.check import validate_kickstart
from rocks.compiler.service import Compiler, load_graph, preview_attributes

HERE = Path(__file__).parent
APPLIANCES = ["compute", "frontend", "login", "nas"]


@pytest.fixture(scope="module")
def graph():  # type: ignore[no-untyped-def]
    return load_graph()


def golden_path(name: str) -> Path:
    return HERE / "el9" / f"{name}.ks"


@pytest.mark.parametrize("appliance", APPLIANCES)
@pytest.mark.parametrize("provenance", [False, True])
def test_bundled_appliance_matches_golden(graph, appliance: str, provenance: bool) -> None:  # type: ignore[no-untyped-def]
    app = graph.appliances[appliance]
    attrs = preview_attributes(graph, appliance, "el9")
    text = Compiler(graph, provenance=provenance).render(app.node, attrs)
    path = golden_path(appliance + ("-provenance" if provenance else ""))
    if os.environ.get("ROCKS_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}; regenerate with ROCKS_REGEN_GOLDEN=1"
    assert text == path.read_text()


@pytest.mark.parametrize("appliance", APPLIANCES)
def test_golden_files_pass_pykickstart_rhel9(appliance: str) -> None:
    for suffix in ("", "-provenance"):
        text = golden_path(appliance + suffix).read_text()
        errors = [p for p in validate_kickstart(text, "el9") if p.severity == "error"]
        assert errors == []


def test_every_script_block_names_its_origin() -> None:
    text = golden_path("compute").read_text()
    blocks = text.split("\n%post")[1:] + text.split("\n%pre")[1:]
    assert blocks
    for block in blocks:
        second = block.split("\n")[1]
        assert second.startswith("# rocks: base:nodes/"), second


def test_cache_hit_gives_the_same_bytes_as_a_miss(graph) -> None:  # type: ignore[no-untyped-def]
    attrs = preview_attributes(graph, "compute", "el9")
    comp = Compiler(graph)
    first = comp.render("compute", attrs)
    second = comp.render("compute", {**attrs})
    assert comp.stats == {"hits": 1, "misses": 1}
    assert first == second == Compiler(graph).render("compute", attrs)


def test_hosts_share_the_compiled_profile_and_get_their_own_values(graph) -> None:  # type: ignore[no-untyped-def]
    base = preview_attributes(graph, "compute", "el9")
    comp = Compiler(graph)
    a = comp.render("compute", {**base, "hostname": "compute-0-1", "hostaddr": "10.1.255.253"})
    b = comp.render("compute", {**base, "hostname": "compute-0-2", "hostaddr": "10.1.255.252"})
    assert comp.stats["misses"] == 1
    assert "--hostname=compute-0-1." in a and "--ip=10.1.255.253" in a
    assert "--hostname=compute-0-2." in b and "compute-0-1" not in b
