"""ServeGen (Alibaba Cloud Model Studio / Bailian, arXiv 2505.09999): one folder per
model, holding per client a ``chunk-<client>-trace.csv`` (rows ``window_start_s,
rate_req_per_s, cv, pattern, shape, scale`` in 10-minute windows; an empty pattern means
no requests) and, for the busiest clients, a ``chunk-<client>-dataset.json`` mapping a
window start to length distributions, each a Python dict literal ``{tokens:
probability}`` in a string.

:func:`convert_servegen` sums a model's clients into one :class:`RateCurve`:

* **rate** — the sum of the clients' rates, window by window;
* **cv** — for a superposition of independent renewal streams the variance of the
  merged count over a long interval is the sum of the streams' (``λᵢ t cᵢ²``), so the
  merged stream's index of dispersion is the rate-weighted mean of the clients' squared
  CVs: ``c² = Σ λᵢ cᵢ² / Σ λᵢ`` (Whitt's asymptotic method). This is exact for the count
  dispersion that sizes headroom and an upper estimate of the merged inter-arrival CV,
  which tends to 1 as many comparable streams merge. A window without requests gets
  cv 1;
* **lengths** — the dataset distributions of the clients that have them, each weighted
  by that client's requests in the span it covers (from its window start to the next
  one), mixed into one distribution per curve. Token counts below 1 count as 1;
* **timezone** — ServeGen's window 0 starts at local midnight (upstream's
  ``span(72000, 75600)`` is 20:00–21:00) of a Chinese service: ``Asia/Shanghai``.

Dict literals are parsed with :func:`ast.literal_eval`, never evaluated.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from suanli.errors import InputError, Problem
from suanli.trace.demand_sources.common import DemandConversion, read_text
from suanli.trace.demand_sources.options import shape_curve
from suanli.workload.demand import Demand, LengthDist, RateCurve

TIMEZONE = "Asia/Shanghai"
"""The local time of ServeGen's windows (window 0 starts at midnight)."""

DEFAULT_REGION = "cn"

_TRACE = re.compile(r"^chunk-(\d+)-trace\.csv$")


@dataclass(frozen=True, slots=True)
class _Client:
    """One client's windows: starts (s), rates (req/s) and CVs."""

    id: int
    start_s: npt.NDArray[np.int64]
    rate: npt.NDArray[np.float64]
    cv: npt.NDArray[np.float64]


def _bad(path: Path, line: int, field: str, what: str) -> InputError:
    return InputError(
        [Problem(str(path), field, what, "fix the row or restore the file from upstream", line)]
    )


def _number(text: str, path: Path, line: int, field: str) -> float:
    try:
        v = float(text) if text.strip() else 0.0
    except ValueError:
        raise _bad(path, line, field, f"{text!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise _bad(path, line, field, f"{text!r} is not a finite number ≥ 0")
    return v


def _read_client(path: Path, client: int) -> _Client:
    starts: list[int] = []
    rates: list[float] = []
    cvs: list[float] = []
    for line, row in enumerate(read_text(path).splitlines(), start=1):
        if not row.strip():
            continue
        cols = row.split(",")
        if len(cols) != 6:
            raise _bad(path, line, f"row {line}", f"has {len(cols)} columns, expected 6")
        try:
            start = int(cols[0])
        except ValueError:
            raise _bad(path, line, "window_start_s", f"{cols[0]!r} is not an integer") from None
        rate = _number(cols[1], path, line, "rate_req_per_s")
        cv = _number(cols[2], path, line, "cv")
        if not cols[3].strip():
            rate, cv = 0.0, 0.0  # no requests in this window
        starts.append(start)
        rates.append(rate)
        cvs.append(cv)
    if not starts:
        raise InputError([Problem(str(path), "", "no windows", "give a non-empty trace file")])
    s = np.asarray(starts, dtype=np.int64)
    if np.any(np.diff(s) <= 0):
        i = int(np.flatnonzero(np.diff(s) <= 0)[0]) + 2
        raise _bad(path, i, "window_start_s", "window starts must be strictly ascending")
    return _Client(client, s, np.asarray(rates), np.asarray(cvs))


def _window_s(clients: list[_Client], folder: Path) -> tuple[npt.NDArray[np.int64], float]:
    """The common window grid of the clients and its window length."""
    ref = clients[0]
    for c in clients[1:]:
        if len(c.start_s) != len(ref.start_s) or not np.array_equal(c.start_s, ref.start_s):
            raise InputError(
                [
                    Problem(
                        str(folder / f"chunk-{c.id}-trace.csv"),
                        "window_start_s",
                        f"its windows differ from chunk-{ref.id}-trace.csv's",
                        "every client of a model must cover the same windows",
                    )
                ]
            )
    steps = np.diff(ref.start_s)
    if len(steps) and np.any(steps != steps[0]):
        raise InputError(
            [
                Problem(
                    str(folder / f"chunk-{ref.id}-trace.csv"),
                    "window_start_s",
                    "windows are not evenly spaced",
                    "restore the file from upstream",
                )
            ]
        )
    return ref.start_s, float(steps[0]) if len(steps) else 600.0


def _literal(text: object, path: Path, window: str, field: str) -> dict[int, float]:
    """A ``{tokens: probability}`` dict literal, parsed safely."""
    where = f"{window}.{field}"
    if not isinstance(text, str):
        raise InputError(
            [Problem(str(path), where, "expected a string holding a dict literal", "fix it")]
        )
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise InputError(
            [
                Problem(
                    str(path),
                    where,
                    "not a dict literal of {tokens: probability} (only literals are read)",
                    "restore the file from upstream",
                )
            ]
        ) from None
    if not isinstance(value, dict):
        raise InputError([Problem(str(path), where, "not a dict literal", "fix it")])
    out: dict[int, float] = {}
    for k, p in value.items():
        ok_k = isinstance(k, int | float) and not isinstance(k, bool) and math.isfinite(k)
        ok_p = isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p)
        if not (ok_k and ok_p) or p < 0 or k < 0 or float(k) != int(k):
            raise InputError(
                [
                    Problem(
                        str(path),
                        where,
                        f"entry {k!r}: {p!r} is not a whole token count ≥ 0 with a probability ≥ 0",
                        "fix it",
                    )
                ]
            )
        t = max(1, int(k))
        out[t] = out.get(t, 0.0) + float(p)
    return out


def _mix_lengths(
    folder: Path, clients: Mapping[int, _Client], starts: npt.NDArray[np.int64], window_s: float
) -> tuple[LengthDist, LengthDist, list[str]]:
    """The request-weighted mix of the clients' length distributions."""
    mix: dict[str, dict[int, float]] = {"input_tokens": {}, "output_tokens": {}}
    used: list[str] = []
    end = int(starts[-1] + window_s)
    for path in sorted(folder.glob("chunk-*-dataset.json")):
        m = re.match(r"^chunk-(\d+)-dataset\.json$", path.name)
        if m is None or int(m.group(1)) not in clients:
            continue
        client = clients[int(m.group(1))]
        try:
            doc = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise InputError(
                [Problem(str(path), "", f"not JSON: {exc.msg}", "restore it", exc.lineno)]
            ) from None
        if not isinstance(doc, dict):
            raise InputError([Problem(str(path), "", "expected a JSON object", "restore it")])
        try:
            keys = sorted((int(k), k) for k in doc)
        except ValueError:
            raise InputError(
                [Problem(str(path), "", "keys must be window starts (seconds)", "restore it")]
            ) from None
        requests = client.rate * window_s
        for i, (start, key) in enumerate(keys):
            stop = keys[i + 1][0] if i + 1 < len(keys) else end
            weight = float(requests[(client.start_s >= start) & (client.start_s < stop)].sum())
            entry = doc[key]
            if not isinstance(entry, dict):
                raise InputError([Problem(str(path), key, "expected an object", "restore it")])
            for field, acc in mix.items():
                if field not in entry:
                    raise InputError(
                        [
                            Problem(
                                str(path),
                                f"{key}.{field}",
                                "missing (multimodal datasets give text and image tokens "
                                "apart, without their joint distribution)",
                                "convert a language or reasoning model's folder",
                            )
                        ]
                    )
                dist = _literal(entry[field], path, key, field)
                total = math.fsum(dist.values())
                if not dist or total <= 0 or weight <= 0:
                    continue
                for t, p in dist.items():
                    acc[t] = acc.get(t, 0.0) + weight * p / total
        used.append(path.name)
    if not used or not mix["input_tokens"] or not mix["output_tokens"]:
        raise InputError(
            [
                Problem(
                    str(folder),
                    "",
                    "no chunk-<client>-dataset.json with length distributions for "
                    "windows that have requests",
                    "give the model's folder with its dataset files",
                )
            ]
        )
    return _dist(mix["input_tokens"]), _dist(mix["output_tokens"]), used


def _dist(acc: Mapping[int, float]) -> LengthDist:
    toks = sorted(t for t, w in acc.items() if w > 0)
    w = np.asarray([acc[t] for t in toks])
    p = w / w.sum()
    return LengthDist(tuple(toks), tuple(float(x) for x in p))


def read_curve(
    folder: Path | str, service: str | None = None, region: str = DEFAULT_REGION
) -> RateCurve:
    """One model's clients summed into one curve (see the module docstring); ``service``
    defaults to the folder's name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            [
                Problem(
                    str(folder),
                    "",
                    "not a folder",
                    "give a ServeGen model folder such as servegen/language/m-large",
                )
            ]
        )
    paths = sorted(
        ((int(m.group(1)), p) for p in folder.iterdir() if (m := _TRACE.match(p.name))),
    )
    if not paths:
        raise InputError(
            [
                Problem(
                    str(folder),
                    "",
                    "no chunk-<client>-trace.csv files",
                    "give a ServeGen model folder such as servegen/language/m-large",
                )
            ]
        )
    clients = [_read_client(p, cid) for cid, p in paths]
    starts, window_s = _window_s(clients, folder)
    rates = np.stack([c.rate for c in clients])
    scv = np.stack([np.square(c.cv) for c in clients])
    total = rates.sum(axis=0)
    merged = np.divide((rates * scv).sum(axis=0), total, out=np.ones_like(total), where=total > 0)
    inp, out, _ = _mix_lengths(folder, {c.id: c for c in clients}, starts, window_s)
    return RateCurve(
        service=service or folder.name,
        region=region,
        window_s=window_s,
        rate_rps=tuple(float(r) for r in total),
        cv=tuple(float(math.sqrt(v)) for v in merged),
        input_tokens=inp,
        output_tokens=out,
        timezone=TIMEZONE,
        source=f"ServeGen {folder.parent.name}/{folder.name}: {len(clients)} clients summed",
    )


def convert_servegen(
    path: Path | str,
    *,
    service: str | None = None,
    region: str | None = None,
    peak: float | None = None,
    timezone: str | None = None,
    shift_hours: float | None = None,
    window_minutes: float | None = None,
) -> DemandConversion:
    """The demand of a ServeGen model folder: one curve, no requests."""
    folder = Path(path)
    curve = read_curve(folder, service, region or DEFAULT_REGION)
    curve, notes = shape_curve(
        curve,
        str(folder),
        peak=peak,
        timezone=timezone,
        shift_hours=shift_hours,
        window_minutes=window_minutes,
    )
    n_clients = curve.source.split(": ")[-1]
    return DemandConversion(
        Demand(curves=(curve,)),
        (
            f"{n_clients}; cv = sqrt of the rate-weighted mean of the clients' squared CVs",
            "lengths: the dataset clients' distributions mixed by their requests",
            *notes,
        ),
    )
