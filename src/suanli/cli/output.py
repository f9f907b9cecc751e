"""``--output table|json``: one convention for every command that prints results.

With ``--output json`` a command writes exactly one JSON document to standard output and
nothing else there (progress and notes go to standard error, or are left out). Documents
have sorted keys and two-space indentation, so the same inputs give byte-identical output;
floats keep 12 significant digits, NaN and infinities become ``null``, tuples become lists,
paths and enums their text. The shape of each command's document is written out in its
docstring and in the README.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping
from enum import Enum, StrEnum
from pathlib import PurePath
from typing import Annotated, Any

import typer

from suanli.errors import Problem

#: Significant digits of floats in JSON output (hides binary noise such as 0.4499999999999999).
DIGITS = 12


class OutputFormat(StrEnum):
    """How a command prints its result."""

    table = "table"
    json = "json"


#: The ``--output`` option, shared by the commands that print a result.
OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        help="table (for people) or json (one document on standard output, for programs).",
        case_sensitive=False,
    ),
]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dicts (string keys), lists, str, int, float, bool, None."""
    if isinstance(value, Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return float(f"{value:.{DIGITS}g}") if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    if hasattr(value, "isoformat") and callable(value.isoformat):  # datetime, date
        return str(value.isoformat())
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """The JSON text of ``value`` (sorted keys, indented, UTF-8 text), without a newline."""
    return json.dumps(
        jsonable(value), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False
    )


def print_json(value: Any) -> None:
    """Write ``value`` as one JSON document, and a newline, to standard output."""
    sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def problem_record(p: Problem) -> dict[str, Any]:
    """One input problem as JSON: ``where`` (file or label), ``line`` (or null), ``field``
    (dotted path, may be empty), ``what`` is wrong, and a ``hint`` to fix it (may be empty)."""
    return {"where": p.source, "line": p.line, "field": p.field, "what": p.message, "hint": p.hint}
