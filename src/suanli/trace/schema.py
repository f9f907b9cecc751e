"""The schema check: any table of trace columns → a :class:`Trace` in the canonical schema.

Every problem names the row (1-based, and the file line for CSV), the column,
what is wrong and how to fix it; all problems are collected (up to
:data:`MAX_PROBLEMS`, then a count of the rest) and raised together as one
:class:`suanli.errors.InputError`. The checks are vectorised (Arrow and numpy);
per-value Python runs only on the rows already found bad, and on the short
list and map cells.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanli.errors import InputError, Problem
from suanli.model.job import JobKind
from suanli.trace.format import (
    BY_NAME,
    COLUMN_NAMES,
    COLUMNS,
    EXTRA_PREFIX,
    FORMAT_VERSION,
    LIST_SEP,
    REQUIRED,
    Column,
    Trace,
    canonical_schema,
    format_map,
    parse_list,
    parse_map,
)

MAX_PROBLEMS = 40
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no")


@dataclass
class _Collector:
    """Problems found so far, with the row → file line mapping."""

    source: str
    first_line: int | None
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0

    def add(self, message: str, hint: str = "", field_: str = "", line: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.source, field_, message, hint, line))
        else:
            self.dropped += 1

    def rows(
        self,
        rows: np.ndarray,
        column: str,
        message: Callable[[int], str] | str,
        hint: str = "",
    ) -> None:
        """One problem per bad row (0-based indices)."""
        for r in rows.tolist():
            text = message(r) if callable(message) else message
            line = None if self.first_line is None else self.first_line + r
            self.add(text, hint, f"row {r + 1}, column {column}", line)

    def raise_if_any(self) -> None:
        if self.dropped:
            self.problems.append(
                Problem(self.source, "", f"… and {self.dropped} more problems", "fix these first")
            )
        if self.problems:
            raise InputError(self.problems)


def check_table(
    raw: pa.Table, meta: Mapping[str, str], source: str, first_line: int | None = None
) -> Trace:
    """Check ``raw`` (string or typed columns) and return the canonical :class:`Trace`.

    ``first_line`` is the file line of the first data row (CSV), for messages.
    """
    out = _Collector(source, first_line)
    _check_meta(meta, out)
    names = list(raw.column_names)
    for n in sorted({n for n in names if names.count(n) > 1}):
        out.add(f"column {n!r} appears more than once", "keep one", "header")
    for n in names:
        if n not in BY_NAME and not n.startswith(EXTRA_PREFIX):
            near = difflib.get_close_matches(n, COLUMN_NAMES, n=1)
            hint = (f"did you mean {near[0]!r}? " if near else "") + (
                f"rename user columns to start with {EXTRA_PREFIX!r}"
            )
            out.add(f"unknown column {n!r}", hint, "header")
    for n in REQUIRED:
        if n not in names:
            out.add(f"required column {n!r} is missing", f"add a {n!r} column", "header")
    out.raise_if_any()

    n_rows = raw.num_rows
    arrays: dict[str, pa.Array] = {}
    for col in COLUMNS:
        if col.name in names:
            arrays[col.name] = _convert(_chunk(raw.column(col.name)), col, out)
        else:
            arrays[col.name] = pa.nulls(n_rows, col.arrow_type)
    extras = tuple(n for n in names if n.startswith(EXTRA_PREFIX))
    for x in extras:
        arrays[x] = _blank_to_null(pc.cast(_chunk(raw.column(x)), pa.string()))
    out.raise_if_any()
    _check_rows(arrays, meta, out)
    out.raise_if_any()
    table = pa.Table.from_arrays(list(arrays.values()), schema=canonical_schema(extras))
    return Trace(table, dict(meta), source)


def _chunk(col: pa.ChunkedArray) -> pa.Array:
    return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)


def _blank_to_null(arr: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _convert(arr: pa.Array, col: Column, out: _Collector) -> pa.Array:
    """``arr`` as the column's Arrow type; bad cells become problems."""
    try:
        return _convert_cells(arr, col, out)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        out.add(
            f"column {col.name!r} has type {arr.type}, which cannot be read as {col.kind}: "
            f"{str(exc).splitlines()[0]}",
            f"store it as {col.arrow_type} (docs/trace-format.md)",
            f"column {col.name}",
        )
        return pa.nulls(len(arr), col.arrow_type)


def _convert_cells(arr: pa.Array, col: Column, out: _Collector) -> pa.Array:
    target = col.arrow_type
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = _blank_to_null(pc.cast(arr, pa.string()))
        if col.kind in ("str", "list", "map"):
            return _canonical_text(arr, col, out)
        if col.kind == "bool":
            lower = pc.utf8_lower(arr)
            good = pc.or_kleene(pc.is_in(lower, pa.array(TRUE + FALSE)), pc.is_null(lower))
            bad = np.flatnonzero(~np.asarray(good.to_numpy(zero_copy_only=False), dtype=bool))
            out.rows(
                bad,
                col.name,
                lambda r: f"{arr[r].as_py()!r} is not true or false",
                "write true or false (or 1/0, yes/no)",
            )
            return pc.if_else(
                pc.is_null(lower), pa.scalar(None, pa.bool_()), pc.is_in(lower, pa.array(TRUE))
            )
        try:
            numbers = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:
            numbers = _parse_floats(arr, col, out)
    elif col.kind in ("str", "list", "map"):
        return _canonical_text(_blank_to_null(pc.cast(arr, pa.string())), col, out)
    elif col.kind == "bool":
        return pc.cast(arr, pa.bool_())
    else:
        numbers = pc.cast(arr, pa.float64())
    if col.kind == "float":
        return numbers
    values = numbers.to_numpy(zero_copy_only=False)
    frac = np.isfinite(values) & (values != np.round(values))
    nonfinite = ~np.isfinite(values) & ~np.isnan(values)
    out.rows(
        np.flatnonzero(frac | nonfinite),
        col.name,
        lambda r: f"{values[r]:g} is not a whole number",
        "write an integer",
    )
    ints = np.where(np.isfinite(values), values, 0).astype(np.int64)
    return pa.array(ints, type=target, mask=np.isnan(values))


def _parse_floats(arr: pa.Array, col: Column, out: _Collector) -> pa.Array:
    """Slow path (only when a cell is not a number): find the bad cells."""
    values: list[float | None] = []
    for r, v in enumerate(arr.to_pylist()):
        if v is None:
            values.append(None)
            continue
        try:
            values.append(float(v))
        except ValueError:
            out.rows(
                np.array([r]),
                col.name,
                f"{v!r} is not a number",
                "write a plain number such as 3600 or 1.5e3",
            )
            values.append(None)
    return pa.array(values, type=pa.float64())


def _canonical_text(arr: pa.Array, col: Column, out: _Collector) -> pa.Array:
    """Strings as they are; list and map cells rewritten in canonical form."""
    if col.kind == "str" or arr.null_count == len(arr):
        return arr
    valid = np.flatnonzero(np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False)))
    distinct = pc.unique(arr.take(pa.array(valid))).to_pylist()
    canon_of: dict[str, str | None] = {}
    bad: dict[str, str] = {}
    for t in distinct:
        if col.kind == "list":
            canon_of[t] = LIST_SEP.join(parse_list(t)) or None
            continue
        try:
            canon_of[t] = format_map(parse_map(t)) or None
        except ValueError as exc:
            bad[t] = str(exc)
            canon_of[t] = None
    texts = arr.to_pylist()
    if bad:
        rows = np.array([r for r in valid.tolist() if texts[r] in bad])
        out.rows(
            rows,
            col.name,
            lambda r: bad[texts[r]],
            "write accelerator=PFLOP/s per device, entries separated by '|'",
        )
    canon = [None if t is None else canon_of[t] for t in texts]
    return pa.array(canon, type=pa.string())


def _np(arrays: Mapping[str, pa.Array], name: str) -> np.ndarray:
    """A numeric column as float64 numpy (nulls as NaN)."""
    return np.asarray(pc.cast(arrays[name], pa.float64()).to_numpy(zero_copy_only=False))


def _present(arrays: Mapping[str, pa.Array], name: str) -> np.ndarray:
    return np.asarray(pc.is_valid(arrays[name]).to_numpy(zero_copy_only=False), dtype=bool)


def _check_rows(arrays: Mapping[str, pa.Array], meta: Mapping[str, str], out: _Collector) -> None:
    """Cross-field rules, vectorised."""
    for name in REQUIRED:
        missing = np.flatnonzero(~_present(arrays, name))
        out.rows(missing, name, "value is missing", f"every row needs a {name!r}")
    ids = arrays["id"]
    if len(pc.unique(ids)) < len(ids):
        counts = pc.value_counts(ids)
        dup_values = [v["values"] for v in counts.to_pylist() if v["counts"] > 1 and v["values"]]
        dup = np.flatnonzero(
            np.asarray(
                pc.is_in(ids, pa.array(dup_values)).to_numpy(zero_copy_only=False), dtype=bool
            )
        )
        out.rows(
            dup,
            "id",
            lambda r: f"id {ids[r].as_py()!r} is used by more than one row",
            "give every job its own id",
        )
    tenants = arrays["tenant"]
    bad_text = ~np.asarray(
        pc.match_substring_regex(tenants, ID_RE.pattern)
        .fill_null(True)
        .to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    out.rows(
        np.flatnonzero(bad_text),
        "tenant",
        lambda r: f"{tenants[r].as_py()!r} is not a valid id",
        "use lower-case letters, digits, '-' and '_', starting with a letter or digit",
    )
    kinds = arrays["kind"]
    bad_kind = ~np.asarray(
        pc.or_kleene(
            pc.is_in(kinds, pa.array([k.value for k in JobKind])), pc.is_null(kinds)
        ).to_numpy(zero_copy_only=False)
    )
    out.rows(
        np.flatnonzero(bad_kind),
        "kind",
        lambda r: f"unknown kind {kinds[r].as_py()!r}",
        "one of " + ", ".join(k.value for k in JobKind) + " (or empty: the profile's kind)",
    )

    submit = _np(arrays, "submit_s")
    gang = _np(arrays, "gang")
    gmax = _np(arrays, "gang_max")
    frac = _np(arrays, "device_fraction")
    dur = _np(arrays, "duration_s")
    work = _np(arrays, "work_pflop")
    hbm = _np(arrays, "hbm_tb")
    deadline = _np(arrays, "deadline_s")
    with np.errstate(invalid="ignore"):
        rules: list[tuple[str, np.ndarray, str, str]] = [
            (
                "submit_s",
                ~(np.isfinite(submit) & (submit >= 0)) & ~np.isnan(submit),
                "must be a finite number ≥ 0",
                "seconds after the trace's start",
            ),
            ("gang", gang < 1, "must be ≥ 1", "the number of devices the job needs"),
            ("gang_max", gmax < gang, "must be ≥ gang", "leave empty for a fixed gang"),
            (
                "device_fraction",
                (frac <= 0) | (frac > 1),
                "must be in (0, 1]",
                "e.g. 0.25 for a quarter of a device; empty for whole devices",
            ),
            (
                "device_fraction",
                (frac < 1) & ((gang != 1) | (gmax > 1)),
                "a fractional job must have gang 1 (and no gang_max)",
                "only single-device jobs can share a device",
            ),
            (
                "duration_s",
                np.isnan(dur) == np.isnan(work),
                "give exactly one of duration_s and work_pflop",
                "duration on `reference`, or PFLOP",
            ),
            (
                "duration_s",
                ~(np.isfinite(dur) & (dur > 0)) & ~np.isnan(dur),
                "must be a finite number > 0",
                "seconds on the reference accelerator",
            ),
            (
                "work_pflop",
                ~(np.isfinite(work) & (work > 0)) & ~np.isnan(work),
                "must be a finite number > 0",
                "total useful PFLOP of the job",
            ),
            (
                "hbm_tb",
                ~np.isnan(hbm) & (np.isnan(work) | ~(hbm > 0)),
                "needs work_pflop and a value > 0",
                "HBM traffic (TB) of the whole job",
            ),
            (
                "deadline_s",
                deadline < submit,
                "is before submit_s",
                "deadlines are absolute: seconds after the trace's start",
            ),
            (
                "checkpoint_interval_s",
                _np(arrays, "checkpoint_interval_s") <= 0,
                "must be > 0",
                "seconds between checkpoints",
            ),
            (
                "restart_cost_s",
                _np(arrays, "restart_cost_s") < 0,
                "must be ≥ 0",
                "seconds lost on a restart",
            ),
        ]
    for column, mask, message, hint in rules:
        out.rows(np.flatnonzero(mask), column, message, hint)
    if not meta.get("reference"):
        no_ref = ~np.isnan(dur) & ~_present(arrays, "reference")
        out.rows(
            np.flatnonzero(no_ref),
            "reference",
            "a duration needs a reference accelerator",
            "fill `reference`, or set the file's `reference` metadata",
        )


def _check_meta(meta: Mapping[str, str], out: _Collector) -> None:
    version = meta.get("format_version")
    if version is None:
        out.add(
            "no format_version: not a suanli trace",
            f"start the file with '# format_version: {FORMAT_VERSION}', or convert a public trace "
            "with 'suanli trace convert SOURCE --from philly|openb|pollux|tiresias'",
            "metadata",
            1,
        )
    elif version.strip() != str(FORMAT_VERSION):
        out.add(
            f"format_version {version!r} is not supported (this suanli reads {FORMAT_VERSION})",
            "convert it with a matching suanli version",
            "metadata",
            1,
        )
    for key, value in meta.items():
        if "\n" in value:
            out.add(f"metadata {key!r} spans several lines", "keep values on one line", "metadata")
