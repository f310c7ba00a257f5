"""Hosts to kickstarts: the inventory's view of rolls and attributes fed to the compiler.

Both the CLI (`rocks list host profile`) and the frontend server use this, so it sits beside the
layers it joins rather than in either. A host's attributes are the rolls' declared defaults
under the inventory's resolution (global < os < appliance < host), plus the release facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rocks.errors import RocksError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.compiler.graph import ConfigGraph
    from rocks.compiler.service import Compiled, Compiler
    from rocks.errors import Diagnostic
    from rocks.model.inventory import ResolvedAttributes
    from rocks.model.profile import Profile


@dataclass(frozen=True, slots=True)
class HostView:
    """What compiling one host needs: its name, the graph root and its attribute values."""

    name: str
    appliance: str
    root: str
    attrs: Mapping[str, str]
    sources: Mapping[str, str]
    secret: frozenset[str] = frozenset()


@dataclass
class ProfileService:
    graph: ConfigGraph
    compiler: Compiler
    roots: dict[str, str] = field(default_factory=dict)  # appliance -> root node (inventory)

    def view(self, resolved: ResolvedAttributes) -> HostView:
        from rocks.compiler.service import default_attributes

        values = resolved.values
        name = values.get("hostname", "")
        appliance = values.get("appliance", "")
        root = self.roots.get(appliance)
        if root is None:
            raise RocksError.of(
                "unknown-appliance", f'host {name}: appliance "{appliance}" has no root node',
                hint="rocks list appliance",
            )
        attrs = default_attributes(self.graph, appliance, self.compiler.release)
        sources = {k: "roll" for k in attrs}
        attrs.setdefault("install_token", "")
        attrs.update(values)
        sources.update({k: str(v) for k, v in resolved.sources.items()})
        attrs["release"] = self.compiler.release
        return HostView(name, appliance, root, attrs, sources, resolved.secret)

    def render(self, view: HostView) -> str:
        return self.compiler.render(view.root, view.attrs, host=view.name)

    def compiled(self, view: HostView) -> Compiled:
        return self.compiler.compile(view.root, view.attrs)


def enabled_roll_dirs(session: Session, store: Path | None) -> list[Path]:
    """Directories of the rolls added to the store (rocks add roll) and enabled."""
    from rocks.inventory import queries as q

    if store is None:
        return []
    out = []
    for r in q.list_rolls(session):
        path = store / r.name / r.version / r.arch
        # an OS roll brings packages only: no configuration to load
        if r.enabled and ((path / "nodes").is_dir() or (path / "graphs" / "default").is_dir()):
            out.append(path)
    return out


def profile_service(session: Session, *, release: str = "el9", provenance: bool = False,
                    eval_mode: str = "run", store: Path | None = None) -> ProfileService:
    """Load the graph: bundled rolls plus the store's enabled rolls, trusted as recorded."""
    from rocks.compiler.compile import EvalMode
    from rocks.compiler.service import Compiler, bundled_roll_dirs, load_graph
    from rocks.inventory import queries as q

    rolls = q.list_rolls(session)
    bundled = {p.name for p in bundled_roll_dirs()}
    graph = load_graph(
        rolls=enabled_roll_dirs(session, store),
        release=release,
        trusted=[r.name for r in rolls if r.trusted],
        disabled=[r.name for r in rolls if not r.enabled and r.name in bundled],
    )
    compiler = Compiler(graph, release=release, eval_mode=EvalMode(eval_mode),
                        provenance=provenance)
    roots = {a.name: a.node for a in q.list_appliances(session)}
    return ProfileService(graph, compiler, roots)


def hosts_package_problems(svc: ProfileService, session: Session, hosts: list[str],
                           repo: Path) -> list[Diagnostic]:
    """package_problems for each host, depsolving once per distinct compiled profile."""
    from rocks.inventory import queries as q

    resolved = q.resolve_attrs_many(session, hosts)
    seen: dict[str, list[Diagnostic]] = {}
    problems: list[Diagnostic] = []
    for h in hosts:
        compiled = svc.compiled(svc.view(resolved[h]))
        if compiled.key not in seen:
            seen[compiled.key] = package_problems(compiled.profile, repo)
        problems.extend(seen[compiled.key])
    return list(dict.fromkeys(problems))


def package_problems(profile: Profile, repo: Path) -> list[Diagnostic]:
    """Depsolve a compiled profile's %packages against a repository, without installing;
    each problem is located at the node file line that asked for the package."""
    from rocks.errors import Diagnostic, SourceLocation
    from rocks.packages.depsolve import depsolve

    if not (repo / "repodata").is_dir():
        raise RocksError.of("no-distro", f"no distribution at {repo}",
                            hint="rocks create distro")
    from rocks.packages.distro import need_os_roll

    need_os_roll(repo)  # one "add an OS roll" error, not one per base package
    origin = {p.name: p.origin for p in (*profile.packages, *profile.excluded)}
    pkgs = [p.name for p in profile.packages if not p.name.startswith("@")]
    groups = [p.name[1:] for p in profile.packages if p.name.startswith("@")]
    result = depsolve(repo, pkgs, groups, [p.name for p in profile.excluded])
    out = []
    for prob in result.problems:
        o = origin.get(prob.requested) or origin.get(f"@{prob.requested}")
        loc = SourceLocation(o.file, o.line, o.roll) if o is not None else None
        out.append(Diagnostic(f"package-{prob.kind}", prob.message, loc,
                              hint="fix the node file, or add a roll that provides it"))
    return out
