"""suanli's trace format, versions 1 and 2: the columns, their types and the file metadata.

A trace is a table with one row per job (``docs/trace-format.md`` is the
reference). In memory it is a :class:`Trace`: a ``pyarrow.Table`` whose columns
are exactly :data:`COLUMNS` in that order (missing optional values are nulls),
followed by any user columns whose names start with ``x_``; plus a mapping of
file-level metadata (format version, source, reference accelerator, the trace's
own fleet, profiles and scaling models it defines).

Version 2 adds two optional columns, ``gang_min`` (the fewest devices an elastic job may
run on) and ``scaling`` (an elastic job's measured speed-up, named from the ``scaling``
metadata). A file is written in the lowest version that holds it: version 1, without
them, unless some row gives one; so traces that do not use them stay readable by a
suanli that reads only version 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from suanli.model.job import (
    DEFAULT_CHECKPOINT_INTERVAL_S,
    DEFAULT_PREEMPTIBLE,
    DEFAULT_RESTART_COST_S,
)

#: The newest version this code reads and writes.
FORMAT_VERSION = 2

#: Every version this code reads (a file is written in the lowest that holds it).
READ_VERSIONS: tuple[int, ...] = (1, 2)

#: Prefix of user columns that are carried along but not interpreted.
EXTRA_PREFIX = "x_"

#: Separator of list cells (``accepted_types``) and of map entries (``measured_pflops``).
LIST_SEP = "|"

ColumnKind = Literal["str", "float", "int", "bool", "list", "map"]

ARROW_TYPES: Mapping[ColumnKind, pa.DataType] = {
    "str": pa.string(),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "list": pa.string(),
    "map": pa.string(),
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the format: name, kind, whether a value is required, its meaning, and
    the format version that introduced it."""

    name: str
    kind: ColumnKind
    required: bool
    doc: str
    since: int = 1

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the column is stored as."""
        return ARROW_TYPES[self.kind]


COLUMNS: tuple[Column, ...] = (
    Column("id", "str", True, "job id, unique in the trace"),
    Column("tenant", "str", True, "tenant id (lower-case letters, digits, '-', '_')"),
    Column("submit_s", "float", True, "submit time, seconds after the trace's start"),
    Column("gang", "int", True, "devices the job asks for (what a fixed-size scheduler gives)"),
    Column("gang_max", "int", False, "largest gang of an elastic job (empty: gang)"),
    Column(
        "gang_min",
        "int",
        False,
        "smallest gang of an elastic job, ≤ gang (empty: gang)",
        since=2,
    ),
    Column(
        "scaling",
        "str",
        False,
        "scaling model id (metadata `scaling`): the job's measured speed-up per device count",
        since=2,
    ),
    Column("device_fraction", "float", False, "share of one device, (0, 1] (empty: 1)"),
    Column("duration_s", "float", False, "run time on `reference` with `gang` devices"),
    Column("reference", "str", False, "accelerator id `duration_s` was measured on"),
    Column("work_pflop", "float", False, "total useful work in PFLOP (instead of duration_s)"),
    Column("hbm_tb", "float", False, "HBM traffic of the whole job in TB (with work_pflop)"),
    Column("kind", "str", False, "pretrain, finetune, batch_inference, evaluation, ..."),
    Column("profile", "str", True, "workload profile id (scenario or trace metadata)"),
    Column("accepted_types", "list", False, "accelerator ids in order of preference"),
    Column("accepted_stacks", "list", False, "software stacks accepted (cuda|cann|...)"),
    Column("dataset", "str", False, "data set id"),
    Column("deadline_s", "float", False, "deadline, seconds after the trace's start"),
    Column("deferrable", "bool", False, "may wait for cheap or green hours (empty: false)"),
    Column(
        "preemptible", "bool", False, f"may be preempted (empty: {DEFAULT_PREEMPTIBLE})".lower()
    ),
    Column(
        "checkpoint_interval_s",
        "float",
        False,
        f"seconds between checkpoints ({DEFAULT_CHECKPOINT_INTERVAL_S:g})",
    ),
    Column(
        "restart_cost_s", "float", False, f"seconds lost on a restart ({DEFAULT_RESTART_COST_S:g})"
    ),
    Column("priority", "int", False, "higher runs first (empty: 0)"),
    Column("measured_pflops", "map", False, "measured PFLOP/s per device: type=value|..."),
)

#: The longest span a trace may cover: submit times, deadlines and durations are at most
#: ten years (of 365 days) in seconds.
MAX_TIME_S = 10 * 365 * 86400

#: The largest gang (devices of one job): more than any fleet holds.
MAX_GANG = 1_000_000

#: The largest ``work_pflop`` and ``hbm_tb`` of one job (10³⁰ FLOP; 10²⁷ bytes).
MAX_WORK = 1e15

#: The largest measured speed of one device, PFLOP/s (``measured_pflops``).
MAX_PFLOPS = 1e4

#: The largest ``priority`` either way.
MAX_PRIORITY = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Bound:
    """The range of a numeric column, ``low`` to ``high`` (``low`` itself excluded when
    ``low_open``), and how the messages say it."""

    low: float
    high: float
    text: str
    low_open: bool = False

    def holds(self, values: Any) -> Any:
        """Elementwise: which of ``values`` (a number or a numpy array) lie within."""
        above = values > self.low if self.low_open else values >= self.low
        return above & (values <= self.high)


_TEN_YEARS = f"≤ {MAX_TIME_S:,} (10 years)"

#: The documented range of every numeric column (docs/trace-format.md); ``gang_max`` and
#: ``deadline_s`` must also be at least ``gang`` and ``submit_s``.
BOUNDS: Mapping[str, Bound] = {
    "submit_s": Bound(0, MAX_TIME_S, f"a finite number ≥ 0 and {_TEN_YEARS}"),
    "gang": Bound(1, MAX_GANG, f"≥ 1 and ≤ {MAX_GANG:,}"),
    "gang_max": Bound(1, MAX_GANG, f"≥ 1 and ≤ {MAX_GANG:,}"),
    "gang_min": Bound(1, MAX_GANG, f"≥ 1 and ≤ {MAX_GANG:,}"),
    "device_fraction": Bound(0, 1, "in (0, 1]", low_open=True),
    "duration_s": Bound(0, MAX_TIME_S, f"a finite number > 0 and {_TEN_YEARS}", low_open=True),
    "work_pflop": Bound(0, MAX_WORK, f"a finite number > 0 and ≤ {MAX_WORK:g}", low_open=True),
    "hbm_tb": Bound(0, MAX_WORK, f"a finite number > 0 and ≤ {MAX_WORK:g}", low_open=True),
    "deadline_s": Bound(0, MAX_TIME_S, f"a finite number ≥ 0 and {_TEN_YEARS}"),
    "checkpoint_interval_s": Bound(0, MAX_TIME_S, f"≥ 0 and {_TEN_YEARS} (0: on every stop)"),
    "restart_cost_s": Bound(0, MAX_TIME_S, f"≥ 0 and {_TEN_YEARS}"),
    "priority": Bound(-MAX_PRIORITY, MAX_PRIORITY, f"≥ {-MAX_PRIORITY:,} and ≤ {MAX_PRIORITY:,}"),
}

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BY_NAME: Mapping[str, Column] = {c.name: c for c in COLUMNS}
REQUIRED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)

#: Metadata keys this version knows; others are kept and ignored.
META_KEYS: Mapping[str, str] = {
    "format_version": "the format version (1 or 2)",
    "source": "what the trace was converted from",
    "converter": "the converter and its options",
    "start": "ISO date-time of submit_s = 0 (empty: unknown)",
    "reference": "default reference accelerator for rows that leave `reference` empty",
    "fleet": "the trace's own cluster: pools `accelerator:count:devices_per_node`, space-separated",
    "fleet_name": "a name for that cluster",
    "profiles": "workload profiles the trace defines, as JSON",
    "scaling": "scaling models of elastic jobs the trace defines, as JSON (version 2)",
    "notes": "assumptions made in the conversion",
}


def columns_of(version: int = FORMAT_VERSION) -> tuple[Column, ...]:
    """The format columns of ``version`` (those introduced in it or before)."""
    return tuple(c for c in COLUMNS if c.since <= version)


def canonical_schema(extras: tuple[str, ...] = (), version: int = FORMAT_VERSION) -> pa.Schema:
    """The Arrow schema of a checked trace of ``version`` with user columns ``extras``
    (strings)."""
    fields = [pa.field(c.name, c.arrow_type) for c in columns_of(version)]
    fields += [pa.field(x, pa.string()) for x in extras]
    return pa.schema(fields)


@dataclass(frozen=True, eq=False)
class Trace:
    """A checked trace: its table in the canonical schema, metadata, and a source label."""

    table: pa.Table
    meta: Mapping[str, str] = field(default_factory=dict)
    source: str = "<memory>"

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @property
    def extras(self) -> tuple[str, ...]:
        """The user (``x_``) columns."""
        return tuple(n for n in self.table.column_names if n.startswith(EXTRA_PREFIX))

    @property
    def version(self) -> int:
        """The lowest format version that holds this trace: 2 when a row names a scaling
        model or gives a ``gang_min``, else 1."""
        names = self.table.column_names
        for name in ("scaling", "gang_min"):
            if name in names and self.table.column(name).null_count < len(self):
                return 2
        return 1

    def column(self, name: str) -> list[Any]:
        """A column as a Python list (nulls as ``None``)."""
        values: list[Any] = self.table.column(name).to_pylist()
        return values


def parse_list(cell: str | None) -> tuple[str, ...]:
    """``"a|b|a"`` → ``("a", "b")``: split, strip, drop empties and repeats, keep order."""
    if not cell:
        return ()
    out: list[str] = []
    for part in cell.split(LIST_SEP):
        p = part.strip()
        if p and p not in out:
            out.append(p)
    return tuple(out)


def parse_map(cell: str | None) -> dict[str, float]:
    """``"a=0.1|b=0.2"`` → ``{"a": 0.1, "b": 0.2}`` (raises ValueError on a bad entry)."""
    out: dict[str, float] = {}
    for part in parse_list(cell):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"entry {part!r} is not 'accelerator=value'")
        number = float(value)
        if not 0 < number <= MAX_PFLOPS:
            raise ValueError(
                f"value of {key.strip()!r} must be a positive number of PFLOP/s, at most "
                f"{MAX_PFLOPS:,.0f}, got {value.strip()!r}"
            )
        out[key.strip()] = number
    return out


def format_map(values: Mapping[str, float]) -> str:
    """Inverse of :func:`parse_map` (keys sorted, shortest round-trip floats)."""
    return LIST_SEP.join(f"{k}={float(v)!r}" for k, v in sorted(values.items()))
