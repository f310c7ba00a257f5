"""Compiling a traversal into a typed Profile: conditions decided, scripts assembled, provenance
kept.

Pure: no database, network or clock. `<eval>` is the one exception Rocks' language forces on us;
it runs only for trusted rolls (see evalrun.py) or is replaced by a visible placeholder.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from rocks.compiler.evalrun import EvalRunner
from rocks.compiler.graph import ConfigGraph, Visit
from rocks.compiler.nodes import NodeFile, XElem, convert
from rocks.compiler.shellfile import PERMS, file_shell
from rocks.compiler.xmlload import SLOT_RE, parse_xml, read_regular
from rocks.errors import Diagnostic, Diagnostics, RocksError, SourceLocation
from rocks.model.profile import (
    SLOT_CLOSE,
    SLOT_OPEN,
    MainCommand,
    NodeRef,
    Origin,
    PackageRef,
    Profile,
    Script,
    ScriptKind,
    slot,
)

SHELL_INTERPRETERS = frozenset({"", "/bin/bash", "/bin/sh", "/usr/bin/bash", "/usr/bin/sh",
                                "bash", "sh"})
MAIN_RENAME = {"lilo": "bootloader"}
IGNORED = frozenset({"service", "ansible", "boot", "screen", "attributes", "jumpstart"})


class EvalMode(enum.StrEnum):
    RUN = "run"  # run evals of trusted rolls; an eval in an untrusted roll is an error
    SKIP = "skip"  # put a visible placeholder where each eval's output would go


@dataclass(frozen=True, slots=True)
class CompileOptions:
    release: str = "el9"
    eval_mode: EvalMode = EvalMode.RUN
    phases: frozenset[str] = frozenset({"pre", "post"})


def placeholder(file: str, line: int) -> str:
    return f"@EVAL-SKIPPED:{file}:{line}@"


@dataclass
class _Builder:
    graph: ConfigGraph
    attrs: Mapping[str, str]
    options: CompileOptions
    runner: EvalRunner
    diags: Diagnostics
    main: list[MainCommand] = field(default_factory=list)
    on: dict[str, PackageRef] = field(default_factory=dict)
    off: dict[str, PackageRef] = field(default_factory=dict)
    pre: list[Script] = field(default_factory=list)
    post: list[Script] = field(default_factory=list)
    onerror: list[Script] = field(default_factory=list)
    traceback: list[Script] = field(default_factory=list)
    debug: list[str] = field(default_factory=list)
    untrusted: list[tuple[SourceLocation, str]] = field(default_factory=list)
    _shown: dict[str, str] = field(default_factory=dict)

    def holds(self, el: XElem) -> bool:
        return el.cond is None or el.cond.evaluate(self.attrs)

    def shown(self, nf: NodeFile) -> str:
        """The node file as the kickstart names it: relative to its roll (`nodes/x.xml`), the
        same from any working directory and wherever the roll is stored."""
        got = self._shown.get(nf.file)
        if got is None:
            got = roll_relative(self.graph, nf)
            self._shown[nf.file] = got
        return got

    def origin(self, nf: NodeFile, visit: Visit, line: int) -> Origin:
        return Origin(nf.roll, self.shown(nf), line, visit.node, visit.via)

    # -- elements -------------------------------------------------------------------------
    def element(self, el: XElem, nf: NodeFile, visit: Visit) -> None:
        if not self.holds(el):
            return
        tag = el.tag
        if tag == "package":
            self.package(el, nf, visit)
        elif tag in ("pre", "post", "configure"):
            self.script(el, nf, visit)
        elif tag in ("onerror", "traceback"):
            self.error_script(el, nf, visit)
        elif tag == "main":
            for child in el.children:
                if self.holds(child):
                    self.command(child, nf, visit)
        elif tag == "eval":
            out = self.eval(el, nf)
            if el.get("mode") == "xml" and out is not None:
                for sub in self.xml_fragment(out, nf, el.line):
                    self.element(sub, nf, visit)
        elif tag in ("include", "sinclude") and el.get("mode") == "xml":
            text = self.include(el, nf)
            for sub in self.xml_fragment(text, nf, el.line):
                self.element(sub, nf, visit)
        elif tag == "debug":
            self.debug.append(self.text(el, nf, shell=False).strip())
        elif tag == "file":
            body = self.text_of_file(el, nf)
            self.post.append(Script(ScriptKind.POST, body, self.origin(nf, visit, el.line)))
        # everything else (Solaris services, installer screens, ...) produces no kickstart

    def package(self, el: XElem, nf: NodeFile, visit: Visit) -> None:
        name = self.text(el, nf, shell=False).strip()
        if not name:
            return
        if el.get("type") == "meta":
            name = "@" + name
        ref = PackageRef(name, self.origin(nf, visit, el.line))
        if el.has("disable"):
            if name not in self.on:
                self.off.setdefault(name, ref)
        else:
            self.on.setdefault(name, ref)
            self.off.pop(name, None)

    def script(self, el: XElem, nf: NodeFile, visit: Visit) -> None:
        if el.tag == "configure":
            phases = {p.strip() for p in el.get("phase", "post").split(",")}
        else:
            phases = {el.tag}
        if not phases & self.options.phases:
            return
        interpreter = el.get("interpreter").strip()
        if el.tag != "pre" and interpreter in ("/bin/bash", "bash"):
            interpreter = ""
        shell = interpreter in SHELL_INTERPRETERS
        body = self.text(el, nf, shell=shell).strip("\n")
        kind = ScriptKind.PRE if el.tag == "pre" else ScriptKind.POST
        script = Script(kind, body + "\n", self.origin(nf, visit, el.line), interpreter,
                        " ".join(el.get("arg").split()))
        (self.pre if kind is ScriptKind.PRE else self.post).append(script)

    def error_script(self, el: XElem, nf: NodeFile, visit: Visit) -> None:
        """%onerror / %traceback: the installer runs them (in its own environment, never the
        target's) when the install fails or the installer crashes."""
        interpreter = el.get("interpreter").strip()
        shell = interpreter in SHELL_INTERPRETERS
        body = self.text(el, nf, shell=shell).strip("\n")
        kind = ScriptKind(el.tag)
        script = Script(kind, body + "\n", self.origin(nf, visit, el.line), interpreter,
                        " ".join(el.get("arg").split()))
        (self.onerror if kind is ScriptKind.ONERROR else self.traceback).append(script)

    def command(self, el: XElem, nf: NodeFile, visit: Visit) -> None:
        name = MAIN_RENAME.get(el.tag, el.tag)
        text = self.text(el, nf, shell=False)
        origin = self.origin(nf, visit, el.line)
        if "%include" in text:
            before, _, inc = text.partition("%include")
            self.main.append(MainCommand(name, " ".join(before.split()), origin))
            self.main.append(MainCommand("%include", " ".join(inc.split()), origin))
            return
        self.main.append(MainCommand(name, " ".join(text.split()), origin))

    # -- mixed content --------------------------------------------------------------------
    def text(self, el: XElem, nf: NodeFile, *, shell: bool) -> str:
        out: list[str] = []
        for part in el.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if not self.holds(part):
                continue
            if part.tag == "file":
                if not shell:
                    self.diags.error(
                        "file-not-shell",
                        f"<file> inside <{el.tag}> needs a shell script; this one runs "
                        f'"{el.get("interpreter")}"',
                        nf.loc(part.line),
                        hint="move the <file> into a separate <post> without interpreter=",
                    )
                    continue
                out.append(self.text_of_file(part, nf))
            elif part.tag == "eval":
                result = self.eval(part, nf)
                out.append(result if result is not None else
                           placeholder(f"{nf.roll}:{self.shown(nf)}", part.line))
            elif part.tag in ("include", "sinclude"):
                out.append(self.include(part, nf))
            elif part.tag == "var":
                out.append(self.var(part))
            else:
                out.append(self.text(part, nf, shell=shell))
        return "".join(out)

    def text_of_file(self, el: XElem, nf: NodeFile) -> str:
        perms = el.get("perms").strip()
        if perms and not PERMS.fullmatch(perms):
            self.diags.error("bad-file-perms", f'<file perms="{perms}">: not a file mode',
                             nf.loc(el.line), hint="write an octal mode such as 0644 or a "
                             "symbolic one such as u+x")
        if not el.get("name").strip():
            self.diags.error("bad-file-name", "<file> needs a name", nf.loc(el.line))
        content = self.text(el, nf, shell=False)
        if el.has("include"):
            # Rocks inlined a file of the frontend here: as trusted as an <eval>.
            content = self.frontend_file(el, nf)
        return "\n" + file_shell(
            el.get("name").strip(), content, mode=el.get("mode", "create"),
            perms=el.get("perms"), owner=el.get("owner"),
            expanded=el.get("vars") == "expanded", expr=el.get("expr"),
        )

    def frontend_file(self, el: XElem, nf: NodeFile) -> str:
        if self.options.eval_mode is EvalMode.SKIP:
            return placeholder(f"{nf.roll}:{self.shown(nf)}", el.line) + "\n"
        if not nf.trusted:
            self.untrusted.append((nf.loc(el.line), "<file include=>"))
            return ""
        try:
            with open(el.get("include"), encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise RocksError.of(
                "include-missing", f'<file include="{el.get("include")}">: {exc.strerror}',
                nf.loc(el.line),
            ) from None

    def var(self, el: XElem) -> str:
        if el.has("val") or el.has("ref"):
            return ""  # a definition, not a use
        return slot(el.get("name"))

    def include(self, el: XElem, nf: NodeFile) -> str:
        """A file of the roll's include/ directory: never a path outside it (no absolute path,
        no '..', no symbolic link out of it), never a device or a FIFO."""
        name = el.get("file")
        base = nf.path.parent.parent / "include"
        parts = name.replace("\\", "/").split("/")
        if (not name or name.startswith("/") or ".." in parts or SLOT_OPEN in name
                or SLOT_CLOSE in name):
            raise RocksError.of(
                "include-outside-roll",
                f'<{el.tag} file="{name}">: not a file of the roll\'s include/ directory',
                nf.loc(el.line),
                hint="give a path relative to include/, without '..' or attributes",
            )
        path = base / name
        if not path.exists() and not path.is_symlink():
            if el.tag == "sinclude":
                return ""
            raise RocksError.of(
                "include-missing", f'included file "include/{name}" not found',
                nf.loc(el.line),
            )
        try:
            data = read_regular(path, f"include/{name}", within=base)
        except RocksError as exc:
            first = exc.first
            raise RocksError.of(first.code, f"<{el.tag} file=\"{name}\">: {first.message}",
                                nf.loc(el.line), hint=first.hint) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise RocksError.of("include-not-text", f'included file "include/{name}" is not '
                                "UTF-8 text", nf.loc(el.line)) from None

    def eval(self, el: XElem, nf: NodeFile) -> str | None:
        """The eval's output, or None when evals are skipped (caller places a placeholder)."""
        if self.options.eval_mode is EvalMode.SKIP:
            if el.get("mode") == "xml":
                self.debug.append(f"eval skipped: {nf.roll}:{self.shown(nf)}:{el.line}")
            return None
        if not nf.trusted:
            self.untrusted.append((nf.loc(el.line), "<eval>"))
            return None
        script = SLOT_RE.sub(lambda m: self.attrs.get(m.group(1), ""), self.text(el, nf,
                                                                              shell=False))
        return self.runner.run(
            el.get("shell", "sh"), script, self.attrs, nf.path.parent.parent, nf.loc(el.line)
        )

    def xml_fragment(self, text: str, nf: NodeFile, line: int) -> list[XElem]:
        try:
            loaded = parse_xml(f"<kickstart>{text}</kickstart>".encode(), nf.file)
        except RocksError as exc:
            raise RocksError.of(
                "eval-xml", f"eval output is not XML: {exc.first.message}", nf.loc(line)
            ) from None
        local = Diagnostics()
        out = [convert(c, nf.file, local) for c in loaded.root if isinstance(c.tag, str)]
        # lines inside the fragment are relative to it: attribute them to the eval
        out = [XElem(x.tag, x.attrs, x.parts, line, x.cond) for x in out]
        local.raise_if_errors()
        return out


def compile_profile(
    graph: ConfigGraph,
    root: str,
    attrs: Mapping[str, str],
    options: CompileOptions | None = None,
    *,
    runner: EvalRunner | None = None,
    diags: Diagnostics | None = None,
) -> Profile:
    options = options or CompileOptions()
    diags = diags if diags is not None else Diagnostics()
    b = _Builder(graph, attrs, options, runner or EvalRunner(), diags)
    visits = graph.traverse(root, attrs)
    refs: list[NodeRef] = []
    for visit in visits:
        node = graph.nodes[visit.node]
        refs.append(NodeRef(node.name, node.roll, tuple(b.shown(f) for f in node.files),
                            visit.via))
        for nf in node.files:
            if nf.root_tag != "kickstart":
                continue
            for el in nf.body:
                b.element(el, nf, visit)
    if b.untrusted:
        raise RocksError(*(_untrusted(loc, what) for loc, what in b.untrusted))
    diags.raise_if_errors()
    return Profile(
        root=root, release=options.release, nodes=tuple(refs), main=tuple(b.main),
        packages=tuple(sorted(b.on.values(), key=lambda p: p.name)),
        excluded=tuple(sorted(b.off.values(), key=lambda p: p.name)),
        pre=tuple(b.pre), post=tuple(b.post), debug=tuple(b.debug),
        onerror=tuple(b.onerror), traceback=tuple(b.traceback),
    )


def roll_relative(graph: ConfigGraph, nf: NodeFile) -> str:
    """`nf`'s path inside its roll's directory (its display path if it lies outside)."""
    for roll in graph.rolls:
        if roll.name == nf.roll:
            try:
                return nf.path.relative_to(roll.path).as_posix()
            except ValueError:
                break
    return nf.file


def _untrusted(loc: SourceLocation, what: str) -> Diagnostic:
    return Diagnostic(
        "eval-untrusted", f"{what} in roll {loc.roll}, which is not trusted", loc,
        hint="trust the roll (rocks set roll <name> trusted=yes) or compile with eval=skip",
    )
