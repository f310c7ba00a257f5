"""Rendering a command's Result: aligned table (Rocks' look), JSON or CSV, or text as is.

Tables put the header in upper case and separate columns by two spaces, with trailing blanks
trimmed; None shows as `-` and booleans as yes/no. JSON is a list of objects keyed by column.
"""

from __future__ import annotations

from typing import Any, TextIO

from rocks.cli.params import OutputFormat
from rocks.commands import Result, Rows, Text


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: Rows) -> str:
    if not rows.rows:
        return ""
    cells = [[c.upper() for c in rows.header], *([_cell(v) for v in r] for r in rows.rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(rows.header))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells)
    return "".join(line.rstrip() + "\n" for line in lines)


def _json_value(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def as_json(rows: Rows) -> str:
    import json

    objects = [
        {key: _json_value(v) for key, v in zip(rows.header, r, strict=True)} for r in rows.rows
    ]
    return json.dumps(objects, indent=2, ensure_ascii=False) + "\n"


def as_csv(rows: Rows) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows.header)
    for r in rows.rows:
        writer.writerow("" if v is None else _cell(v) for v in r)
    return buffer.getvalue()


def render(result: Result, fmt: OutputFormat, out: TextIO) -> None:
    if result is None:
        return
    if isinstance(result, Text):
        out.write(result.text)
        return
    if not isinstance(result, Rows):
        raise TypeError(f"a command returned {type(result).__name__}, not Rows, Text or None")
    if fmt is OutputFormat.JSON:
        out.write(as_json(result))
    elif fmt is OutputFormat.CSV:
        out.write(as_csv(result))
    else:
        out.write(table(result))
