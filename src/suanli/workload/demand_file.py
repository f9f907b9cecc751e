"""The demand file: a versioned JSON document holding the demand of online inference
services — rate curves and request traces, each for one (service, user region).
See ``docs/demand-format.md`` for every field and its unit.

::

    {
      "format": "suanli-demand",
      "version": 1,
      "curves": [
        {"service": "chat", "region": "cn-east", "timezone": "Asia/Shanghai",
         "window_s": 600.0, "rate_rps": [...], "cv": [...],
         "input_tokens": {"tokens": [...], "probability": [...]},
         "output_tokens": {"tokens": [...], "probability": [...]},
         "source": "..."}
      ],
      "requests": [
        {"service": "chat", "region": "cn-east", "arrival_s": [...],
         "input_tokens": [...], "output_tokens": [...], "source": "..."}
      ]
    }

:func:`read_demand` checks everything (types, ranges, parallel lengths, probabilities
summing to 1, ascending arrivals, IANA time zones, one curve and one trace per pair, a
size bound) and reports each problem as an :class:`~suanli.errors.InputError` naming the
file and the field's JSON path (``curves[0].rate_rps[5]``). :func:`write_demand` writes
the same bytes for the same demand (sorted keys, shortest round-trip floats) and writes
atomically: a temporary file in the same folder, renamed over the target.

Version policy: ``version`` is an integer, bumped on any change a version-1 reader
could misread. A reader accepts the versions in :data:`SUPPORTED_VERSIONS` and refuses
others by name; the writer always writes :data:`VERSION`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from suanli.errors import InputError, Problem
from suanli.workload.demand import Demand, LengthDist, RateCurve, RequestTrace, ServiceTrace

FORMAT = "suanli-demand"
"""The value of the ``format`` field."""

VERSION = 1
"""The version :func:`write_demand` writes."""

SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
"""The versions :func:`read_demand` reads."""

MAX_BYTES = 256 * 1024 * 1024
"""Largest demand file read (256 MiB)."""

PROB_TOLERANCE = 1e-6
"""How far a length distribution's probabilities may sum from 1."""

MAX_PROBLEMS = 20
"""At most this many problems are reported for one file."""

_HINT = "see docs/demand-format.md"

Name = Annotated[str, Field(min_length=1, max_length=200)]
Tokens = Annotated[int, Field(ge=1)]
NonNeg = Annotated[float, Field(ge=0.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not an IANA time zone (such as 'Asia/Shanghai' or 'UTC')"
        ) from None
    return name


def _same_length(values: Sequence[object], info: ValidationInfo, other: str) -> None:
    ref = info.data.get(other)
    if ref is not None and len(values) != len(ref):
        raise ValueError(f"has {len(values)} values but {other} has {len(ref)}; make them equal")


class LengthModel(_Model):
    """A length histogram: ``tokens`` (integers ≥ 1, strictly ascending) with their
    ``probability`` (≥ 0, summing to 1)."""

    tokens: list[Tokens] = Field(min_length=1)
    probability: list[NonNeg] = Field(min_length=1)

    @field_validator("tokens")
    @classmethod
    def _ascending(cls, v: list[int]) -> list[int]:
        for i in range(1, len(v)):
            if v[i] <= v[i - 1]:
                raise ValueError(
                    f"tokens must be strictly ascending: [{i}] = {v[i]} after {v[i - 1]}"
                )
        return v

    @field_validator("probability")
    @classmethod
    def _sums_to_one(cls, v: list[float], info: ValidationInfo) -> list[float]:
        _same_length(v, info, "tokens")
        total = math.fsum(v)
        if abs(total - 1.0) > PROB_TOLERANCE:
            raise ValueError(f"probabilities sum to {total!r}, not 1 (±{PROB_TOLERANCE})")
        return v


class CurveModel(_Model):
    """One rate curve (see :class:`~suanli.workload.demand.RateCurve`)."""

    service: Name
    region: Name
    timezone: str = "UTC"
    source: str = ""
    window_s: float = Field(gt=0.0)
    rate_rps: list[NonNeg] = Field(min_length=1)
    cv: list[NonNeg] = Field(min_length=1)
    input_tokens: LengthModel
    output_tokens: LengthModel

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _check_timezone(v)

    @field_validator("cv")
    @classmethod
    def _cv_length(cls, v: list[float], info: ValidationInfo) -> list[float]:
        _same_length(v, info, "rate_rps")
        return v


class RequestsModel(_Model):
    """One request trace (see :class:`~suanli.workload.demand.RequestTrace`)."""

    service: Name
    region: Name
    source: str = ""
    arrival_s: list[float] = Field(min_length=1)
    input_tokens: list[Tokens]
    output_tokens: list[Tokens]

    @field_validator("arrival_s")
    @classmethod
    def _ascending(cls, v: list[float]) -> list[float]:
        for i in range(1, len(v)):
            if v[i] < v[i - 1]:
                raise ValueError(
                    f"arrivals must be ascending: [{i}] = {v[i]!r} after {v[i - 1]!r}; "
                    "sort the requests by arrival"
                )
        return v

    @field_validator("input_tokens", "output_tokens")
    @classmethod
    def _lengths(cls, v: list[int], info: ValidationInfo) -> list[int]:
        _same_length(v, info, "arrival_s")
        return v


class DemandModel(_Model):
    """The whole file."""

    format: str
    version: int
    curves: list[CurveModel] = Field(default_factory=list)
    requests: list[RequestsModel] = Field(default_factory=list)


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or "," in part:
            continue  # pydantic's union/function tags, not a field
        else:
            out += f".{part}" if out else part
    return out


def _problems_of(source: str, exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False)[:MAX_PROBLEMS]:
        kind = err["type"]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            msg, hint = "unknown field", "remove it or fix its spelling; " + _HINT
        elif kind == "missing":
            msg, hint = "missing", "add the field; " + _HINT
        else:
            value = err.get("input")
            if isinstance(value, int | float | str | bool) or value is None:
                msg = f"{msg} (found {value!r})"
            hint = "fix the value; " + _HINT
        problems.append(Problem(source, _path(err["loc"]), msg, hint))
    return problems


def _duplicates(source: str, model: DemandModel) -> list[Problem]:
    problems = []
    pairs = {
        "curves": [(c.service, c.region) for c in model.curves],
        "requests": [(r.service, r.region) for r in model.requests],
    }
    for key, items in pairs.items():
        seen: dict[tuple[str, str], int] = {}
        for i, pair in enumerate(items):
            if pair in seen:
                problems.append(
                    Problem(
                        source,
                        f"{key}[{i}]",
                        f"a second entry for service {pair[0]!r} in region {pair[1]!r} "
                        f"(first at {key}[{seen[pair]}])",
                        "merge them or rename the service or region",
                    )
                )
            else:
                seen[pair] = i
    return problems


def _validate(source: str, raw: object) -> DemandModel:
    if not isinstance(raw, dict):
        raise InputError([Problem(source, "", "the document must be a JSON object", _HINT)])
    if raw.get("format") != FORMAT:
        raise InputError(
            [
                Problem(
                    source,
                    "format",
                    f"expected {FORMAT!r}, found {raw.get('format')!r}",
                    "is this a demand file? write one with `suanli trace convert`",
                )
            ]
        )
    version = raw.get("version")
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise InputError(
            [
                Problem(
                    source,
                    "version",
                    f"unsupported version {version!r}; this suanli reads version {supported}",
                    "upgrade suanli, or convert the source again with this one",
                )
            ]
        )
    try:
        model = DemandModel.model_validate(raw)
    except ValidationError as exc:
        raise InputError(_problems_of(source, exc)) from None
    dups = _duplicates(source, model)
    if dups:
        raise InputError(dups)
    return model


def _length(m: LengthModel) -> LengthDist:
    return LengthDist(tuple(m.tokens), tuple(m.probability))


def _demand_of(model: DemandModel) -> Demand:
    curves = tuple(
        RateCurve(
            service=c.service,
            region=c.region,
            window_s=c.window_s,
            rate_rps=tuple(c.rate_rps),
            cv=tuple(c.cv),
            input_tokens=_length(c.input_tokens),
            output_tokens=_length(c.output_tokens),
            timezone=c.timezone,
            source=c.source,
        )
        for c in model.curves
    )
    requests = tuple(
        ServiceTrace(
            r.service,
            r.region,
            RequestTrace(
                arrival_s=np.asarray(r.arrival_s, dtype=np.float64),
                input_tokens=np.asarray(r.input_tokens, dtype=np.int64),
                output_tokens=np.asarray(r.output_tokens, dtype=np.int64),
                source=r.source,
            ),
        )
        for r in model.requests
    )
    return Demand(curves=curves, requests=requests)


def parse_demand(text: str | bytes, source: str = "<demand>") -> Demand:
    """The demand in ``text`` (a demand file's content); ``source`` names it in errors."""
    if len(text) > MAX_BYTES:
        raise InputError(
            [
                Problem(
                    source,
                    "",
                    f"{len(text)} bytes, more than the limit of {MAX_BYTES}",
                    "split the demand into several files or use coarser windows",
                )
            ]
        )
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            [Problem(source, "", f"not JSON: {exc.msg}", "fix the syntax", line=exc.lineno)]
        ) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise InputError(
            [Problem(source, "", f"not readable JSON ({type(exc).__name__})", _HINT)]
        ) from None
    return _demand_of(_validate(source, raw))


def read_demand(path: Path | str) -> Demand:
    """The demand in the file at ``path``; every problem is an
    :class:`~suanli.errors.InputError` naming the file and the field's JSON path."""
    path = Path(path)
    src = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(
            [Problem(src, "", f"cannot read: {exc.strerror}", "check the path")]
        ) from None
    if size > MAX_BYTES:
        raise InputError(
            [
                Problem(
                    src,
                    "",
                    f"file is {size} bytes, more than the limit of {MAX_BYTES}",
                    "split the demand into several files or use coarser windows",
                )
            ]
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            [Problem(src, "", f"cannot read: {exc.strerror}", "check the path")]
        ) from None
    return parse_demand(data, src)


# --- writing ---------------------------------------------------------------------------


def _float(x: float) -> float:
    v = float(x)
    return 0.0 if v == 0.0 else v  # one spelling of zero


def _length_doc(d: LengthDist) -> dict[str, Any]:
    return {"tokens": [int(t) for t in d.tokens], "probability": [_float(p) for p in d.probability]}


def demand_document(demand: Demand) -> dict[str, Any]:
    """The JSON document (plain dicts and lists) of ``demand``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "curves": [
            {
                "service": c.service,
                "region": c.region,
                "timezone": c.timezone,
                "source": c.source,
                "window_s": _float(c.window_s),
                "rate_rps": [_float(r) for r in c.rate_rps],
                "cv": [_float(v) for v in c.cv],
                "input_tokens": _length_doc(c.input_tokens),
                "output_tokens": _length_doc(c.output_tokens),
            }
            for c in demand.curves
        ],
        "requests": [
            {
                "service": r.service,
                "region": r.region,
                "source": r.trace.source,
                "arrival_s": [_float(t) for t in r.trace.arrival_s.tolist()],
                "input_tokens": [int(n) for n in r.trace.input_tokens.tolist()],
                "output_tokens": [int(n) for n in r.trace.output_tokens.tolist()],
            }
            for r in demand.requests
        ],
    }


def _encode(value: Any, indent: int) -> str:
    """JSON with sorted keys, objects one key a line, lists of numbers on one line."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}  {json.dumps(k)}: {_encode(value[k], indent + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if any(isinstance(v, dict | list) for v in value):
            items = [f"{pad}  {_encode(v, indent + 1)}" for v in value]
            return "[\n" + ",\n".join(items) + "\n" + pad + "]"
        return "[" + ", ".join(_encode(v, indent) for v in value) + "]"
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def format_demand(demand: Demand, target: str = "<demand>") -> str:
    """The text of ``demand``'s file (checked as :func:`read_demand` would check it;
    ``target`` names it in errors). Same demand, same text."""
    doc = demand_document(demand)
    try:
        text = _encode(doc, 0) + "\n"
    except ValueError:  # NaN or infinity
        _validate(target, doc)
        raise
    _validate(target, json.loads(text))
    return text


def write_demand(demand: Demand, path: Path | str) -> None:
    """Write ``demand`` to ``path`` atomically: the whole text is built and checked
    first, written to a temporary file beside ``path`` and renamed over it, so a
    failure leaves ``path`` as it was and no temporary file behind."""
    path = Path(path)
    data = format_demand(demand, str(path)).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
