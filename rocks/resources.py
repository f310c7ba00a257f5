"""Finding the data directories rocks ships: rolls/, graph/ and kickstart_templates/.

They live beside the `rocks` package in a source checkout; an installed copy may point elsewhere
with ROCKS_DATA_DIR.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path


@cache
def data_dir() -> Path:
    env = os.environ.get("ROCKS_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent


def rolls_dir() -> Path:
    return data_dir() / "rolls"


def site_graph_dir() -> Path:
    return data_dir() / "graph"


def schema_dir() -> Path:
    return site_graph_dir() / "schemas"


def templates_dir() -> Path:
    return data_dir() / "kickstart_templates"


def display_path(path: Path) -> str:
    """A path as shown in messages and kickstart comments: relative to the data dir or the cwd
    when inside them, control characters (line breaks included) shown as '?'. A symbolic link
    is named as itself, not as what it points to."""
    path = path.absolute()
    return _CONTROL.sub("?", _display(_resolved(str(path.parent)) / path.name))


@cache
def _resolved(directory: str) -> Path:
    return Path(directory).resolve()


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _display(path: Path) -> str:
    for base in (data_dir(), Path.cwd()):
        try:
            return str(path.relative_to(base.resolve()))
        except ValueError:
            continue
    rel = os.path.relpath(path, data_dir())
    return rel if rel.count("..") <= 2 else str(path)
