"""The cluster's graph and hosts' kickstarts: the one place that decides them.

`cluster_graph(session, source, options)` is the only way anything in rocks builds the cluster's
configuration graph: the bundled rolls, the store's enabled rolls with their trust flags, and the
site graph under <state>/site/ (ClusterSource). Every command, the compile cache, the package
check, `rocks try`, the dashboard and the frontend get it from here; the roll-author options
(rolls=, bundled=no, trusted=, release=) are GraphOptions of the same function. The CLI and the
frontend both use this, so it sits beside the layers it joins rather than in either. A host's
attributes are the rolls' declared defaults under the inventory's resolution (global < os <
appliance < host), plus the release facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rocks.digests import blake2b
from rocks.errors import RocksError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.compiler.graph import ConfigGraph
    from rocks.compiler.rolls import AttributeDecl
    from rocks.compiler.service import Compiled, Compiler
    from rocks.errors import Diagnostic, Diagnostics
    from rocks.inventory.core import Db
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
    cluster: Cluster | None = None

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
        # a value the rolls declare secret stays secret, however it was stored
        return HostView(name, appliance, root, attrs, sources,
                        resolved.secret | self.compiler.declared_secret)

    def preview(self, appliance: str, session: Session | None = None) -> dict[str, str]:
        """Attributes for compiling an appliance without a host: roll defaults and sample
        intrinsics, then the inventory's global, os and appliance attributes."""
        from rocks.compiler.service import preview_attributes

        attrs = preview_attributes(self.graph, appliance, self.compiler.release)
        if session is not None:
            from rocks.inventory import queries as q

            attrs.update(q.resolve_appliance_attrs(session, appliance).values)
        attrs["release"] = self.compiler.release
        return attrs

    def render(self, view: HostView) -> str:
        """The host's kickstart; an error never quotes one of its secret values."""
        return self.compiler.render(view.root, view.attrs, host=view.name, secret=view.secret)

    def compiled(self, view: HostView) -> Compiled:
        return self.compiler.compile(view.root, view.attrs, view.name, secret=view.secret)


SITE_README = """\
The site graph of this cluster: your own nodes and edges, loaded after every roll.

  nodes/NAME.xml           a new node (an appliance root names one: rocks add appliance)
  nodes/extend-NAME.xml    appended to node NAME of any roll (e.g. extend-compute.xml)
  nodes/replace-NAME.xml   stands in for node NAME of any roll
  graphs/default/*.xml     edges, order constraints and <appliance> declarations

The running frontend notices a change here within a second and recompiles; `rocks check graph`
shows what it will serve. `rocks dump` includes these files.
"""


@dataclass(frozen=True, slots=True)
class ClusterSource:
    """Where the cluster's graph comes from besides the bundled rolls: the state directory
    (roll store <state>/rolls, site graph <state>/site)."""

    state: Path

    @property
    def store(self) -> Path:
        return self.state / "rolls"

    @property
    def site(self) -> Path:
        return self.state / "site"

    def init(self) -> None:
        """Create the site graph's directories (with a README) if the state has none."""
        if self.site.is_dir():
            return
        (self.site / "nodes").mkdir(parents=True, exist_ok=True)
        (self.site / "graphs" / "default").mkdir(parents=True, exist_ok=True)
        (self.site / "README").write_text(SITE_README)


@dataclass(frozen=True, slots=True)
class GraphOptions:
    """How to load the graph. The defaults are the cluster's own graph; the rest are the
    roll-author options of the graph commands, layered on the same function."""

    release: str = "el9"
    rolls: tuple[Path, ...] = ()  # rolls=DIR,…: roll directories added to the cluster's
    bundled: bool = True  # no: only `rolls` (no bundled rolls, no store, no site graph)
    trusted: tuple[str, ...] = ()  # trusted=ROLL,…: trusted in addition to the store's flags
    eval_mode: str = "run"
    provenance: bool = False


@dataclass(frozen=True, slots=True)
class StoreRoll:
    name: str
    version: str
    arch: str
    path: Path
    enabled: bool
    trusted: bool
    configures: bool  # has nodes/ or graphs/default/ (an OS roll brings packages only)


@dataclass(frozen=True, slots=True)
class GraphInputs:
    """Everything that decides the graph, as `rocks check graph` lists it."""

    release: str
    bundled: tuple[Path, ...]
    store: tuple[StoreRoll, ...]
    extra: tuple[Path, ...]
    site: Path | None
    trusted: frozenset[str]
    disabled: frozenset[str]  # bundled rolls the inventory records as disabled

    @property
    def roll_dirs(self) -> list[Path]:
        """The non-bundled roll directories loaded: the store's enabled rolls, then rolls=."""
        return [r.path for r in self.store if r.enabled and r.configures] + list(self.extra)

    def digest(self) -> str:
        """A digest of the inputs and of every graph file in them (path, size, mtime): the
        frontend recompiles when it moves. Packages (RPMS/) are not walked."""
        h = blake2b(repr((self.release, sorted(self.trusted), sorted(self.disabled),
                          [(r.name, r.version, r.arch, r.enabled, r.trusted)
                           for r in self.store])).encode(), digest_size=32)
        dirs = [*self.bundled, *self.roll_dirs, *([self.site] if self.site else [])]
        for d in dirs:
            h.update(f"dir {d}\n".encode())
            for path in _graph_files(d):
                try:
                    st = path.stat()
                except OSError:
                    continue
                h.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
        return h.hexdigest()


def _graph_files(root: Path) -> list[Path]:
    out = [root / "roll.xml"] if (root / "roll.xml").is_file() else []
    for sub in ("nodes", "graphs", "include-version"):
        if (root / sub).is_dir():
            out.extend(p for p in (root / sub).rglob("*") if p.is_file())
    return sorted(out)


@dataclass
class Cluster:
    """The cluster's graph with every problem found loading it, and what it was built from."""

    graph: ConfigGraph
    diagnostics: Diagnostics
    inputs: GraphInputs
    global_errors: tuple[Diagnostic, ...] = ()

    def raise_if_unusable(self) -> None:
        """Raise on a problem no single appliance owns (node-local ones fail only the
        appliances reaching them, when they compile)."""
        if self.global_errors:
            raise RocksError(*self.global_errors)


def graph_inputs(session: Session | Db | None, source: ClusterSource | None,
                 options: GraphOptions = GraphOptions()) -> GraphInputs:
    """What the graph is built from: the bundled rolls, the store's rolls as the inventory
    records them (enabled, trusted), the site graph, plus the roll-author options."""
    from rocks.resources import bundled_roll_dirs

    store: list[StoreRoll] = []
    disabled: set[str] = set()
    trusted = set(options.trusted)
    bundled = tuple(bundled_roll_dirs()) if options.bundled else ()
    if options.bundled and session is not None:
        from rocks.inventory import core

        names = {p.name for p in bundled}
        for r in core.rolls(core.Db.of(session)):
            path = (source.store if source else Path("/nonexistent")) / r.name / r.version / r.arch
            configures = (path / "nodes").is_dir() or (path / "graphs" / "default").is_dir()
            store.append(StoreRoll(r.name, r.version, r.arch, path, r.enabled, r.trusted,
                                   configures))
            if r.trusted:
                trusted.add(r.name)
            if not r.enabled and r.name in names:
                disabled.add(r.name)
    site = source.site if options.bundled and source is not None and source.site.is_dir() \
        else None
    return GraphInputs(options.release, bundled, tuple(store), tuple(options.rolls), site,
                       frozenset(trusted), frozenset(disabled))


def cluster_graph(session: Session | Db | None, source: ClusterSource | None,
                  options: GraphOptions = GraphOptions()) -> Cluster:
    """THE one place that builds the cluster's configuration graph (DESIGN.md §3.10).

    Every command, the compile cache, the package check, `rocks try`, the dashboard and the
    frontend call this (or profile_service, which does); a test fails when any other module
    builds a graph or a Compiler. `session` None: no inventory yet (bundled rolls and the
    site graph only); `source` None: no state (no store, no site graph).
    """
    from rocks.compiler.service import global_errors, load_graph_report

    inputs = graph_inputs(session, source, options)
    graph, diags = load_graph_report(
        rolls=inputs.roll_dirs, bundled=bool(inputs.bundled), release=inputs.release,
        trusted=inputs.trusted, disabled=inputs.disabled, site=inputs.site,
        bases=(source.state,) if source is not None else (),
    )
    graph.warnings = tuple(diags.warnings)
    return Cluster(graph, diags, inputs, tuple(global_errors(graph, diags)))


def roll_defaults(session: Session | Db | None, source: ClusterSource | None) -> dict[str, str]:
    """The cluster's rolls' declared global defaults — `global_defaults(cluster_graph(…).graph)`
    — remembered under <state>/cache/ by the digest of the graph's inputs, so that the commands
    that need them (sync, the one-host changes) do not load the graph while it is unchanged."""
    import json
    import os

    inputs = graph_inputs(session, source)
    key = inputs.digest()
    path = source.state / "cache" / "roll-defaults.json" if source is not None else None
    if path is not None:
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("key") == key and isinstance(doc.get("defaults"), dict):
                return {str(k): str(v) for k, v in doc["defaults"].items()}
        except (OSError, ValueError):
            pass
    from rocks.compiler.service import global_defaults

    defaults = global_defaults(cluster_graph(session, source).graph)
    if path is not None:
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump({"key": key, "defaults": defaults}, fh)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache: the next command loads the graph again
    return defaults


def compiler_for(cluster: Cluster, options: GraphOptions = GraphOptions(), *,
                 provenance: bool | None = None) -> Compiler:
    """A compiler over the cluster's graph (the compile cache lives in it)."""
    from rocks.compiler.compile import EvalMode
    from rocks.compiler.service import Compiler

    return Compiler(cluster.graph, release=cluster.inputs.release,
                    eval_mode=EvalMode(options.eval_mode),
                    provenance=options.provenance if provenance is None else provenance)


def profile_service(session: Session | None, source: ClusterSource | None,
                    options: GraphOptions = GraphOptions()) -> ProfileService:
    """The cluster's graph and a compiler over it; appliance roots from the graph's
    declarations, overridden by the inventory's appliances (rocks add appliance)."""
    cluster = cluster_graph(session, source, options)
    cluster.raise_if_unusable()
    return ProfileService(cluster.graph, compiler_for(cluster, options),
                          appliance_roots(cluster, session), cluster)


def appliance_roots(cluster: Cluster, session: Session | None) -> dict[str, str]:
    """Appliance name -> root node: the graph's declarations, then the inventory's."""
    roots = {a.name: a.node for a in cluster.graph.appliances.values()}
    if session is not None:
        from rocks.inventory import queries as q

        roots.update({a.name: a.node for a in q.list_appliances(session)})
    return roots


def attribute_declarations(session: Session | None, source: ClusterSource | None,
                           options: GraphOptions = GraphOptions()) -> dict[str, AttributeDecl]:
    """The types and secrecy the cluster's rolls declare for attributes: the same rolls as
    cluster_graph (graph_inputs decides), read from their roll.xml files alone."""
    from rocks.compiler.service import declared_attributes

    inputs = graph_inputs(session, source, options)
    return declared_attributes(rolls=inputs.roll_dirs, bundled=bool(inputs.bundled),
                               release=inputs.release, disabled=inputs.disabled,
                               site=inputs.site)


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
    if result.ok:
        remember_depsolve(profile, repo, result.install)
    out = []
    for prob in result.problems:
        o = origin.get(prob.requested) or origin.get(f"@{prob.requested}")
        loc = SourceLocation(o.where, o.line, o.roll) if o is not None else None
        out.append(Diagnostic(f"package-{prob.kind}", prob.message, loc,
                              hint="fix the node file, or add a roll that provides it"))
    return out


# The package check's depsolve, remembered per (distribution, package request): the frontend
# reads how many packages an installing node will fetch (its progress), `set host boot` writes it.
def depsolve_cache(repo: Path) -> Path:
    return repo.with_name(repo.name + ".depsolve")


def _request_key(profile: Profile, repo: Path) -> str | None:
    try:
        repomd = (repo / "repodata" / "repomd.xml").read_bytes()
    except OSError:
        return None
    import hashlib

    h = hashlib.sha256(repomd)
    for p in profile.packages:
        h.update(b"+" + p.name.encode() + b"\0")
    for p in profile.excluded:
        h.update(b"-" + p.name.encode() + b"\0")
    return h.hexdigest()


def remember_depsolve(profile: Profile, repo: Path, install: tuple[str, ...]) -> None:
    import json
    import os

    key = _request_key(profile, repo)
    if key is None:
        return
    folder = depsolve_cache(repo)
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"install": list(install)}))
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        pass  # a cache: the frontend then counts against the profile's own packages


def depsolved_total(profile: Profile, repo: Path) -> int | None:
    """How many packages the last package check of this request against this distribution
    resolved to (None: never checked, or the distribution changed since)."""
    import json

    key = _request_key(profile, repo)
    if key is None:
        return None
    try:
        data = json.loads((depsolve_cache(repo) / f"{key}.json").read_text())
        return len(data["install"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
