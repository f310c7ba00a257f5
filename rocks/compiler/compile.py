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
from rocks.compiler.shellfile import file_shell
from rocks.compiler.xmlload import SLOT_RE, parse_xml
from rocks.errors import Diagnostic, Diagnostics, RocksError, SourceLocation
from rocks.model.profile import (
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

    def holds(self, el: XElem) -> bool:
        return el.cond is None or el.cond.evaluate(self.attrs)

    def origin(self, nf: NodeFile, visit: Visit, line: int) -> Origin:
        return Origin(nf.roll, nf.file, line, visit.node, visit.via)

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
                out.append(result if result is not None else placeholder(nf.file, part.line))
            elif part.tag in ("include", "sinclude"):
                out.append(self.include(part, nf))
            elif part.tag == "var":
                out.append(self.var(part))
            else:
                out.append(self.text(part, nf, shell=shell))
        return "".join(out)

    def text_of_file(self, el: XElem, nf: NodeFile) -> str:
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
            return placeholder(nf.file, el.line) + "\n"
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
        path = nf.path.parent.parent / "include" / el.get("file")
        try:
            return path.read_text()
        except OSError:
            if el.tag == "sinclude":
                return ""
            raise RocksError.of(
                "include-missing", f'included file "include/{el.get("file")}" not found',
                nf.loc(el.line),
            ) from None

    def eval(self, el: XElem, nf: NodeFile) -> str | None:
        """The eval's output, or None when evals are skipped (caller places a placeholder)."""
        if self.options.eval_mode is EvalMode.SKIP:
            if el.get("mode") == "xml":
                self.debug.append(f"eval skipped: {nf.file}:{el.line}")
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
        refs.append(NodeRef(node.name, node.roll, tuple(f.file for f in node.files), visit.via))
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


def _untrusted(loc: SourceLocation, what: str) -> Diagnostic:
    return Diagnostic(
        "eval-untrusted", f"{what} in roll {loc.roll}, which is not trusted", loc,
        hint="trust the roll (rocks set roll <name> trusted=yes) or compile with eval=skip",
    )
