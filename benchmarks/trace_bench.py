"""Benchmark: convert and load all of Philly (82,247 jobs); the budget is 5 s.

Run from the repository root::

    .venv/bin/python benchmarks/trace_bench.py [--repeat 5] [--data ../shared/data]

Each step is timed ``--repeat`` times (the median is reported) and compared with a
baseline measured in the same run: reading the raw ``philly.csv`` with Python's
``csv`` module into a list of dicts (no conversion). The steps:

* ``convert``: ``philly.csv`` → checked :class:`~suanli.trace.Trace`;
* ``write csv`` / ``write parquet``: canonical files;
* ``read csv`` / ``read parquet``: file → checked trace (the schema check included);
* ``jobs (philly-hetero)``: trace → 2,000-GPU fleet scenario + ``list[Job]``;
* ``convert + load``: source CSV → Parquet file → trace → jobs, end to end.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suanli.trace import convert_source, read_trace, replay, write_trace

BUDGET_S = 5.0


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeat`` runs, and its last result."""
    times = []
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    """Run the benchmark and print a table; exit 1 when over budget."""
    here = Path(__file__).resolve().parents[1]
    default = os.environ.get("SUANLI_SHARED_DATA") or str(here / ".." / "shared" / "data")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=default, help="the shared data folder")
    args = ap.parse_args()
    src = Path(args.data) / "traces" / "philly-pollux" / "simulator" / "traces" / "philly.csv"
    if not src.is_file():
        print(f"Philly trace not found at {src}; pass --data", file=sys.stderr)
        return 2

    def baseline() -> list[dict[str, str]]:
        with src.open(newline="") as f:
            return list(csv.DictReader(f))

    rows: list[tuple[str, float, str]] = []
    base_s, raw = timed(baseline, args.repeat)
    rows.append(("baseline: csv.DictReader of philly.csv", base_s, f"{len(raw):,} rows"))
    with tempfile.TemporaryDirectory() as tmp:
        pq_path, csv_path = Path(tmp) / "philly.parquet", Path(tmp) / "philly.csv"
        t, conv = timed(lambda: convert_source(src, "philly"), args.repeat)
        rows.append(("convert philly.csv → trace", t, f"{len(conv.trace):,} jobs"))
        t, _ = timed(lambda: write_trace(conv.trace, csv_path), args.repeat)
        rows.append(("write csv", t, f"{csv_path.stat().st_size / 1e6:.1f} MB"))
        t, _ = timed(lambda: write_trace(conv.trace, pq_path), args.repeat)
        rows.append(("write parquet", t, f"{pq_path.stat().st_size / 1e6:.1f} MB"))
        t, _ = timed(lambda: read_trace(csv_path), args.repeat)
        rows.append(("read csv (with schema check)", t, ""))
        t, tr = timed(lambda: read_trace(pq_path), args.repeat)
        rows.append(("read parquet (with schema check)", t, ""))
        t, rep = timed(lambda: replay(tr, "philly-hetero"), args.repeat)
        rows.append(("jobs on philly-hetero (2,000 GPUs)", t, f"{len(rep.jobs):,} jobs"))

        def end_to_end() -> int:
            write_trace(convert_source(src, "philly").trace, pq_path)
            return len(replay(read_trace(pq_path), "philly-hetero").jobs)

        total, n = timed(end_to_end, args.repeat)
        rows.append(("convert + load, end to end", total, f"{n:,} jobs"))

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'median s':>9}  {'× baseline':>10}  note")
    for name, secs, note in rows:
        print(f"{name:<{width}}  {secs:9.3f}  {secs / base_s:10.1f}  {note}")
    verdict = "within" if total <= BUDGET_S else "OVER"
    print(f"\nconvert + load of Philly: {total:.2f} s, {verdict} the {BUDGET_S:.0f} s budget")
    return 0 if total <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
