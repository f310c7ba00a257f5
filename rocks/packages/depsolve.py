"""Dependency resolution against a repository with dnf, without installing anything.

The only module that imports dnf, and only in a child process (`python -m
rocks.packages.depsolve`, JSON on stdin/stdout): dnf's global state and ~0.2 s import stay out of
the caller. Every missing package/group is reported, not just the first, and every problem names
the requested spec it came from so callers can point at the node file line that asked for it.
"""

from __future__ import annotations

import enum
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rocks.errors import RocksError


class ProblemKind(enum.StrEnum):
    MISSING = "missing"  # nothing in the repository matches the requested name or group
    CONFLICT = "conflict"  # packages that cannot be installed together
    BROKEN = "broken"  # a requested package whose requirements cannot be satisfied


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    name: str  # the package or @group at fault
    message: str
    requested: str = ""  # the spec from the request that led here ("@group" or a package)


@dataclass(frozen=True, slots=True)
class DepsolveResult:
    install: tuple[str, ...]  # NEVRAs, sorted
    problems: tuple[Problem, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def repo_url(repo: str | Path) -> str:
    text = str(repo)
    if re.match(r"^[a-z][a-z0-9+.-]*://", text):
        return text
    return Path(text).absolute().as_uri()


def depsolve(
    repo: str | Path | Sequence[str | Path], packages: Sequence[str], groups: Sequence[str] = (),
    excluded: Sequence[str] = (), *, arch: str = "x86_64", releasever: str = "9",
    timeout: float = 120.0,
) -> DepsolveResult:
    """Resolve `packages` and `@groups` (minus `excluded` globs) against the repository."""
    repos = [repo] if isinstance(repo, str | Path) else list(repo)
    request = {
        "repos": [repo_url(r) for r in repos], "packages": list(packages),
        "groups": [g.removeprefix("@") for g in groups], "excluded": list(excluded),
        "arch": arch, "releasever": releasever,
    }
    try:
        # The child must import this same rocks even when it is run from a checkout.
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p
        )}
        proc = subprocess.run(
            [sys.executable, "-m", "rocks.packages.depsolve"], input=json.dumps(request),
            capture_output=True, text=True, timeout=timeout, check=False, env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise RocksError.of(
            "depsolve-timeout", f"depsolve took longer than {timeout:.0f} s"
        ) from exc
    try:
        reply = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise RocksError.of(
            "depsolve-failed", f"the dnf depsolver failed (exit {proc.returncode}):\n{tail}",
            hint="dnf's Python bindings must be importable (Debian python3-dnf)",
        ) from exc
    if "error" in reply:
        raise RocksError.of("depsolve-failed", str(reply["error"]))
    return DepsolveResult(
        install=tuple(reply["install"]),
        problems=tuple(
            Problem(ProblemKind(p["kind"]), p["name"], p["message"], p["requested"])
            for p in reply["problems"]
        ),
        seconds=float(reply["seconds"]),
    )


# ---- child process side ----

_NEVRA = re.compile(r"([^\s,]+)-[^-\s,]+-[^-\s,]+\.[A-Za-z0-9_]+")


def _classify(rules: list[str]) -> ProblemKind:
    text = " ".join(rules)
    if "conflicts with" in text or "obsoletes" in text:
        return ProblemKind.CONFLICT
    return ProblemKind.BROKEN


def _attribute(rules: list[str], origin: dict[str, str]) -> tuple[str, str]:
    """(package, requested spec) for a solver problem: the first requested package it names."""
    named = [m.group(1) for rule in rules for m in _NEVRA.finditer(rule)]
    for name in named:
        if name in origin:
            return name, origin[name]
    return (named[0] if named else ""), ""


def _solve(req: dict[str, Any]) -> dict[str, Any]:
    import time

    t0 = time.perf_counter()
    import dnf
    import dnf.exceptions
    import rpm

    rpm.addMacro("_dbpath", "/var/lib/rpm")  # Debian's rpm defaults to ~/.rpmdb
    problems: list[dict[str, str]] = []
    # package name -> the requested spec that brought it; explicit requests win over groups
    origin: dict[str, str] = {spec: spec for spec in req["packages"]}

    def problem(kind: ProblemKind, name: str, message: str, requested: str) -> None:
        problems.append({"kind": kind.value, "name": name, "message": message,
                         "requested": requested})

    with tempfile.TemporaryDirectory(prefix="rocks-depsolve-") as tmp:
        base = dnf.Base()
        conf = base.conf
        conf.installroot = f"{tmp}/root"
        conf.cachedir = f"{tmp}/cache"
        conf.reposdir = []
        conf.substitutions["releasever"] = req["releasever"]
        conf.substitutions["basearch"] = req["arch"]
        conf.gpgcheck = False
        conf.install_weak_deps = False
        conf.exclude = list(req["excluded"])
        for i, url in enumerate(req["repos"]):
            base.repos.add_new_repo(f"rocks{i}", conf, baseurl=[url], gpgcheck=False)
        try:
            base.fill_sack(load_system_repo=False)
            base.read_comps(arch_filter=True)
        except dnf.exceptions.Error as exc:
            return {"error": f"cannot load the repository: {exc}"}
        available = base.sack.query().available()
        for gid in req["groups"]:
            group = base.comps.group_by_pattern(gid)
            if group is None:
                problem(ProblemKind.MISSING, f"@{gid}", f"no group {gid} in the repository",
                        f"@{gid}")
                continue
            for pkg in group.packages_iter():
                origin.setdefault(pkg.name, f"@{gid}")
                if pkg.option_type == dnf.comps.MANDATORY and not available.filter(name=pkg.name):
                    excluded = any(fnmatch.fnmatchcase(pkg.name, e) for e in req["excluded"])
                    why = "is excluded" if excluded else "is in no roll"
                    problem(ProblemKind.MISSING, pkg.name,
                            f"group {gid} requires package {pkg.name}, which {why}", f"@{gid}")
            base.group_install(group.id, ("mandatory", "default"), strict=True)
        for spec in req["packages"]:
            try:
                base.install(spec)
            except dnf.exceptions.MarkingError:
                excluded = any(fnmatch.fnmatchcase(spec, e) for e in req["excluded"])
                why = "it is excluded" if excluded else "no package provides it"
                problem(ProblemKind.MISSING, spec, f"cannot install {spec}: {why}", spec)
        install: list[str] = []
        try:
            base.resolve()
            install = sorted(str(p) for p in base.transaction.install_set)
        except dnf.exceptions.DepsolveError as exc:
            rules_per_problem = [list(map(str, r)) for r in base._goal.problem_rules()]
            if not rules_per_problem:
                rules_per_problem = [[str(exc).strip()]]
            found = []
            for rules in rules_per_problem:
                rules = [r for r in rules if r != "conflicting requests"] or rules
                name, requested = _attribute(rules, origin)
                found.append((name, "; ".join(rules), requested, _classify(rules)))
            for name, message, requested, kind in sorted(found):
                problem(kind, name, message, requested)
        base.close()
    return {"install": install, "problems": problems, "seconds": time.perf_counter() - t0}


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        reply = _solve(request)
    except Exception as exc:  # report anything dnf throws as data, not a traceback
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write("\n" + json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
