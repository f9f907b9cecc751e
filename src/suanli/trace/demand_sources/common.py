"""What the demand converters share: size-bounded reading of a source file, building a
:class:`~suanli.workload.demand.RequestTrace` from parsed columns, and the
:class:`DemandConversion` they return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suanli.errors import InputError, Problem
from suanli.workload.demand import Demand, RequestTrace

MAX_SOURCE_BYTES = 1 << 30
"""Largest source file read (1 GiB); the public serving traces are a few MiB."""


@dataclass(frozen=True, slots=True)
class DemandConversion:
    """A converted demand and the assumptions made on the way (``notes``)."""

    demand: Demand
    notes: tuple[str, ...] = ()


def check_size(path: Path) -> None:
    """Refuse a missing file or one larger than :data:`MAX_SOURCE_BYTES`."""
    if not path.is_file():
        raise InputError([Problem(str(path), "", "no such file", "check the path")])
    size = path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise InputError(
            [
                Problem(
                    str(path),
                    "",
                    f"file is {size} bytes, more than the limit of {MAX_SOURCE_BYTES}",
                    "split the trace or convert a shorter span",
                )
            ]
        )


def read_text(path: Path) -> str:
    """The file's text (UTF-8), size-checked; undecodable bytes are an :class:`InputError`."""
    check_size(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(str(path), "", f"not UTF-8 text ({exc.reason})", "give a text file")]
        ) from None


def tokens_of(value: object, source: str, field: str, line: int) -> int:
    """A token count: an integer ≥ 1 (``"12"`` and ``12.0`` are accepted as 12)."""
    n: int | None = None
    if isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str):
        try:
            n = int(value.strip())
        except ValueError:
            n = None
    if n is None or n < 1:
        raise InputError(
            [
                Problem(
                    source,
                    field,
                    f"token count {value!r} is not an integer ≥ 1",
                    "fix the row or drop it from the source file",
                    line=line,
                )
            ]
        )
    return n


def request_trace(
    source: str,
    arrival_s: Sequence[float],
    input_tokens: Sequence[int],
    output_tokens: Sequence[int],
) -> RequestTrace:
    """A :class:`RequestTrace` with arrivals shifted to start at 0 and sorted (stably,
    lengths kept with their requests); an empty trace is an :class:`InputError`."""
    if not arrival_s:
        raise InputError([Problem(source, "", "no requests in the file", "give a non-empty trace")])
    t = np.asarray(arrival_s, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    t = t - t[0]
    return RequestTrace(
        arrival_s=t,
        input_tokens=np.asarray(input_tokens, dtype=np.int64)[order],
        output_tokens=np.asarray(output_tokens, dtype=np.int64)[order],
        source=source,
    )
