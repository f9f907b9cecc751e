"""Mooncake (Moonshot AI's Kimi, FAST'25) traces: one JSON object per line,
``{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}``.
The prefix-cache block hashes are not kept.

:func:`read_requests` gives the requests (arrivals in seconds from the first request);
:func:`convert_mooncake` a demand with those requests and their rate curve.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from suanli.errors import InputError, Problem
from suanli.trace.demand_sources.common import (
    DemandConversion,
    read_text,
    request_trace,
    tokens_of,
)
from suanli.trace.demand_sources.requests import convert_requests
from suanli.workload.demand import RequestTrace


def read_requests(path: Path | str) -> RequestTrace:
    """The requests of a Mooncake JSONL trace: arrival (seconds from the first request,
    ascending; the file's ``timestamp`` is in milliseconds), input and output tokens.

    Raises :class:`~suanli.errors.InputError` naming the file, line and field for a line
    that is not a JSON object, a missing field, a timestamp that is not a finite number
    ≥ 0 or a length that is not an integer ≥ 1.
    """
    path = Path(path)
    src = str(path)
    arrival: list[float] = []
    inp: list[int] = []
    out: list[int] = []
    for line, text in enumerate(read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                [Problem(src, "", f"not JSON ({exc.msg})", "fix the line", line=line)]
            ) from None
        if not isinstance(rec, dict):
            raise InputError(
                [Problem(src, "", "a line must be a JSON object", "fix the line", line=line)]
            )
        for key in ("timestamp", "input_length", "output_length"):
            if key not in rec:
                raise InputError(
                    [Problem(src, key, "missing", f"add {key!r} to the object", line=line)]
                )
        ts = rec["timestamp"]
        if (
            isinstance(ts, bool)
            or not isinstance(ts, int | float)
            or not math.isfinite(ts)
            or ts < 0
        ):
            raise InputError(
                [
                    Problem(
                        src,
                        "timestamp",
                        f"{ts!r} is not a finite number of milliseconds ≥ 0",
                        "fix the line",
                        line=line,
                    )
                ]
            )
        arrival.append(float(ts) / 1000.0)
        inp.append(tokens_of(rec["input_length"], src, "input_length", line))
        out.append(tokens_of(rec["output_length"], src, "output_length", line))
    return request_trace(src, arrival, inp, out)


DEFAULT_REGION = "cn"
DEFAULT_TIMEZONE = "Asia/Shanghai"


def default_service(path: Path) -> str:
    """``kimi-conversation`` from ``conversation_trace.jsonl``."""
    return "kimi-" + path.stem.removesuffix("_trace").replace("_", "-").lower()


def convert_mooncake(
    path: Path | str,
    *,
    service: str | None = None,
    region: str | None = None,
    timezone: str | None = None,
    peak: float | None = None,
    shift_hours: float | None = None,
    window_minutes: float | None = None,
) -> DemandConversion:
    """The requests of a Mooncake trace and their rate curve (Kimi's users: labelled
    ``Asia/Shanghai`` unless ``timezone`` says otherwise)."""
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
