"""What every converter shares: reading a source CSV, vectorised parsing with row
masks, skipping malformed rows with counted reasons (or failing in strict mode),
and assembling the checked :class:`Trace`."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from suanli.errors import InputError, Problem
from suanli.trace.format import BY_NAME, MAX_GANG, Trace
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
    # the lowest format version whose columns hold the values (as the files are written)
    version = max(
        [1]
        + [
            BY_NAME[name].since
            for name, arr in arrays.items()
            if name in BY_NAME and arr.null_count < len(arr)
        ]
    )
    return check_table(table, {"format_version": str(version), **meta}, source)


def skipped_note(counts: Mapping[str, int]) -> str:
    """``reason=count; …`` for the trace's metadata."""
    return "; ".join(f"{k}: {v}" for k, v in counts.items()) or "none"


#: An elastic job made by ``elastic_share`` may grow to this many times its gang.
ELASTIC_FACTOR = 2


def check_elastic_options(elastic_share: float, seed: int, source: str = "options") -> None:
    """``elastic_share`` is a number in [0, 1] and ``seed`` a whole number ≥ 0; else an
    :class:`InputError` naming the option."""
    share_ok = isinstance(elastic_share, int | float) and not isinstance(elastic_share, bool)
    if not share_ok or not 0.0 <= float(elastic_share) <= 1.0:
        raise InputError(
            [
                Problem(
                    source,
                    "elastic_share",
                    f"elastic_share must be a number from 0 to 1, not {elastic_share!r}",
                    "the share of jobs to make elastic, e.g. 0.5",
                )
            ]
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(
            [
                Problem(
                    source,
                    "seed",
                    f"seed must be a whole number ≥ 0, not {seed!r}",
                    "any integer ≥ 0; the same seed gives the same trace",
                )
            ]
        )


def elastic_gang_max(
    gang: np.ndarray, eligible: np.ndarray, share: float, rng: np.random.Generator
) -> pa.Array:
    """``gang_max`` that makes ``share`` of the ``eligible`` rows elastic: round(share × the
    eligible rows) of them, drawn uniformly without replacement with ``rng``, may grow
    from ``gang`` to :data:`ELASTIC_FACTOR` × ``gang`` (at most ``MAX_GANG``); the others
    stay fixed (null)."""
    rows = np.flatnonzero(eligible)
    k = math.floor(share * rows.size + 0.5)
    out = np.full(len(gang), -1, dtype=np.int64)
    if k:
        chosen = np.sort(rng.choice(rows, size=k, replace=False))
        out[chosen] = np.minimum(gang[chosen].astype(np.int64) * ELASTIC_FACTOR, MAX_GANG)
    return pa.array(out, type=pa.int64(), mask=out < 0)


def elastic_meta(converter: str, share: float, seed: int) -> tuple[str, tuple[str, ...]]:
    """The ``converter`` metadata and the notes of a conversion with ``elastic_share``."""
    if share <= 0:
        return converter, ()
    return (
        f"{converter} --elastic-share {share:g} --seed {seed}",
        (
            f"elastic: a share {share:g} of the jobs (seed {seed}) may grow from gang to "
            f"{ELASTIC_FACTOR} x gang (gang_max), with no measured scaling",
        ),
    )
