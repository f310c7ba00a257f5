"""The compiler's front door: load rolls into a graph, compile once per key, render per host.

A compiled profile is cached under (graph digest, root, release, eval mode, the coerced values of
the attributes its conditions read). Rendering a host splices its values into the cached,
already-validated skeleton.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rocks.compiler.check import validate_kickstart
from rocks.compiler.compile import CompileOptions, EvalMode, compile_profile
from rocks.compiler.cond import coerce
from rocks.compiler.evalrun import EvalRunner
from rocks.compiler.graph import ConfigGraph, merge
from rocks.compiler.graphfile import GraphFile, load_graph_file
from rocks.compiler.nodes import NodeFile, load_node, node_name
from rocks.compiler.render import Skeleton, check_release, render_skeleton
from rocks.compiler.rolls import AttributeDecl, RollInfo, RollKind, RollSource, load_roll
from rocks.compiler.splice import FULL_CHECK, PLAIN, Ctx, HeredocLine, SlotCheck, problem
from rocks.compiler.xmlload import forget_resolved_paths
from rocks.errors import Diagnostic, Diagnostics, RocksError, Severity, SourceLocation
from rocks.model.profile import Profile
from rocks.resources import bundled_roll_dirs as bundled_roll_dirs
from rocks.resources import display_path

VERSION_MAJOR = {"el7": 7, "el9": 9, "el10": 10}
# What Rocks' own conditions expect to find (ROCKS.md §C.3), per target release.
RELEASE_ATTRS = {
    "el7": {"rocks_version_major": "7", "rocks_version": "7.0", "version": "7.0",
            "rocks_release": "Manzanita"},
    "el9": {"rocks_version_major": "9", "rocks_version": "9.0", "version": "9.0"},
    "el10": {"rocks_version_major": "10", "rocks_version": "10.0", "version": "10.0"},
}
INTRINSIC = ("hostname", "appliance", "rack", "rank", "os", "arch", "release", "hostaddr", "ksmac",
             "install_token", "membership")


def load_graph(
    *,
    rolls: Sequence[Path] = (),
    bundled: bool = True,
    release: str = "el9",
    trusted: Collection[str] = (),
    disabled: Collection[str] = (),
    site: Path | None = None,
) -> ConfigGraph:
    """Load and merge rolls strictly (bundled ones, then `rolls`, then the site graph at
    `site`); raise on any error. The cluster's own graph is rocks.profiles.cluster_graph's."""
    graph, diags = load_graph_report(rolls=rolls, bundled=bundled, release=release,
                                     trusted=trusted, disabled=disabled, site=site)
    diags.raise_if_errors()
    graph.warnings = tuple(diags.warnings)
    return graph


def roll_sources(
    *,
    rolls: Sequence[Path] = (),
    bundled: bool = True,
    release: str = "el9",
    trusted: Collection[str] = (),
    disabled: Collection[str] = (),
    site: Path | None = None,
    diags: Diagnostics,
    broken_rolls: dict[str, list[Diagnostic]] | None = None,
) -> list[RollSource]:
    """The rolls a graph is made of: bundled ones, then `rolls`, then the site graph at
    `site`; their roll.xml read, their node and graph files listed (not parsed). A roll whose
    roll.xml does not validate is recorded in `broken_rolls`."""
    check_release(release)
    forget_resolved_paths()
    major = VERSION_MAJOR[release]
    sources: list[RollSource] = []
    dirs = [*(bundled_roll_dirs() if bundled else []), *rolls]
    for d in dirs:
        mark = len(diags.items)
        try:
            src = load_roll(Path(d), version_major=major, diags=diags)
        except RocksError as exc:
            diags.extend(exc.diagnostics)
            continue
        meta = [x for x in diags.items[mark:] if x.severity is Severity.ERROR]
        if meta and broken_rolls is not None:  # roll.xml did not validate
            broken_rolls.setdefault(src.info.name, []).extend(meta)
        if src.info.name in disabled:
            continue
        trust = src.info.name in trusted
        if trust:
            src = RollSource(_with_trust(src.info), src.node_files, src.graph_files)
        sources.append(src)
    if site is not None and site.is_dir():
        src = load_roll(site, kind=RollKind.SITE, version_major=major, diags=diags)
        sources.append(RollSource(_with_trust(src.info), src.node_files, src.graph_files))
    return sources


def load_graph_report(
    *,
    rolls: Sequence[Path] = (),
    bundled: bool = True,
    release: str = "el9",
    trusted: Collection[str] = (),
    disabled: Collection[str] = (),
    site: Path | None = None,
    bases: tuple[Path, ...] = (),
) -> tuple[ConfigGraph, Diagnostics]:
    """Like load_graph, but return every problem instead of raising (for `check graph`).

    Each problem of a node file marks that node broken, each of an edge's condition that
    edge, each of a roll's roll.xml or graph file that roll (see ConfigGraph.broken): only
    the traversals reaching them fail. Paths are shown relative to the data dir or `bases`.
    """
    diags = Diagnostics()
    broken_rolls: dict[str, list[Diagnostic]] = {}
    sources = roll_sources(rolls=rolls, bundled=bundled, release=release, trusted=trusted,
                           disabled=disabled, site=site, diags=diags,
                           broken_rolls=broken_rolls)

    def show(path: Path) -> str:
        return display_path(path, bases)

    names: dict[str, RollInfo] = {}
    for s in sources:
        if s.info.name in names and s.info.kind is RollKind.ROLL:
            diags.error(
                "duplicate-roll",
                f'roll "{s.info.name}" is given twice: {show(names[s.info.name].path)} '
                f"and {show(s.info.path)}",
                hint="give each roll once",
            )
        names[s.info.name] = s.info
    node_files: list[NodeFile] = []
    graph_files: list[GraphFile] = []
    broken: dict[str, list[Diagnostic]] = {}
    for s in sources:
        for _, path in s.node_files:
            mark = len(diags.items)
            nf = load_node(path, show(path), roll=s.info.name, trusted=s.info.trusted,
                           diags=diags, within=s.info.path)
            if nf is not None:
                node_files.append(nf)
            else:
                broken.setdefault(node_name(path.name)[0], []).extend(
                    x for x in diags.items[mark:] if x.severity is Severity.ERROR)
        for path in s.graph_files:
            mark = len(diags.items)
            gf = load_graph_file(path, show(path), s.info.name, diags, within=s.info.path)
            problems = [x for x in diags.items[mark:] if x.severity is Severity.ERROR]
            if gf is not None:
                graph_files.append(gf)
                in_edges = {id(x) for e in gf.edges for x in e.broken}
                problems = [x for x in problems if id(x) not in in_edges]
            if problems:
                broken_rolls.setdefault(s.info.name, []).extend(problems)
    graph = merge([s.info for s in sources], node_files, graph_files, diags,
                  broken={k: tuple(v) for k, v in broken.items()},
                  broken_rolls={k: tuple(v) for k, v in broken_rolls.items()})
    return graph, diags


def _with_trust(info: RollInfo) -> RollInfo:
    return RollInfo(info.name, info.version, info.path, info.kind, info.release, info.arch,
                    info.os, info.description, info.attributes, True)


def global_defaults(graph: ConfigGraph) -> dict[str, str]:
    """The rolls' declared global defaults (the first roll to declare a name wins)."""
    attrs: dict[str, str] = {}
    for roll in graph.rolls:
        for a in roll.attributes:
            if not a.appliance:
                attrs.setdefault(a.name, a.value)
    return attrs


def attribute_declarations(graph: ConfigGraph) -> dict[str, AttributeDecl]:
    """Each declared attribute's declaration: its type, choices and secrecy (the first roll to
    declare a name wins, as for defaults; a later declaration only adds secrecy)."""
    return declarations_of(graph.rolls)


def declared_attributes(*, rolls: Sequence[Path] = (), bundled: bool = True,
                        release: str = "el9", disabled: Collection[str] = (),
                        site: Path | None = None) -> dict[str, AttributeDecl]:
    """attribute_declarations of the graph these rolls make, from their roll.xml files alone
    (what a command that writes attributes needs, without parsing every node file)."""
    sources = roll_sources(rolls=rolls, bundled=bundled, release=release, disabled=disabled,
                           site=site, diags=Diagnostics())
    return declarations_of([s.info for s in sources])


def declarations_of(rolls: Sequence[RollInfo]) -> dict[str, AttributeDecl]:
    decls: dict[str, AttributeDecl] = {}
    for roll in rolls:
        for a in roll.attributes:
            first = decls.get(a.name)
            if first is None:
                decls[a.name] = a
            elif a.secret and not first.secret:
                decls[a.name] = replace(first, secret=True)
    return decls


def default_attributes(graph: ConfigGraph, appliance: str, release: str) -> dict[str, str]:
    """Declared roll defaults (global, then appliance-scoped) plus release facts."""
    attrs = {"os": "linux", "arch": "x86_64", "release": release, **RELEASE_ATTRS[release]}
    for name, value in global_defaults(graph).items():
        attrs.setdefault(name, value)
    for roll in graph.rolls:
        for a in roll.attributes:
            if a.appliance == appliance:
                attrs[a.name] = a.value
    return attrs


def preview_attributes(graph: ConfigGraph, appliance: str, release: str) -> dict[str, str]:
    """Attributes for compiling an appliance without a host: defaults plus sample intrinsics."""
    attrs = default_attributes(graph, appliance, release)
    attrs.update({
        "hostname": f"{appliance}-0-0", "appliance": appliance, "membership": appliance,
        "rack": "0", "rank": "0", "hostaddr": "10.1.255.254", "ksmac": "52:54:00:00:00:01",
        "install_token": "preview",
    })
    return attrs


@dataclass(frozen=True, slots=True)
class Compiled:
    profile: Profile
    skeleton: Skeleton
    key: str
    warnings: tuple[Diagnostic, ...]
    # attribute name -> the distinct places its slots sit (what its value may hold)
    checks: Mapping[str, tuple[SlotCheck, ...]]
    # (name, value) -> whether the value needs a full pykickstart check, for values already
    # found to fit (most values are the same for every host)
    fits: dict[tuple[str, str], bool] = field(default_factory=dict)


@dataclass
class Compiler:
    graph: ConfigGraph
    release: str = "el9"
    eval_mode: EvalMode = EvalMode.RUN
    validate: bool = True
    provenance: bool = False
    runner: EvalRunner = field(default_factory=EvalRunner)
    cache: dict[str, Compiled] = field(default_factory=dict)
    _checked: set[str] = field(default_factory=set)
    stats: dict[str, int] = field(default_factory=lambda: {"hits": 0, "misses": 0})
    _declared_secret: frozenset[str] | None = None
    _multiline: frozenset[str] | None = None
    _inputs_of: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def key(self, root: str, attrs: Mapping[str, str]) -> str:
        g = self.graph
        if self.eval_mode is EvalMode.RUN and g.has_eval(root):
            items = sorted(attrs.items())  # eval output may read any attribute
        else:
            names = self._inputs_of.get(root)
            if names is None:  # the graph does not change under a compiler
                names = self._inputs_of[root] = tuple(sorted(g.condition_inputs(root)))
            items = [(n, repr(coerce(attrs.get(n)))) for n in names]
        raw = repr((g.digest, root, self.release, self.eval_mode.value, self.provenance, items))
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def multiline(self) -> frozenset[str]:
        """Attributes declared `text`: their values may hold line feeds in here-documents."""
        if self._multiline is None:
            self._multiline = frozenset(n for n, d in attribute_declarations(self.graph).items()
                                        if d.type == "text")
        return self._multiline

    @property
    def declared_secret(self) -> frozenset[str]:
        """Attributes the rolls declare secret (and the install token): their values never
        appear in an error this compiler raises."""
        if self._declared_secret is None:
            self._declared_secret = frozenset(
                {"install_token"}
                | {n for n, d in attribute_declarations(self.graph).items() if d.secret})
        return self._declared_secret

    def redacted(self, exc: RocksError, attrs: Mapping[str, str],
                 secret: Collection[str] = ()) -> RocksError:
        """`exc` with every secret value (and every word of one) masked in its text."""
        values = [attrs[n] for n in (*self.declared_secret, *secret) if attrs.get(n)]
        return redact(exc, values)

    def compile(self, root: str, attrs: Mapping[str, str], host: str = "",
                secret: Collection[str] = ()) -> Compiled:
        try:
            return self._compile(root, attrs, host)
        except RocksError as exc:
            raise self.redacted(exc, attrs, secret) from None

    def _compile(self, root: str, attrs: Mapping[str, str], host: str) -> Compiled:
        key = self.key(root, attrs)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats["hits"] += 1
            return hit
        self.stats["misses"] += 1
        diags = Diagnostics()
        options = CompileOptions(release=self.release, eval_mode=self.eval_mode)
        profile = compile_profile(self.graph, root, attrs, options, runner=self.runner,
                                  diags=diags)
        skeleton = render_skeleton(profile, provenance=self.provenance)
        for ref in profile.nodes:
            for nf in self.graph.nodes[ref.name].files:
                for name, line in nf.references:
                    if name not in attrs:
                        diags.warning(
                            "unknown-entity", f"&{name}; is not an attribute: it becomes empty",
                            nf.loc(line),
                            hint=f"declare {name} in a roll.xml or set it (rocks set attr)",
                        )
        found: dict[str, set[SlotCheck]] = {}
        for name, check in zip(skeleton.names, skeleton.checks, strict=True):
            found.setdefault(name, set()).add(check)
        checks = {n: tuple(sorted(c, key=repr)) for n, c in found.items()}
        fits: dict[tuple[str, str], bool] = {}
        if self.validate:
            full = _check_values(checks, fits, attrs, host, self.multiline)
            _check_heredocs(skeleton.heredoc_lines, attrs, host)
            text = skeleton.splice(attrs)
            problems = validate_kickstart(text, self.release, skeleton.origins,
                                          label=f"{root} kickstart")
            errors = [p for p in problems if p.severity is Severity.ERROR]
            if errors:
                raise _blamed(errors, host, full)
            diags.extend(problems)
            self._checked.add(hashlib.sha256(text.encode()).hexdigest())
        compiled = Compiled(profile, skeleton, key, tuple(diags.items), checks, fits)
        self.cache[key] = compiled
        return compiled

    def render(self, root: str, attrs: Mapping[str, str], host: str = "",
               secret: Collection[str] = ()) -> str:
        """The kickstart for one host; raises if a value would change the checked structure.
        Errors never quote the value of a secret attribute (declared secret by a roll, or
        named in `secret`)."""
        try:
            return self._render(root, attrs, host)
        except RocksError as exc:
            raise self.redacted(exc, attrs, secret) from None

    def _render(self, root: str, attrs: Mapping[str, str], host: str) -> str:
        text = self._splice(self._compile(root, attrs, host), attrs, host, quick=False)
        assert text is not None
        return text

    def render_cached(self, root: str, attrs: Mapping[str, str], host: str = "",
                      secret: Collection[str] = ()) -> str | None:
        """`render` when the profile is compiled already and the host's values need no
        pykickstart run; None when rendering would compile or run pykickstart. Reads the
        compile cache only: safe beside a thread that compiles (the frontend's event loop
        renders this way while its compiler thread builds snapshots)."""
        compiled = self.cache.get(self.key(root, attrs))
        if compiled is None:
            return None
        try:
            return self._splice(compiled, attrs, host, quick=True)
        except RocksError as exc:
            raise self.redacted(exc, attrs, secret) from None

    def _splice(self, compiled: Compiled, attrs: Mapping[str, str], host: str, *,
                quick: bool) -> str | None:
        full = _check_values(compiled.checks, compiled.fits, attrs, host, self.multiline)
        _check_heredocs(compiled.skeleton.heredoc_lines, attrs, host)
        text = compiled.skeleton.splice(attrs)
        if full and self.validate:
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest not in self._checked:
                if quick:
                    return None
                errors = [p for p in validate_kickstart(text, self.release,
                                                        compiled.skeleton.origins, host)
                          if p.severity is Severity.ERROR]
                if errors:
                    raise _blamed(errors, host, full)
                self._checked.add(digest)
        return text


MASK = "********"


def redact(exc: RocksError, values: Collection[str]) -> RocksError:
    """A copy of `exc` whose messages and hints hold none of `values`, whole or any word of
    them (a parser quoting "part of" a value quotes a word of it)."""
    import contextlib
    import shlex

    pieces: set[str] = set()
    for value in values:
        pieces.add(value)
        pieces.update(w for w in value.split() if len(w) >= 4)
        with contextlib.suppress(ValueError):
            pieces.update(w for w in shlex.split(value) if len(w) >= 4)
    pieces = {p for p in pieces if p.strip()}
    if not pieces:
        return exc
    ordered = sorted(pieces, key=len, reverse=True)

    def clean(text: str) -> str:
        for piece in ordered:
            text = text.replace(piece, MASK)
            text = text.replace(repr(piece)[1:-1], MASK)
        return text

    return RocksError(*(replace(d, message=clean(d.message), hint=clean(d.hint))
                        for d in exc.diagnostics))


def _blamed(errors: list[Diagnostic], host: str, names: Collection[str]) -> RocksError:
    """pykickstart's errors for a host whose command-line values were checked in full, naming
    the host and those attributes."""
    if not names:
        return RocksError(*errors)
    who = ", ".join(sorted(names))
    return RocksError(*(replace(
        d, message=f"host {_shown(host) or '?'}: {d.message}",
        hint=f"the value of {who} (spliced into a kickstart command line) makes this line "
             "invalid; fix the attribute" + (f"; {d.hint}" if d.hint else ""))
        for d in errors))


def _check_heredocs(lines: Sequence[HeredocLine], attrs: Mapping[str, str], host: str) -> None:
    for line in lines:
        why = line.problem(attrs)
        if why:
            raise _unsafe(host, " and ".join(dict.fromkeys(line.names)), why)


def _check_values(checks: Mapping[str, tuple[SlotCheck, ...]], fits: dict[tuple[str, str], bool],
                  attrs: Mapping[str, str], host: str, multiline: frozenset[str]) -> set[str]:
    """Refuse any value that does not fit where its slots sit; the attributes whose values
    need the kickstart checked in full (spaces or quotes in a command line)."""
    full_check: set[str] = set()
    plain = PLAIN.fullmatch
    for name, where in checks.items():
        value = attrs.get(name, "")
        if plain(value):
            continue
        full = fits.get((name, value))
        if full is None:
            full = False
            for check in where:
                why = problem(check, value, name in multiline)
                if why:
                    raise _unsafe(host, name, why)
                if check.ctx is Ctx.COMMAND and not FULL_CHECK.isdisjoint(value):
                    full = True
            if len(fits) > 4096:
                fits.clear()
            fits[(name, value)] = full
        if full:
            full_check.add(name)
    return full_check


def _shown(host: str) -> str:
    """A host name as an error message may print it (a `hostname` attribute can hold
    anything)."""
    host = re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029]", "?", host)
    return host if len(host) <= 64 else host[:61] + "..."


def _unsafe(host: str, name: str, why: str) -> RocksError:
    host = _shown(host)
    return RocksError.of(
        "unsafe-value", f"attribute {name} of {host or 'this host'} would put {why}",
        SourceLocation(f"host {host}" if host else "attributes"),
        hint=f"fix the value of {name}; values are spliced into a checked kickstart",
    )


# Problems that only the traversals reaching them fail on (ConfigGraph.broken and friends), or
# that fail nobody's traversal (an extend- file of no node, an appliance at a missing root).
_LOCAL_CODES = frozenset({"extend-without-base", "unknown-node", "duplicate-appliance"})


def global_errors(graph: ConfigGraph, diags: Diagnostics) -> list[Diagnostic]:
    """The errors that no single traversal owns (an order cycle, a roll given twice): with
    any of them the graph as a whole is not fit to compile from."""
    local = {id(d) for ds in (*graph.broken.values(), *graph.broken_rolls.values()) for d in ds}
    local |= {id(d) for e in graph.edges for d in e.broken}
    return [d for d in diags.errors if id(d) not in local and d.code not in _LOCAL_CODES]
