"""One place builds the cluster's graph (DESIGN.md §3.10): a meta-test over the source.

Every command module the registry names, every server module and every other product module
outside the compiler is walked (AST); none may load rolls into a graph, merge one, or make a
Compiler except `rocks/profiles.py`, where `cluster_graph` / `profile_service` /
`compiler_for` live. Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from rocks.cli.registry import COMMANDS, SERVICES

REPO = Path(__file__).resolve().parents[2]
ROCKS = REPO / "rocks"
THE_ONE_PLACE = "rocks.profiles"
# what builds a graph or a compiler, by the module that defines it
BUILDERS = {
    "rocks.compiler.service": {"load_graph", "load_graph_report", "Compiler", "bundled_roll_dirs"},
    "rocks.compiler.graph": {"merge"},
    "rocks.compiler.rolls": {"load_roll"},
    "rocks.compiler.nodes": {"load_node"},
    "rocks.compiler.graphfile": {"load_graph_file"},
    "rocks.compiler.compile": {"compile_profile"},
    # which rolls ship with rocks (defined beside the data, re-exported by compiler.service)
    "rocks.resources": {"bundled_roll_dirs"},
}
# classes named in type hints everywhere: building one (a call) is what counts
CLASSES = {"Compiler", "ConfigGraph"}
ALLOWED_ELSEWHERE = {
    # listing the bundled rolls by name (list roll) builds no graph
    ("rocks.commands.roll", "bundled_roll_dirs"),
}


def _module_file(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin, name
    return Path(spec.origin)


def builders_used(path: Path) -> list[str]:
    """`module.name` of every graph/compiler builder the file imports (anywhere in it), and
    every call making a Compiler or a ConfigGraph."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in BUILDERS:
            found += [f"{node.module}.{a.name}:{node.lineno}" for a in node.names
                      if (a.name in BUILDERS[node.module] and a.name not in CLASSES)
                      or a.name == "*"]
        elif isinstance(node, ast.Import):
            found += [f"{a.name}:{node.lineno}" for a in node.names if a.name in BUILDERS]
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
                else ""
            if name in CLASSES:
                found.append(f"call {name}():{node.lineno}")
    return found


def checked_modules() -> set[str]:
    """The registry's command and service modules, the server's, and the rest of the product
    outside the compiler itself."""
    names = {e.module for e in COMMANDS.values()} | {s.module for s in SERVICES.values()}
    for path in ROCKS.rglob("*.py"):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not name.startswith("rocks.compiler") and "migrations" not in parts:
            names.add(name)
    names.discard(THE_ONE_PLACE)
    return names


def test_the_registry_and_the_server_are_walked() -> None:
    mods = checked_modules()
    assert "rocks.commands.graph" in mods and "rocks.server.index" in mods
    assert "rocks.server.web" in mods and "rocks.siteconfig" in mods


def test_nothing_but_the_one_place_builds_a_graph_or_a_compiler() -> None:
    problems = []
    for mod in sorted(checked_modules()):
        for use in builders_used(_module_file(mod)):
            name = use.split(":")[0].rsplit(".", 1)[-1].removeprefix("call ").rstrip("()")
            if (mod, name) not in ALLOWED_ELSEWHERE:
                problems.append(f"{mod} uses {use}")
    assert problems == []


def test_the_one_place_does_build_it() -> None:
    uses = {u.split(":")[0] for u in builders_used(_module_file(THE_ONE_PLACE))}
    assert "rocks.compiler.service.load_graph_report" in uses
    assert "call Compiler()" in uses


def test_the_meta_test_catches_a_stray_builder(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("def f():\n    from rocks.compiler.service import Compiler, load_graph\n"
                     "    return Compiler(load_graph())\n")
    assert builders_used(stray) == ["rocks.compiler.service.load_graph:2", "call Compiler():3"]
