"""The job file: what a user writes to submit a job (YAML on the command line, JSON to the API).

Version 1, every field but ``version``, ``profile``, ``resources``, ``work`` and ``run``
optional (docs/jobs.md has it side by side with ``sbatch`` and a SkyPilot task)::

    version: 1
    name: sft-qwen-7b
    profile: finetune                 # a workload profile of the scenario (suanli jobs profiles)
    resources:
      accelerators: H100:8            # TYPE:COUNT; a list is an order of preference,
                                      # {any_of: [...]} a set without one
      stacks: [cuda]                  # software stacks the job can run on
      min_memory_gb: 80               # per device: drops types with less
      elastic: {min: 4, max: 16}      # elastic: suanli may run it on min..max devices
    work: {hours: 6, on: H100}        # estimated hours on COUNT devices of a type; or {pflop: …}
    run: python train.py --config sft.yaml
    env: {HF_HOME: /data/hf}
    workdir: /home/alice/sft
    time_limit: 8h                    # 90s, 30m, 8h, 2d, HH:MM:SS, D-HH:MM:SS or seconds
    deadline: 2026-12-08T09:00:00+08:00
    deferrable: true
    preemptible: true
    checkpoint_interval: 30m
    dataset: web-zh
    priority: 10

Accelerator names may be catalog ids or the short names users write (``H100``, ``910C``;
:mod:`suanli.catalog.names`); the server resolves them against its scenario. Every entry of
``accelerators`` has the same count: the gang, the devices the job runs on.

The model here checks the file's shape (types, ranges, durations); :meth:`JobFile.check`
in the server checks its names against the scenario.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from suanli.api.models import Name, Text, When, Whole
from suanli.model.job import JobKind


def _not_bool(v: object) -> object:
    if isinstance(v, bool):
        raise ValueError("a number, not true/false")
    return v


#: A finite number in a YAML job file: as the API's ``Number``, but a string that reads as
#: one is taken (PyYAML reads ``1e3`` as a string: YAML 1.1 wants ``1.0e+3``).
Number = Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]

JOBFILE_VERSION = 1
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_CLOCK = re.compile(r"^(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?$")


def parse_duration(v: Any) -> float:
    """Seconds of a duration: a number of seconds, ``<n>s|m|h|d``, ``[D-]HH:MM[:SS]``
    (Slurm's ``--time`` forms) or a timedelta."""
    if isinstance(v, bool):
        raise ValueError("a duration, not true/false")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, timedelta):
        return v.total_seconds()
    if not isinstance(v, str):
        raise ValueError("a duration: seconds, or a text such as 90s, 30m, 8h, 2d or 1-12:00:00")
    text = v.strip().lower()
    if m := _DURATION.match(text):
        return float(m.group(1)) * _UNITS[m.group(2)]
    if m := _CLOCK.match(text):
        d, a, b, c = m.groups()
        hms = (int(a), int(b), int(c)) if c is not None else (int(a), int(b), 0)
        return int(d or 0) * 86400.0 + hms[0] * 3600.0 + hms[1] * 60.0 + hms[2]
    raise ValueError(
        f"{v!r} is not a duration: write seconds, or 90s, 30m, 8h, 2d, HH:MM:SS or D-HH:MM:SS"
    )


Duration = Annotated[
    float, BeforeValidator(parse_duration), Field(gt=0, le=366 * 86400, allow_inf_nan=False)
]


def parse_ask(v: str) -> tuple[str, int]:
    """``TYPE[:COUNT]`` as ``(type, count)`` (count 1 when left out)."""
    name, _, count = v.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"{v!r}: write TYPE or TYPE:COUNT, e.g. H100:8")
    if not count:
        return name, 1
    if not count.strip().isdigit() or not 1 <= int(count) <= 65536:
        raise ValueError(f"{v!r}: the count after ':' must be a whole number from 1 to 65536")
    return name, int(count)


def _ask(v: str) -> str:
    parse_ask(v)
    return v


Ask = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_ask)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnyOf(_In):
    """Accelerators without an order of preference."""

    any_of: list[Ask] = Field(min_length=1, max_length=32)


class Elastic(_In):
    """An elastic job's range: the scheduler may run it on any count from ``min`` to
    ``max`` devices and resize it while it runs (docs/elastic.md); either left out is the
    gang."""

    min: StrictInt | None = Field(None, ge=1, le=65536, description="the fewest devices")
    max: StrictInt | None = Field(None, ge=1, le=65536, description="the most devices")


class Resources(_In):
    """What the job runs on."""

    accelerators: Ask | list[Ask] | AnyOf | None = Field(
        None,
        description="TYPE:COUNT, a list in order of preference, or {any_of: [...]}; "
        "left out: any type (give count)",
    )
    count: StrictInt | None = Field(None, ge=1, le=65536, description="devices, without types")
    stacks: list[Name] = Field(default_factory=list, max_length=16)
    min_memory_gb: Number | None = Field(None, gt=0, le=100_000)
    elastic: Elastic | None = Field(
        None, description="{min: N, max: M}: an elastic job, run on N to M devices"
    )

    def asks(self) -> list[tuple[str, int]]:
        """The accelerators asked for, in order, with their counts."""
        a = self.accelerators
        items = [a] if isinstance(a, str) else a.any_of if isinstance(a, AnyOf) else a or []
        return [parse_ask(x) for x in items]

    @property
    def ordered(self) -> bool:
        """Whether the list is an order of preference."""
        return not isinstance(self.accelerators, AnyOf)

    @property
    def gang(self) -> int:
        """The devices the job runs on."""
        counts = {c for _, c in self.asks()}
        return next(iter(counts)) if counts else int(self.count or 1)

    @model_validator(mode="after")
    def _one_count(self) -> Resources:
        counts = sorted({c for _, c in self.asks()})
        if len(counts) > 1:
            raise ValueError(f"every accelerator needs the same count (the gang); got {counts}")
        if counts and self.count is not None and self.count != counts[0]:
            raise ValueError(f"count {self.count} differs from the accelerators' {counts[0]}")
        if not counts and self.count is None:
            raise ValueError("give accelerators (e.g. H100:8) or count")
        e, gang = self.elastic, self.gang
        if e is not None and e.min is not None and e.min > gang:
            raise ValueError(f"elastic.min {e.min} is above the gang {gang}: give min ≤ {gang}")
        if e is not None and e.max is not None and e.max < gang:
            raise ValueError(f"elastic.max {e.max} is below the gang {gang}: give max ≥ {gang}")
        return self


class Work(_In):
    """How much work the job is: hours on ``on`` (default: the scenario's reference
    accelerator) with the job's gang, or PFLOP."""

    hours: Number | None = Field(None, gt=0, le=100_000)
    on: Name | None = Field(None, description="the accelerator the hours are on")
    pflop: Number | None = Field(None, gt=0, le=1e12)

    @model_validator(mode="after")
    def _one(self) -> Work:
        if (self.hours is None) == (self.pflop is None):
            raise ValueError("give exactly one of hours and pflop")
        if self.pflop is not None and self.on is not None:
            raise ValueError("'on' goes with hours, not pflop")
        return self


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvValue = Annotated[Text, Field(max_length=4096)]


def _env(env: dict[str, str]) -> dict[str, str]:
    bad = sorted(k for k in env if k.startswith("SUANLI_") or k.startswith("SLURM_"))
    if bad:
        raise ValueError(f"{', '.join(bad)}: SUANLI_* and SLURM_* are set by suanli and Slurm")
    return env


class JobFile(_In):
    """A job file (see the module docstring)."""

    version: Literal[1] = Field(description="the job file format's version")
    name: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9._ -]*$")] = ""
    profile: Name = Field(description="a workload profile of the scenario (GET /v1/scenario)")
    kind: JobKind | None = Field(None, description="defaults to the profile's")
    resources: Resources
    work: Work
    run: Annotated[Text, Field(min_length=1, max_length=65536)] = Field(
        description="the shell command line the job runs"
    )
    env: Annotated[dict[EnvName, EnvValue], Field(max_length=256), AfterValidator(_env)] = Field(
        default_factory=dict
    )
    workdir: Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^/")] | None = Field(
        None, description="absolute path on the site's nodes"
    )
    time_limit: Duration | None = Field(None, description="the site ends the job after this")
    deadline: When | None = None
    deferrable: StrictBool = False
    preemptible: StrictBool | None = None
    checkpoint_interval: Duration | None = None
    restart_cost: Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=1e7)] | None = (
        None
    )
    dataset: Name | None = None
    priority: Whole = Field(0, ge=-1000, le=1000)
