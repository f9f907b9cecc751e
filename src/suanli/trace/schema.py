"""The schema check: any table of trace columns → a :class:`Trace` in the canonical schema.

Every problem names the row (1-based, and the file line for CSV), the column,
what is wrong and how to fix it; all problems are collected in one pass, one per
cell, and raised together as one :class:`suanli.errors.InputError`: the first
:data:`MAX_PROBLEMS` by row, then a count of the rest. Every number must be finite
and within its column's bounds (:data:`suanli.trace.format.BOUNDS`); text must be
UTF-8. The checks are vectorised (Arrow and numpy); per-value Python runs only on
the rows already found bad, and on the short list and map cells.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanli.errors import InputError, Problem
from suanli.model.job import JobKind
from suanli.trace.format import (
    BOUNDS,
    BY_NAME,
    COLUMN_NAMES,
    COLUMNS,
    EXTRA_PREFIX,
    FORMAT_VERSION,
    LIST_SEP,
    READ_VERSIONS,
    REQUIRED,
    Column,
    Trace,
    canonical_schema,
    format_map,
    parse_list,
    parse_map,
)
from suanli.trace.scaling import SCALING_HINT, parse_scaling

MAX_PROBLEMS = 40
_ORDER: Mapping[str, int] = {name: i for i, name in enumerate(COLUMN_NAMES)}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
#: The years a trace's ``start`` may fall in (so that its span of up to ten years can be
#: told as dates everywhere).
FIRST_YEAR, LAST_YEAR = 1970, 2199

#: What each numeric column means, for the hint of a value out of its range.
HINTS: Mapping[str, str] = {
    "submit_s": "seconds after the trace's start",
    "gang": "the number of devices the job needs",
    "gang_max": "the largest gang of an elastic job; leave empty for a fixed gang",
    "gang_min": "the smallest gang of an elastic job; leave empty for a fixed gang",
    "device_fraction": "e.g. 0.25 for a quarter of a device; empty for whole devices",
    "duration_s": "seconds on the reference accelerator",
    "work_pflop": "total useful PFLOP of the job",
    "hbm_tb": "HBM traffic (TB) of the whole job",
    "deadline_s": "an absolute deadline: seconds after the trace's start",
    "checkpoint_interval_s": "seconds between checkpoints",
    "restart_cost_s": "seconds lost on a restart",
    "priority": "higher runs first",
}
TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no")


@dataclass
class _Collector:
    """Problems found so far, with the row → file line mapping. They are shown by row (the
    file's own problems first), the first :data:`MAX_PROBLEMS` of them, then a count."""

    source: str
    first_line: int | None
    #: (row, column order, problem): row -1 for problems of the file as a whole.
    found: list[tuple[int, int, Problem]] = field(default_factory=list)
    dropped: int = 0
    #: Rows already reported, by column: one problem per cell.
    reported: dict[str, set[int]] = field(default_factory=dict)

    def add(self, message: str, hint: str = "", field_: str = "", line: int | None = None) -> None:
        """A problem of the file, its header or metadata, or a whole column."""
        self.found.append((-1, len(self.found), Problem(self.source, field_, message, hint, line)))

    def rows(
        self,
        rows: np.ndarray,
        column: str,
        message: Callable[[int], str] | str,
        hint: str = "",
    ) -> None:
        """One problem per bad row (0-based indices, ascending), unless the cell has one
        already; messages only for the rows that can be among the first shown."""
        seen = self.reported.setdefault(column, set())
        new = [r for r in rows.tolist() if r not in seen]
        seen.update(new)
        order = _ORDER.get(column, len(_ORDER))
        for r in new[:MAX_PROBLEMS]:
            text = message(r) if callable(message) else message
            line = None if self.first_line is None else self.first_line + r
            problem = Problem(self.source, f"row {r + 1}, column {column}", text, hint, line)
            self.found.append((r, order, problem))
        self.dropped += max(0, len(new) - MAX_PROBLEMS)

    def given(self, column: str, present: np.ndarray) -> np.ndarray:
        """``present``, plus the rows whose cell in ``column`` was given but reported bad."""
        out = present.copy()
        out[list(self.reported.get(column, ()))] = True
        return out

    def raise_if_any(self) -> None:
        if not self.found:
            return
        ranked = sorted(self.found, key=lambda f: (f[0], f[1]))
        problems = [p for _, _, p in ranked[:MAX_PROBLEMS]]
        dropped = self.dropped + max(0, len(ranked) - MAX_PROBLEMS)
        if dropped:
            problems.append(
                Problem(self.source, "", f"… and {dropped:,} more problems", "fix these first")
            )
        raise InputError(problems)


def check_table(
    raw: pa.Table, meta: Mapping[str, str], source: str, first_line: int | None = None
) -> Trace:
    """Check ``raw`` (string or typed columns) and return the canonical :class:`Trace`.

    ``first_line`` is the file line of the first data row (CSV), for messages.
    """
    out = _Collector(source, first_line)
    version = _check_meta(meta, out)
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
            if col.since > version:
                _too_new(arrays, col, version, out)
        else:
            arrays[col.name] = pa.nulls(n_rows, col.arrow_type)
    extras = tuple(n for n in names if n.startswith(EXTRA_PREFIX))
    for x in extras:
        arrays[x] = _extra(_chunk(raw.column(x)), x, out)
    _check_rows(arrays, meta, out)
    _check_scaling(arrays, meta, version, out)
    out.raise_if_any()
    table = pa.Table.from_arrays(list(arrays.values()), schema=canonical_schema(extras))
    return Trace(table, dict(meta), source)


def _too_new(arrays: dict[str, pa.Array], col: Column, version: int, out: _Collector) -> None:
    """A column newer than the file's version may be present but must be empty."""
    given = np.asarray(pc.is_valid(arrays[col.name]).to_numpy(zero_copy_only=False), dtype=bool)
    out.rows(
        np.flatnonzero(given),
        col.name,
        f"needs format_version {col.since} (the file says {version})",
        f"write '# format_version: {col.since}', or leave the column empty",
    )
    arrays[col.name] = pa.nulls(len(given), col.arrow_type)


def _chunk(col: pa.ChunkedArray) -> pa.Array:
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _is_text(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _utf8(arr: pa.Array, name: str, out: _Collector) -> pa.Array:
    """Text (string or binary) cells as a string array; a cell that is not UTF-8 is a
    problem (and missing). Other types pass through."""
    if not _is_text(arr.type):
        return arr
    try:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr.validate(full=True)  # Arrow does not check the UTF-8 of a file's strings
        return pc.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowCapacityError):
        pass
    values: list[str | None] = []
    for r, cell in enumerate(pc.cast(arr, pa.large_binary()).to_pylist()):
        try:
            values.append(None if cell is None else cell.decode("utf-8"))
        except UnicodeDecodeError as exc:
            out.rows(
                np.array([r]),
                name,
                f"not UTF-8 text: byte 0x{cell[exc.start]:02x} at position {exc.start + 1}",
                "store text as UTF-8",
            )
            values.append(None)
    return pa.array(values, pa.string())


def _extra(arr: pa.Array, name: str, out: _Collector) -> pa.Array:
    """A user (``x_``) column as text."""
    try:
        return _blank_to_null(pc.cast(_utf8(arr, name, out), pa.string()))
    except pa.ArrowException as exc:
        out.add(
            f"column {name!r} has type {arr.type}, which cannot be read as text: "
            f"{str(exc).splitlines()[0]}",
            "store user columns as strings",
            f"column {name}",
        )
        return pa.nulls(len(arr), pa.string())


def _blank_to_null(arr: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _convert(arr: pa.Array, col: Column, out: _Collector) -> pa.Array:
    """``arr`` as the column's Arrow type; bad cells become problems."""
    try:
        return _convert_cells(_utf8(arr, col.name, out), col, out)
    except pa.ArrowException as exc:
        out.add(
            f"column {col.name!r} has type {arr.type}, which cannot be read as {col.kind}: "
            f"{str(exc).splitlines()[0]}",
            f"store it as {col.arrow_type} (docs/trace-format.md)",
            f"column {col.name}",
        )
        out.reported.setdefault(col.name, set()).update(range(len(arr)))
        return pa.nulls(len(arr), col.arrow_type)


def _convert_cells(arr: pa.Array, col: Column, out: _Collector) -> pa.Array:
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
        numbers = pc.cast(arr, pa.float64(), safe=False)  # 64-bit integers: nearest float
    return _numbers(numbers, col, out)


def _numbers(numbers: pa.Array, col: Column, out: _Collector) -> pa.Array:
    """Float cells as the column's type. A cell that is not finite (NaN, ±inf), or for an
    integer column not whole or beyond its range, is a problem (and missing)."""
    values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    present = np.asarray(pc.is_valid(numbers).to_numpy(zero_copy_only=False), dtype=bool)
    bound = BOUNDS[col.name]
    nonfinite = present & ~np.isfinite(values)
    out.rows(
        np.flatnonzero(nonfinite),
        col.name,
        lambda r: f"must be {bound.text}, not {shown(values[r])}",
        HINTS[col.name],
    )
    if col.kind == "float":
        return pa.array(values, type=pa.float64(), mask=~present | nonfinite)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (values == np.round(values))
        too_big = whole & ~bound.holds(values) & (np.abs(values) > 2**53)
    out.rows(
        np.flatnonzero(present & np.isfinite(values) & ~whole),
        col.name,
        lambda r: f"{shown(values[r])} is not a whole number",
        "write an integer",
    )
    out.rows(
        np.flatnonzero(too_big),
        col.name,
        lambda r: f"must be {bound.text}, not {shown(values[r])}",
        HINTS[col.name],
    )
    good = whole & ~too_big
    ints = np.where(good, values, 0).astype(np.int64)
    return pa.array(ints, type=col.arrow_type, mask=~(present & good))


def _outside(values: np.ndarray, text: str) -> Callable[[int], str]:
    """The message for a row whose value is outside its bounds."""
    return lambda r: f"must be {text}, not {shown(values[r])}"


def shown(x: float) -> str:
    """A number as a message shows it: whole numbers without a fraction, others in full."""
    if np.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


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
    return np.array(pc.cast(arrays[name], pa.float64()).to_numpy(zero_copy_only=False))


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
        dup_values = [
            v["values"] for v in counts.to_pylist() if v["counts"] > 1 and v["values"] is not None
        ]  # missing ids (null) are reported above
        dup = np.flatnonzero(
            np.asarray(
                pc.is_in(ids, pa.array(dup_values, pa.string()))
                .fill_null(False)
                .to_numpy(zero_copy_only=False),
                dtype=bool,
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

    values = {name: _np(arrays, name) for name in BOUNDS}
    with np.errstate(invalid="ignore"):
        for name, bound in BOUNDS.items():
            v = values[name]
            outside = ~np.isnan(v) & ~bound.holds(v)
            out.rows(np.flatnonzero(outside), name, _outside(v, bound.text), HINTS[name])
            v[outside] = np.nan  # reported: no more rules on the cell
    submit, gang, gmax = values["submit_s"], values["gang"], values["gang_max"]
    gmin = values["gang_min"]
    frac, dur, deadline = values["device_fraction"], values["duration_s"], values["deadline_s"]
    has_dur = out.given("duration_s", _present(arrays, "duration_s"))
    has_work = out.given("work_pflop", _present(arrays, "work_pflop"))
    has_hbm = out.given("hbm_tb", _present(arrays, "hbm_tb"))
    with np.errstate(invalid="ignore"):
        rules: list[tuple[str, np.ndarray, str, str]] = [
            ("gang_max", gmax < gang, "must be ≥ gang", "leave empty for a fixed gang"),
            ("gang_min", gmin > gang, "must be ≤ gang", "leave empty for a fixed gang"),
            (
                "device_fraction",
                (frac < 1) & ((gang != 1) | (gmax > 1)),
                "a fractional job must have gang 1 (and no gang_max)",
                "only single-device jobs can share a device",
            ),
            (
                "duration_s",
                has_dur == has_work,
                "give exactly one of duration_s and work_pflop",
                "duration on `reference`, or PFLOP",
            ),
            (
                "hbm_tb",
                has_hbm & ~has_work,
                "needs work_pflop",
                "HBM traffic (TB) of the whole job, with its work in PFLOP",
            ),
            (
                "deadline_s",
                deadline < submit,
                "is before submit_s",
                "deadlines are absolute: seconds after the trace's start",
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


def _check_scaling(
    arrays: Mapping[str, pa.Array], meta: Mapping[str, str], version: int, out: _Collector
) -> None:
    """The ``scaling`` metadata parses (format version 2), and every ``scaling`` cell names
    one of its models."""
    cells = arrays["scaling"]
    raw = meta.get("scaling", "").strip() if version >= 2 else ""
    models: set[str] = set()
    if raw:
        try:
            models = set(parse_scaling(raw))
        except ValueError as exc:
            out.add(f"bad scaling metadata: {exc}", SCALING_HINT, "metadata scaling")
            return  # the rows cannot be told apart from a model that failed to parse
    if cells.null_count == len(cells):
        return
    known = pa.array(sorted(models), pa.string())
    bad = ~np.asarray(pc.is_in(cells, known).fill_null(True).to_numpy(zero_copy_only=False))
    out.rows(
        np.flatnonzero(bad),
        "scaling",
        lambda r: f"unknown scaling model {cells[r].as_py()!r}",
        "define it in the trace's `scaling` metadata"
        + (f" (it defines {', '.join(sorted(models))})" if models else ""),
    )


def _check_meta(meta: Mapping[str, str], out: _Collector) -> int:
    """Check the metadata; returns the file's format version (the newest when it is bad,
    which is reported)."""
    version = meta.get("format_version")
    if version is None:
        out.add(
            "no format_version: not a suanli trace",
            f"start the file with '# format_version: {FORMAT_VERSION}', or convert a public trace "
            "with 'suanli trace convert SOURCE --from philly|openb|pollux|tiresias'",
            "metadata",
            1,
        )
    elif version.strip() not in {str(v) for v in READ_VERSIONS}:
        readable = " and ".join(str(v) for v in READ_VERSIONS)
        out.add(
            f"format_version {version!r} is not supported (this suanli reads {readable})",
            "convert it with a matching suanli version",
            "metadata",
            1,
        )
    start = meta.get("start", "").strip()
    if start:
        try:
            year = datetime.fromisoformat(start).year
        except ValueError:
            out.add(
                f"start {start!r} is not an ISO date-time",
                "e.g. 2026-03-02T00:00:00+08:00 (the time of submit_s = 0), or leave it out",
                "metadata",
            )
        else:
            if not FIRST_YEAR <= year <= LAST_YEAR:
                out.add(
                    f"start {start!r} is not between {FIRST_YEAR} and {LAST_YEAR}",
                    "give the date-time of submit_s = 0",
                    "metadata",
                )
    for key, value in meta.items():
        if "\n" in value:
            out.add(f"metadata {key!r} spans several lines", "keep values on one line", "metadata")
    if version is not None and version.strip() in {str(v) for v in READ_VERSIONS}:
        return int(version.strip())
    return FORMAT_VERSION
