"""Finding the data rocks ships: the bundled rolls, the kickstart templates and the XML schemas.

They are package data under `rocks/data/` (rolls/, kickstart_templates/, schemas/), so the same
path works in a source checkout and in an installed wheel. The site's own graph is not here: it
lives with the site's state (`<state>/site/`, see rocks.profiles).
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"


def data_dir() -> Path:
    return _DATA


def rolls_dir() -> Path:
    return _DATA / "rolls"


def bundled_roll_dirs() -> list[Path]:
    """The rolls shipped with rocks (each a directory under rolls_dir())."""
    base = rolls_dir()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def schema_dir() -> Path:
    return _DATA / "schemas"


def templates_dir() -> Path:
    return _DATA / "kickstart_templates"


def display_path(path: Path, bases: tuple[Path, ...] = ()) -> str:
    """A path as shown in messages and provenance: relative to the data dir (bundled rolls:
    `rolls/base/nodes/x.xml`), else to one of `bases` (the state: `site/nodes/x.xml`), else to
    the cwd when inside it; control characters (line breaks included) shown as '?'. A symbolic
    link is named as itself, not as what it points to."""
    path = path.absolute()
    return _CONTROL.sub("?", _display(_resolved(str(path.parent)) / path.name, bases))


@cache
def _resolved(directory: str) -> Path:
    return Path(directory).resolve()


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _display(path: Path, bases: tuple[Path, ...]) -> str:
    for base in (_DATA, *bases, Path.cwd()):
        try:
            return str(path.relative_to(base.resolve()))
        except ValueError:
            continue
    rel = os.path.relpath(path, _DATA)
    return rel if rel.count("..") <= 2 else str(path)


_RELEASE_ORDER = ("el9", "el10", "el7")


def releases() -> tuple[str, ...]:
    """The target releases offered: those with a kickstart template (each template is checked
    by pykickstart for its release: rocks.compiler.render.RELEASES)."""
    return tuple(r for r in _RELEASE_ORDER if (templates_dir() / r / "kickstart.ks.j2").is_file())
