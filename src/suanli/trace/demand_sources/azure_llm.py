"""Azure LLM inference trace 2023 (the Splitwise paper's trace): one CSV row per request,
``TIMESTAMP,ContextTokens,GeneratedTokens`` with timestamps such as
``2023-11-16 18:17:03.9799600``. One hour each of a code and a conversation service.

:func:`read_requests` gives the requests (arrivals in seconds from the first request);
:func:`convert_azure_llm` a demand with those requests and their rate curve.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from suanli.errors import InputError, Problem
from suanli.trace.demand_sources.common import (
    DemandConversion,
    read_text,
    request_trace,
    tokens_of,
)
from suanli.trace.demand_sources.requests import convert_requests
from suanli.workload.demand import RequestTrace

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def _seconds(stamp: str, source: str, line: int) -> float:
    """Seconds since the epoch of a timestamp (the trace's clock; no zone is given)."""
    ns: np.datetime64 | None
    try:
        ns = np.datetime64(stamp.strip().replace(" ", "T"), "ns")
    except ValueError:
        ns = None
    if ns is None or np.isnat(ns):
        raise InputError(
            [
                Problem(
                    source,
                    "TIMESTAMP",
                    f"{stamp!r} is not a timestamp",
                    "write it as YYYY-MM-DD HH:MM:SS[.fraction]",
                    line=line,
                )
            ]
        )
    return float(ns.astype(np.int64)) / 1e9


def read_requests(path: Path | str) -> RequestTrace:
    """The requests of an Azure LLM inference CSV: arrival (seconds from the first
    request, ascending), input (context) and output (generated) tokens.

    Raises :class:`~suanli.errors.InputError` naming the file, line and column for a
    missing header, a malformed timestamp or a token count that is not an integer ≥ 1.
    """
    path = Path(path)
    src = str(path)
    reader = csv.reader(io.StringIO(read_text(path)))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise InputError(
            [
                Problem(
                    src,
                    "header",
                    f"expected columns {','.join(COLUMNS)}, found {','.join(header or [])!r}",
                    "give an Azure LLM inference trace CSV (AzureLLMInferenceTrace_*.csv)",
                    line=1,
                )
            ]
        )
    arrival: list[float] = []
    inp: list[int] = []
    out: list[int] = []
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(COLUMNS):
            raise InputError(
                [
                    Problem(
                        src,
                        f"row {line - 1}",
                        f"has {len(row)} columns, expected {len(COLUMNS)}",
                        "fix the row",
                        line=line,
                    )
                ]
            )
        arrival.append(_seconds(row[0], src, line))
        inp.append(tokens_of(row[1], src, "ContextTokens", line))
        out.append(tokens_of(row[2], src, "GeneratedTokens", line))
    return request_trace(src, arrival, inp, out)


DEFAULT_REGION = "us"
DEFAULT_TIMEZONE = "UTC"


def default_service(path: Path) -> str:
    """``azure-code`` / ``azure-conv`` from ``AzureLLMInferenceTrace_code.csv`` / ``_conv``."""
    stem = path.stem.rsplit("_", 1)[-1].lower() if "_" in path.stem else path.stem.lower()
    return f"azure-{stem}"


def convert_azure_llm(
    path: Path | str,
    *,
    service: str | None = None,
    region: str | None = None,
    timezone: str | None = None,
    peak: float | None = None,
    shift_hours: float | None = None,
    window_minutes: float | None = None,
) -> DemandConversion:
    """The requests of an Azure LLM trace and their rate curve. The timestamps carry no
    zone; the curve is labelled ``UTC`` unless ``timezone`` says otherwise."""
    path = Path(path)
    return convert_requests(
        path,
        read_requests,
        service=service or default_service(path),
        region=region or DEFAULT_REGION,
        timezone=timezone or DEFAULT_TIMEZONE,
        peak=peak,
        shift_hours=shift_hours,
        window_minutes=window_minutes,
    )
