"""Hourly series from CSV files (electricity prices, carbon intensity).

Rows are ``(timestamp, value)``; sub-hourly rows are averaged within each hour.
Horizon hour *h* takes the mean of the rows with
``start + h·3600 ≤ t < start + (h+1)·3600``. Every hour must have at least one
value: a gap is an error that names the missing hours.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from suanli.config.schema import SeriesFile
from suanli.errors import Problem


def read_hourly_series(
    spec: SeriesFile,
    base_dir: Path,
    start: datetime,
    hours: int,
    source: str,
    field: str,
) -> tuple[tuple[float, ...] | None, list[Problem]]:
    """Read ``spec`` for the horizon; return the values, or ``None`` and the problems."""
    path = (base_dir / spec.path).resolve()
    problems: list[Problem] = []

    def problem(message: str, hint: str) -> tuple[None, list[Problem]]:
        problems.append(Problem(source, field, message, hint))
        return None, problems

    try:
        tz = ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return problem(
            f"unknown timezone {spec.timezone!r}",
            "use an IANA name such as 'Asia/Shanghai' or 'UTC'",
        )
    if not path.is_file():
        return problem(
            f"series file {str(path)!r} does not exist",
            "give a path relative to the scenario file, and check that the file is there",
        )
    sums = [0.0] * hours
    counts = [0] * hours
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            for col in (spec.time_column, spec.value_column):
                if col not in header:
                    return problem(
                        f"{path.name} has no column {col!r} (columns: {', '.join(header)})",
                        "set time_column/value_column to columns of the file",
                    )
            for row_no, row in enumerate(reader, start=2):
                t = _parse_time(row[spec.time_column], tz)
                if t is None:
                    return problem(
                        f"{path.name} line {row_no}: {row[spec.time_column]!r} is not a timestamp",
                        "write ISO 8601 timestamps such as 2026-03-02 00:00:00",
                    )
                try:
                    value = float(row[spec.value_column]) * spec.scale
                except (TypeError, ValueError):
                    value = math.nan
                if not math.isfinite(value):
                    return problem(
                        f"{path.name} line {row_no}: value {row[spec.value_column]!r} "
                        "is not a number",
                        "fill the gap in the file or remove the row",
                    )
                h = math.floor((t - start).total_seconds() / 3600.0)
                if 0 <= h < hours:
                    sums[h] += value
                    counts[h] += 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return problem(f"cannot read {path}: {exc}", "check that it is a UTF-8 CSV file")
    missing = [h for h in range(hours) if counts[h] == 0]
    if missing:
        shown = ", ".join((start + timedelta(hours=h)).isoformat() for h in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return problem(
            f"{path.name} has no value for {len(missing)} of the {hours} horizon hours "
            f"(first missing: {shown}{more})",
            "give a value for every hour from horizon.start, or shorten horizon.hours",
        )
    return tuple(s / c for s, c in zip(sums, counts, strict=True)), problems


def _parse_time(text: str, tz: ZoneInfo) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return t.replace(tzinfo=tz) if t.tzinfo is None else t
