"""Linters as tests: ruff and mypy over the tree, and the layering of DESIGN.md §2.

Each layer of `rocks/` imports only what its row of the table allows; lazy imports inside
functions count too (they are how the CLI stays fast, not a way around the layering).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROCKS = REPO / "rocks"
BIN = Path(sys.executable).parent

# module prefix -> imports it must not make (prefix match on dotted names)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "rocks.errors": ("rocks.", "sqlalchemy", "lxml"),
    "rocks.model": ("rocks.compiler", "rocks.inventory", "rocks.cli", "rocks.commands",
                    "rocks.server", "sqlalchemy", "fastapi", "dnf", "lxml"),
    "rocks.compiler": ("rocks.inventory", "rocks.cli", "rocks.commands", "rocks.server",
                       "rocks.sync", "rocks.packages", "sqlalchemy", "fastapi", "httpx",
                       "socket", "datetime", "dnf"),
    "rocks.inventory": ("rocks.compiler", "rocks.cli", "rocks.commands", "rocks.server",
                        "fastapi", "dnf"),
    "rocks.sync": ("rocks.cli", "rocks.commands", "rocks.server", "rocks.compiler", "dnf"),
    "rocks.packages": ("rocks.cli", "rocks.commands", "rocks.server", "rocks.inventory"),
    "rocks.server": ("rocks.cli", "rocks.commands"),
    # commands reach the inventory through its services (rocks.inventory.queries …)
    "rocks.commands": ("rocks.inventory.schema", "sqlalchemy", "fastapi"),
    "rocks.remote": ("rocks.cli", "rocks.commands", "rocks.server", "rocks.compiler", "dnf"),
    "rocks.power": ("rocks.cli", "rocks.commands", "rocks.server", "rocks.compiler",
                    "rocks.inventory", "rocks.sync", "rocks.packages", "sqlalchemy", "dnf"),
    "rocks.cli": ("rocks.server", "sqlalchemy", "fastapi", "dnf"),
    # runs alone in the test installer image: the standard library, pykickstart and itself
    "rocks.installer": ("sqlalchemy", "fastapi", "httpx", "lxml", "jinja2", "dnf"),
}
DNF_ONLY_IN = {"rocks.packages.depsolve"}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
    return found


def modules() -> list[Path]:
    return sorted(p for p in ROCKS.rglob("*.py") if "migrations" not in p.parts)


def _matches(name: str, banned: str) -> bool:
    if banned.endswith("."):
        return name.startswith(banned)
    return name == banned or name.startswith(banned + ".")


def test_layers_import_only_what_design_allows() -> None:
    problems = []
    for path in modules():
        mod = module_name(path)
        for lineno, name in imports_of(path):
            where = f"{path.relative_to(REPO)}:{lineno}"
            for layer, banned in FORBIDDEN.items():
                if mod == layer or mod.startswith(layer + "."):
                    problems.extend(f"{where}: {mod} imports {name}"
                                    for b in banned if _matches(name, b))
            if (mod.startswith("rocks.installer") and name.startswith("rocks.")
                    and not name.startswith("rocks.installer")):
                problems.append(f"{where}: {mod} imports {name} (the installer image has only "
                                "rocks.installer)")
            top = name.split(".")[0]
            if top in {"dnf", "hawkey", "libdnf"} and mod not in DNF_ONLY_IN:
                problems.append(f"{where}: only depsolve may import dnf")
            if mod.startswith("rocks.commands.") and name.startswith("rocks.commands."):
                target = name.split(".")[2]
                is_module = (ROCKS / "commands" / f"{target}.py").exists()
                if is_module and not target.startswith("_") and not mod.endswith(target):
                    problems.append(f"{where}: command module {mod} imports another command "
                                    f"module ({name})")
    assert problems == []


def test_no_module_is_over_1000_lines() -> None:
    big = [f"{p.relative_to(REPO)} ({n})" for p in modules()
           if (n := len(p.read_text().splitlines())) > 1000]
    assert big == []


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.fail(f"{tool} is not installed in the venv: `make setup` installs the test extras")
    return subprocess.run([str(exe), *args], cwd=REPO, capture_output=True, text=True,
                          check=False)


def test_ruff() -> None:
    r = _run("ruff", "check", "rocks", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy() -> None:
    r = _run("mypy")
    assert r.returncode == 0, r.stdout + r.stderr
