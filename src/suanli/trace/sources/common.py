"""What every converter shares: reading a source CSV, vectorised parsing with row
masks, skipping malformed rows with counted reasons (or failing in strict mode),
and assembling the checked :class:`Trace`."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from suanli.errors import InputError, Problem
from suanli.trace.format import Trace
from suanli.trace.schema import check_table


@dataclass(frozen=True, eq=False)
class Conversion:
    """A converted trace and what happened on the way.

    ``skipped`` maps a reason to the number of source rows dropped for it;
    ``notes`` lists the assumptions the converter made.
    """

    trace: Trace
    rows_read: int
    skipped: Mapping[str, int]
    notes: tuple[str, ...] = ()


@dataclass
class Skips:
    """Rows to drop, each with the first reason found; raises instead when ``strict``."""

    n: int
    source: str
    strict: bool = False
    first_line: int = 2
    reason_of: dict[int, str] = field(default_factory=dict)

    def add(self, mask: np.ndarray, reason: str) -> None:
        """Mark the rows where ``mask`` is true (0-based rows of the source table)."""
        for r in np.flatnonzero(mask).tolist():
            self.reason_of.setdefault(r, reason)

    def add_row(self, row: int, reason: str) -> None:
        """Mark one row (0-based)."""
        self.reason_of.setdefault(row, reason)

    @property
    def keep(self) -> np.ndarray:
        """Boolean mask of the rows kept."""
        keep = np.ones(self.n, dtype=bool)
        keep[list(self.reason_of)] = False
        return keep

    def counts(self) -> dict[str, int]:
        """Reason → rows dropped for it."""
        out: dict[str, int] = {}
        for reason in self.reason_of.values():
            out[reason] = out.get(reason, 0) + 1
        return dict(sorted(out.items()))

    def check_strict(self) -> None:
        """In strict mode, fail with every dropped row (line numbers of the source)."""
        if not self.strict or not self.reason_of:
            return
        problems = [
            Problem(
                self.source,
                f"row {r + 1}",
                reason,
                "fix the row or convert without --strict",
                self.first_line + r,
            )
            for r, reason in sorted(self.reason_of.items())[:40]
        ]
        if len(self.reason_of) > 40:
            problems.append(Problem(self.source, "", f"… and {len(self.reason_of) - 40} more"))
        raise InputError(problems)


def read_source_csv(path: Path, required: Sequence[str], what: str) -> pa.Table:
    """A source CSV with every column as text; clear errors for a missing file or column."""
    if not path.is_file():
        raise InputError(
            [
                Problem(
                    str(path),
                    "",
                    f"no such {what} file",
                    "give the path of the source file (see docs/trace-format.md)",
                )
            ]
        )
    data = path.read_bytes()
    header = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip().split(",")
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(
            [
                Problem(
                    str(path),
                    "",
                    f"not a readable CSV file: {exc}",
                    "every row needs as many cells as the header",
                )
            ]
        ) from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InputError(
            [
                Problem(
                    str(path),
                    "header",
                    f"not a {what} file: missing column(s) {', '.join(missing)}",
                    f"expected columns {', '.join(required)}",
                    1,
                )
            ]
        )
    return table


def text(table: pa.Table, name: str) -> pa.Array:
    """A text column, whitespace-trimmed."""
    col = table.column(name)
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))


def numbers(arr: pa.Array) -> np.ndarray:
    """Text → float64 (NaN where empty or not a number); vectorised, slow path only on error."""
    blank = pc.equal(arr, "")
    cleaned = pc.if_else(blank, pa.scalar(None, pa.string()), arr)
    try:
        values: np.ndarray = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
        return values
    except pa.ArrowInvalid:
        out = np.full(len(arr), np.nan)
        for i, v in enumerate(cleaned.to_pylist()):
            with contextlib.suppress(ValueError):
                out[i] = float(v) if v is not None else np.nan
        return out


def not_whole(x: np.ndarray, low: float = 1) -> np.ndarray:
    """Mask of values that are missing, not whole, or below ``low``."""
    with np.errstate(invalid="ignore"):
        mask: np.ndarray = ~np.isfinite(x) | (x != np.round(x)) | (x < low)
    return mask


def assemble(
    columns: Mapping[str, Any],
    keep: np.ndarray,
    meta: Mapping[str, str],
    source: str,
) -> Trace:
    """The checked trace of the kept rows, sorted by submit time (stable)."""
    arrays = {}
    for name, values in columns.items():
        arr = values if isinstance(values, pa.Array) else pa.array(values)
        arrays[name] = arr.filter(pa.array(keep))
    table = pa.table(arrays)
    order = pc.sort_indices(table, sort_keys=[("submit_s", "ascending")])
    table = table.take(order)
    return check_table(table, {"format_version": "1", **meta}, source)


def skipped_note(counts: Mapping[str, int]) -> str:
    """``reason=count; …`` for the trace's metadata."""
    return "; ".join(f"{k}: {v}" for k, v in counts.items()) or "none"
