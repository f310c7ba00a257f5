"""Parameters shared by every command that loads the graph, and the one place that loads it.

A roll author tests a roll under development without installing it: `rolls=DIR[,DIR…]` adds roll
directories, `bundled=no` compiles them alone, `release=`, `eval=skip`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Param, keyword
from rocks.errors import RocksError, SourceLocation

if TYPE_CHECKING:
    from rocks.compiler.graph import ConfigGraph
    from rocks.compiler.service import Compiler

GRAPH_PARAMS: tuple[Param, ...] = (
    keyword("rolls", default="", metavar="DIR[,DIR...]",
            help="roll directories to add to the bundled rolls (nodes/ and graphs/default/)"),
    keyword("bundled", bool, default=True,
            help="include the bundled rolls and the site graph (no: only rolls=)"),
    keyword("release", default="el9", choices=("el9", "el10", "el7"),
            help="target release: el9 (Rocky/Alma 9), el10, or el7 for Rocks-era rolls"),
    keyword("trusted", default="", metavar="ROLL[,ROLL...]",
            help="rolls whose <eval> blocks may run on this machine"),
)
EVAL_PARAM = keyword("eval", default="run", choices=("run", "skip"),
                     help="skip: put a visible placeholder where each <eval>'s output would go")


def _split(value: str) -> list[str]:
    return [v for v in (x.strip() for x in value.split(",")) if v]


def graph_from(args: Mapping[str, Any]) -> ConfigGraph:
    from rocks.compiler.service import load_graph

    return load_graph(
        rolls=[Path(p) for p in _split(args["rolls"])], bundled=args["bundled"],
        release=args["release"], trusted=_split(args["trusted"]),
    )


def compiler_from(args: Mapping[str, Any], graph: ConfigGraph, *, provenance: bool = False
                  ) -> Compiler:
    from rocks.compiler.compile import EvalMode
    from rocks.compiler.service import Compiler

    return Compiler(graph, release=args["release"], eval_mode=EvalMode(args["eval"]),
                    provenance=provenance)


def read_attrs_file(path: str) -> dict[str, str]:
    """attrs=file.json: a JSON object of attribute names to values (numbers/booleans allowed)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise RocksError.of("io", f"cannot read attrs file: {exc.strerror}",
                            SourceLocation(path)) from None
    except json.JSONDecodeError as exc:
        raise RocksError.of("attrs-file", f"not JSON: {exc.msg}",
                            SourceLocation(path, exc.lineno)) from None
    if not isinstance(data, dict):
        raise RocksError.of("attrs-file", "expected a JSON object of name: value",
                            SourceLocation(path, 1))
    out = {}
    for k, v in data.items():
        if isinstance(v, bool):
            v = "yes" if v else "no"
        elif v is None:
            continue
        out[str(k)] = str(v)
    return out


def report_warnings(ctx: Context, diagnostics: Any) -> None:
    ctx.report(d for d in diagnostics if d.severity == "warning")
