"""Fuzzing trace files through the command line (issue 19, F4).

A small valid trace, written here so the test needs no shared data, is mutated in
seeded, deterministic ways — byte flips, truncation, dropped and renamed columns, cells
of the wrong type, extreme values (NaN, ±inf, 1e300, -1, 5e-324, 2⁶³, huge strings,
NUL), broken metadata, Parquet columns of foreign types and Parquet bytes flipped or cut
— as CSV and as Parquet. Each mutant goes through ``suanli trace inspect FILE`` and a
short ``suanli simulate --trace FILE``, in process (typer's runner, with the error
handling of :func:`suanli.cli.main`), and must end in exit status 0 or 2 — a user
error naming the file, never a traceback — within 30 s. With the shared data, the
converted Tiresias ``60_job.csv`` is fuzzed too.
"""

from __future__ import annotations

import io
import json
import random
import signal
import time
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from suanli.cli import app, simulate, trace  # noqa: F401  (registers the commands)
from suanli.errors import SuanliError
from suanli.trace import convert_source, read_trace
from suanli.trace.format import BOUNDS
from suanli.trace.io import csv_bytes, parquet_bytes

SEED = 19
N_CSV = 150
N_PARQUET = 90
N_PUBLIC = 30
LIMIT_S = 30.0

PROFILES = {
    "fuzz-infer": {
        "kind": "batch_inference",
        "precisions": ["fp16", "int8"],
        "flops_per_byte": 30,
        "memory_gb": 8,
        "source": "test",
    }
}

#: A valid trace that uses every column: elastic, fractional, work-given, roofline-given,
#: measured, constrained, deadline, flags; a trace-defined profile; its own fleet.
BASE_CSV = (
    "# format_version: 1\n"
    "# fleet: nvidia_h100_sxm5:8:8 nvidia_p100_pcie_16g:8:4\n"
    "# fleet_name: fuzz\n"
    f"# profiles: {json.dumps(PROFILES, sort_keys=True)}\n"
    "# reference: nvidia_p100_pcie_16g\n"
    "# source: hand-written (tests/trace/test_fuzz.py)\n"
    "# start: 2026-03-02T00:00:00+08:00\n"
    "id,tenant,submit_s,gang,gang_max,device_fraction,duration_s,reference,work_pflop,hbm_tb,"
    "kind,profile,accepted_types,accepted_stacks,dataset,deadline_s,deferrable,preemptible,"
    "checkpoint_interval_s,restart_cost_s,priority,measured_pflops,x_team\n"
    "a-1,lab,0,4,,,3600,,,,,dl-training,,,,,,,,,1,,llm\n"
    "b-2,lab,60,2,4,,,,500,,finetune,llm-finetune,nvidia_h100_sxm5,cuda,,86400,,,600,60,0,"
    "nvidia_h100_sxm5=0.35,llm\n"
    "c-3,web,90,1,,0.25,1800,nvidia_h100_sxm5,,,,fuzz-infer,,,,,true,false,,,0,,serve\n"
    "d-4,web,120,2,,,,,300,40,evaluation,llm-evaluation,nvidia_h100_sxm5|nvidia_p100_pcie_16g,"
    ",,,,,,,0,,serve\n"
    "e-5,ops,300.5,8,,,7200,,,,,dl-training,nvidia_p100_pcie_16g,,,,false,true,3600,300,-2,,\n"
    "f-6,ops,301,1,,0.5,600,,,,,dl-training,,,,1000,yes,no,,,0,nvidia_p100_pcie_16g=0.01,x\n"
    "g-7,lab,900,1,,,45,,,,,dl-training,,,,,,,,,0,,\n"
    "h-8,web,1200,16,,,120,,,,,dl-training,,,,,,,,,5,,\n"
)

#: The numeric columns of the base file (version 1: not ``gang_min``).
NUMERIC = tuple(c for c in BOUNDS if c != "gang_min")
EXTREMES: tuple[str, ...] = (
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e300",
    "-1e300",
    "1e19",
    "9223372036854775808",
    "-9223372036854775809",
    "3.2e8",
    "1e7",
    "-1",
    "0",
    "-0",
    "1e-300",
    "5e-324",
    "0.0001",
    "1.5",
    "x" * 100_000,
    "\x00",
    "a\x00b",
    " ",
    "é",
    "0x10",
    "1_000",
    "true",
    "a|b|a",
    "a=1|b",
    "nvidia_h100_sxm5=nan",
    "nvidia_h100_sxm5=1e300",
    "2026-01-01",
    '"',
)
TYPE_VALUES: tuple[str, ...] = ("abc", "true", "1.5", "2", "", "1|2", "k=v", "2026-01-01T00:00")
META_VALUES: dict[str, tuple[str, ...]] = {
    "format_version": ("2", "", "1.0", "one", "1 1"),
    "fleet": (
        "",
        "garbage",
        "nvidia_h100_sxm5",
        "nvidia_h100_sxm5:abc",
        "nvidia_h100_sxm5:0",
        "nvidia_h100_sxm5:-8",
        "nvidia_h100_sxm5:8:3",
        "nvidia_h100_sxm5:99999999999999999999",
        "nvidia_h100_sxm5:8:0",
        "nope:8",
        ":::",
        "nvidia_h100_sxm5:1e3",
    ),
    "start": ("", "yesterday", "2026-13-01", "9999-12-31T23:59:59", "0001-01-01", "2026"),
    "reference": ("", "nope", "nvidia_h100"),
    "profiles": (
        "",
        "{",
        "[]",
        "null",
        '{"x": 1}',
        '{"fuzz-infer": {"kind": "nope"}}',
        json.dumps({"fuzz-infer": {**PROFILES["fuzz-infer"], "flops_per_byte": 1e308}}),
        json.dumps({"fuzz-infer": {**PROFILES["fuzz-infer"], "memory_gb": 1e300}}),
        '{"fuzz-infer": {"kind": "batch_inference", "precisions": ["fp16"], '
        '"flops_per_byte": Infinity, "memory_gb": 8}}',
        '{"fuzz-infer": {"kind": "batch_inference", "precisions": ["fp16"], '
        '"flops_per_byte": NaN, "memory_gb": 8}}',
    ),
    "fleet_name": ("", "x" * 10_000, "a/b", "\x00"),
}


@dataclass(frozen=True)
class Mutant:
    """A mutated trace file: a label, the file suffix and its bytes."""

    name: str
    suffix: str
    data: bytes


# ---- CSV mutants ---------------------------------------------------------------------


def _split(text: str) -> tuple[list[str], list[str], list[list[str]]]:
    """Comment lines, header cells, data rows (the base trace has no quoted cells)."""
    lines = text.splitlines()
    meta = [x for x in lines if x.startswith("#")]
    body = [x for x in lines if not x.startswith("#")]
    return meta, body[0].split(","), [row.split(",") for row in body[1:]]


def _join(meta: list[str], header: list[str], rows: list[list[str]]) -> bytes:
    lines = [*meta, ",".join(header), *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


def _csv_mutant(rng: random.Random, base: str) -> tuple[str, bytes]:
    meta, header, rows = _split(base)
    data = base.encode()
    kind = rng.choice(
        [
            "flip",
            "flip",
            "truncate",
            "drop-column",
            "rename-column",
            "retype-column",
            "extreme-cell",
            "extreme-cell",
            "extreme-cell",
            "extreme-column",
            "meta",
            "meta",
            "rows",
            "whole",
        ]
    )
    j = rng.randrange(len(header))
    if kind.startswith("extreme") and rng.random() < 0.6:
        j = header.index(rng.choice(NUMERIC))  # most extremes go to the numeric columns
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return kind, bytes(out)
    if kind == "truncate":
        return kind, data[: rng.randrange(len(data))]
    if kind == "drop-column":
        return f"{kind}-{header[j]}", _join(
            meta, header[:j] + header[j + 1 :], [r[:j] + r[j + 1 :] for r in rows]
        )
    if kind == "rename-column":
        new = rng.choice(
            [header[j].upper(), header[j] + "_", "", rng.choice(header), "x y", "é", "submit"]
        )
        return f"{kind}-{header[j]}", _join(meta, [*header[:j], new, *header[j + 1 :]], rows)
    if kind == "retype-column":
        value = rng.choice(TYPE_VALUES)
        return f"{kind}-{header[j]}", _join(
            meta, header, [[*r[:j], value, *r[j + 1 :]] for r in rows]
        )
    if kind in ("extreme-cell", "extreme-column"):
        value = _quoted(rng.choice(EXTREMES))
        i = rng.randrange(len(rows))
        new_rows = [
            [*r[:j], value, *r[j + 1 :]] if (kind == "extreme-column" or k == i) else r
            for k, r in enumerate(rows)
        ]
        return f"{kind}-{header[j]}", _join(meta, header, new_rows)
    if kind == "meta":
        key = rng.choice([*META_VALUES, "drop", "binary", "no-colon"])
        if key == "drop":
            k = rng.randrange(len(meta))
            return f"meta-drop-{k}", _join(meta[:k] + meta[k + 1 :], header, rows)
        if key == "binary":
            k = rng.randrange(len(meta))
            bad = meta[k] + bytes([rng.randrange(128, 256)]).decode("latin-1")
            raw = _join(meta, header, rows).replace(meta[k].encode(), bad.encode("latin-1"), 1)
            return f"meta-binary-{k}", raw
        if key == "no-colon":
            return "meta-no-colon", _join([*meta, "# just a comment"], header, rows)
        value = rng.choice(META_VALUES[key])
        kept = [m for m in meta if not m.startswith(f"# {key}:")]
        return f"meta-{key}", _join([*kept, f"# {key}: {value}"], header, rows)
    if kind == "rows":
        op = rng.choice(["dup", "drop-all", "short", "long", "blank", "quote", "crlf"])
        i = rng.randrange(len(rows))
        if op == "dup":
            return f"rows-{op}", _join(meta, header, [*rows, rows[i]])
        if op == "drop-all":
            return f"rows-{op}", _join(meta, header, [])
        if op == "short":
            return f"rows-{op}", _join(meta, header, [*rows[:i], rows[i][:-3], *rows[i + 1 :]])
        if op == "long":
            return f"rows-{op}", _join(meta, header, [*rows[:i], [*rows[i], "x"], *rows[i + 1 :]])
        if op == "blank":
            return f"rows-{op}", _join(meta, header, [*rows[:i], [""], *rows[i:]])
        if op == "quote":
            return f"rows-{op}", _join(
                meta, header, [*rows[:i], ['"' + rows[i][0], *rows[i][1:]], *rows[i + 1 :]]
            )
        return f"rows-{op}", data.replace(b"\n", b"\r\n")
    op = rng.choice(["random", "empty", "meta-only", "header-only", "utf16", "bom", "nul"])
    if op == "random":
        return "whole-random", rng.randbytes(rng.choice([1, 16, 2000, 70_000]))
    if op == "empty":
        return "whole-empty", b""
    if op == "meta-only":
        return "whole-meta-only", "\n".join(meta).encode()
    if op == "header-only":
        return "whole-header-only", _join(meta, header, [])
    if op == "utf16":
        return "whole-utf16", base.encode("utf-16")
    if op == "bom":
        return "whole-bom", b"\xef\xbb\xbf" + data
    return "whole-nul", data.replace(b",", b",\x00", 3)


# ---- Parquet mutants -----------------------------------------------------------------


def _parquet(table: pa.Table, meta: dict[bytes, bytes]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), sink)
    return sink.getvalue()


def _retyped(col: pa.ChunkedArray, rng: random.Random) -> tuple[str, pa.Array]:
    n = len(col)
    choice = rng.choice(
        [
            "string",
            "int32",
            "float32",
            "bool",
            "timestamp",
            "date",
            "list",
            "struct",
            "binary-bad-utf8",
            "large-string",
            "dictionary",
            "null",
            "decimal",
            "all-null",
        ]
    )
    if choice == "string":
        return choice, pa.array([rng.choice(TYPE_VALUES) for _ in range(n)], pa.string())
    if choice == "int32":
        return choice, pa.array([rng.randrange(-5, 5) for _ in range(n)], pa.int32())
    if choice == "float32":
        return choice, pa.array([rng.uniform(-1, 1e4) for _ in range(n)], pa.float32())
    if choice == "bool":
        return choice, pa.array([rng.random() < 0.5 for _ in range(n)], pa.bool_())
    if choice == "timestamp":
        return choice, pa.array(list(range(n)), pa.timestamp("s"))
    if choice == "date":
        return choice, pa.array(list(range(n)), pa.date32())
    if choice == "list":
        return choice, pa.array([[i, i] for i in range(n)], pa.list_(pa.int64()))
    if choice == "struct":
        return choice, pa.array([{"a": i} for i in range(n)])
    if choice == "binary-bad-utf8":
        return choice, pa.array([b"\xff\xfe" if i % 2 else b"ok" for i in range(n)], pa.binary())
    if choice == "large-string":
        return choice, _cast(col, pa.large_string())
    if choice == "dictionary":
        return choice, _cast(col, pa.string()).dictionary_encode()
    if choice == "null":
        return choice, pa.nulls(n)
    if choice == "decimal":
        return choice, pa.array([i for i in range(n)], pa.decimal128(10, 2))
    return choice, pa.nulls(n, col.type)


def _cast(col: pa.ChunkedArray, to: pa.DataType) -> pa.Array:
    """``col`` as one array of type ``to`` (through string when needed)."""
    arr = col.combine_chunks()
    try:
        return arr.cast(to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return arr.cast(pa.string()).cast(to)


FLOAT_EXTREMES = (
    float("nan"),
    float("inf"),
    float("-inf"),
    1e300,
    -1e300,
    -1.0,
    0.0,
    -0.0,
    5e-324,
    1e-300,
    1e19,
    3.2e8,
    0.0001,
)
INT_EXTREMES = (2**63 - 1, -(2**63), 0, -1, 10**12, 2**53 + 1, 1_000_001)
STR_EXTREMES = ("", " ", "x" * 100_000, "\x00", "a\x00b", "é", "a|b|a", "nvidia_h100_sxm5=inf")


def _with_cell(col: pa.ChunkedArray, i: int, value: object) -> pa.Array:
    values = col.to_pylist()
    values[i] = value
    return pa.array(values, col.type)


def _parquet_mutant(
    rng: random.Random, table: pa.Table, meta: dict[bytes, bytes]
) -> tuple[str, bytes]:
    kind = rng.choice(
        [
            "flip",
            "truncate",
            "retype",
            "retype",
            "extreme-cell",
            "extreme-cell",
            "extreme-cell",
            "drop-column",
            "rename-column",
            "meta",
            "meta",
            "empty",
        ]
    )
    names = table.column_names
    j = rng.randrange(len(names))
    name = names[j]
    if kind in ("flip", "truncate"):
        data = bytearray(_parquet(table, meta))
        if kind == "truncate":
            return kind, bytes(data[: rng.randrange(len(data))])
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return kind, bytes(data)
    if kind == "retype":
        label, arr = _retyped(table.column(j), rng)
        return f"retype-{name}-{label}", _parquet(table.set_column(j, name, arr), meta)
    if kind == "extreme-cell":
        col = table.column(j)
        i = rng.randrange(len(col))
        if pa.types.is_floating(col.type):
            value: object = rng.choice(FLOAT_EXTREMES)
        elif pa.types.is_integer(col.type):
            value = rng.choice(INT_EXTREMES)
        elif pa.types.is_boolean(col.type):
            value = None
        else:
            value = rng.choice(STR_EXTREMES)
        return f"extreme-{name}", _parquet(
            table.set_column(j, name, _with_cell(col, i, value)), meta
        )
    if kind == "drop-column":
        return f"drop-{name}", _parquet(table.remove_column(j), meta)
    if kind == "rename-column":
        new = rng.choice([name.upper(), "", rng.choice(names), "x y"])
        return f"rename-{name}", _parquet(
            table.rename_columns([*names[:j], new, *names[j + 1 :]]), meta
        )
    if kind == "meta":
        keys = sorted(meta)
        op = rng.choice(["bad-utf8-value", "bad-utf8-key", "drop", "value"])
        if op == "bad-utf8-value":
            k = rng.choice(keys)
            return f"meta-{op}", _parquet(table, {**meta, k: meta[k] + b"\xff\xfe"})
        if op == "bad-utf8-key":
            return f"meta-{op}", _parquet(table, {**meta, b"suanli.\xff": b"x"})
        if op == "drop":
            k = rng.choice(keys)
            return f"meta-{op}", _parquet(table, {x: v for x, v in meta.items() if x != k})
        key = rng.choice(list(META_VALUES))
        value = rng.choice(META_VALUES[key]).encode()
        return f"meta-{key}", _parquet(table, {**meta, f"suanli.{key}".encode(): value})
    return "empty", _parquet(table.slice(0, 0), meta)


def csv_mutants(base: str, n: int, seed: int, prefix: str = "csv") -> list[Mutant]:
    rng = random.Random(seed)
    return [
        Mutant(f"{prefix}{k}-{label}", ".csv", data)
        for k, (label, data) in enumerate(_csv_mutant(rng, base) for _ in range(n))
    ]


def parquet_mutants(base: str, n: int, seed: int, tmp: Path, prefix: str = "pq") -> list[Mutant]:
    src = tmp / "base.csv"
    src.write_text(base, encoding="utf-8")
    tr = read_trace(src)
    raw = pq.read_table(io.BytesIO(parquet_bytes(tr)))
    meta = dict(raw.schema.metadata or {})
    table = raw.replace_schema_metadata(None)
    rng = random.Random(seed)
    return [
        Mutant(f"{prefix}{k}-{label}", ".parquet", data)
        for k, (label, data) in enumerate(_parquet_mutant(rng, table, meta) for _ in range(n))
    ]


# ---- running ---------------------------------------------------------------------------


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail a command that runs far past the limit instead of hanging the suite."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_command(args: list[str]) -> tuple[int, str, float]:
    """Run ``suanli ARGS`` in process as :func:`suanli.cli.main` would: exit status, what it
    printed (or the traceback of an unexpected exception), seconds taken."""
    t0 = time.perf_counter()
    with _deadline(2 * LIMIT_S):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "120", "NO_COLOR": "1"})
    dt = time.perf_counter() - t0
    exc = result.exception
    if isinstance(exc, SuanliError):
        return 2, str(exc), dt
    if exc is not None and not isinstance(exc, SystemExit):
        return -1, "".join(traceback.format_exception(exc)), dt
    return result.exit_code, result.output, dt


def check(m: Mutant, tmp: Path, codes: list[int] | None = None) -> list[str]:
    """Run ``m`` through inspect and simulate; what went wrong (empty: nothing). The exit
    statuses go to ``codes``. The mutant stays in ``tmp`` under its name, to reproduce."""
    path = tmp / f"{m.name}{m.suffix}"
    path.write_bytes(m.data)
    fleet = "own" if zlib.crc32(m.name.encode()) % 3 else "nvidia_h100_sxm5:8:8"
    out = str(tmp / "out")
    sim = ["simulate", "--trace", str(path), "--fleet", fleet, "-p", "fifo", "--no-plots"]
    commands = [["trace", "inspect", str(path)], [*sim, "--out", out, "--output", "json"]]
    failures = []
    for args in commands:
        code, text, dt = run_command(args)
        if codes is not None:
            codes.append(code)
        what = f"{path}: suanli {' '.join(args[:2])}"
        if code not in (0, 2) or "Traceback" in text:
            failures.append(f"{what}: exit {code}\n{text[-3000:]}")
        elif code == 2 and path.name not in text:
            failures.append(f"{what}: the error does not name the file:\n{text[:2000]}")
        if dt > LIMIT_S:
            failures.append(f"{what}: took {dt:.1f} s")
    return failures


def fuzz(mutants: list[Mutant], tmp: Path) -> None:
    """Every mutant exits 0 or 2, without a traceback, in time; and both outcomes occur
    (a fuzzer whose mutants all fail at once, or all pass, tests little)."""
    codes: list[int] = []
    failures = [f for m in mutants for f in check(m, tmp, codes)]
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures[:20])
    assert codes.count(0) >= len(codes) // 10 and codes.count(2) >= len(codes) // 3, codes


def test_base_trace_runs(tmp_path: Path) -> None:
    path = tmp_path / "base.csv"
    path.write_text(BASE_CSV)
    assert len(read_trace(path)) == 8
    for m in (
        Mutant("base", ".csv", BASE_CSV.encode()),
        Mutant("base", ".parquet", parquet_bytes(read_trace(path))),
    ):
        codes: list[int] = []
        assert check(m, tmp_path, codes) == [] and codes == [0, 0]


def test_mutants_exit_0_or_2(tmp_path: Path) -> None:
    mutants = csv_mutants(BASE_CSV, N_CSV, SEED)
    mutants += parquet_mutants(BASE_CSV, N_PARQUET, SEED, tmp_path)
    assert len(mutants) >= 200
    assert len({m.data for m in mutants}) >= 190  # mostly distinct
    fuzz(mutants, tmp_path)


@pytest.mark.shared_data
def test_mutants_of_the_public_tiresias_trace(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "traces" / "tiresias" / "simulator" / "60_job.csv"
    base = csv_bytes(convert_source(src, "tiresias").trace).decode()
    assert base.count("\n") > 60
    mutants = csv_mutants(base, N_PUBLIC, SEED + 1, "tiresias-csv")
    mutants += parquet_mutants(base, N_PUBLIC // 2, SEED + 1, tmp_path, "tiresias-pq")
    fuzz(mutants, tmp_path)
