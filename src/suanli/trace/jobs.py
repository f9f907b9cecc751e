"""A checked trace + a scenario → the :class:`~suanli.model.Job` list a simulation runs.

Work. A row with ``duration_s`` *d* on reference accelerator *r*, gang *n* and
device fraction *f* becomes

.. math:: W = n \\cdot f \\cdot d \\cdot s_r \\quad \\text{PFLOP},

with :math:`s_r` the job's measured speed on *r* when the row has one, else the
roofline speed of its profile on *r* (as the workload generator does). A row
with ``work_pflop`` keeps it; with ``hbm_tb`` as well, the job's own arithmetic
intensity ``I = work / traffic`` replaces the profile's, and the roofline speed
with that intensity on every accelerator type of the fleet goes into the job's
``measured_pflops`` (explicit measurements win).

Time. Submit times (and deadlines) are multiplied by ``time_scale``; or, with
``target_load`` ρ, the scale is chosen so that the offered load

.. math:: \\rho = \\frac{\\sum_j W_j / C_{p(j)}}{\\text{span}}, \\qquad
          C_p = \\sum_{\\text{pools}} \\text{count} \\cdot s(a, p),

equals ρ (:math:`C_p` the fleet's capacity in PFLOP/s for profile *p*; span the
scaled time from the first to the last submission).

Constraints. ``constraints="keep"`` keeps ``accepted_types`` as written (a job whose
types are all absent from the fleet is an error); ``"relax"`` drops the absent
types and lets a job with none left run anywhere (for replaying a trace on a
foreign fleet). Tenants and profiles must exist in the scenario: use
:func:`suanli.trace.replay.prepare_scenario` to add the trace's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanli.config.yaml_lines import close_matches
from suanli.errors import InputError, Problem
from suanli.model.job import (
    DEFAULT_CHECKPOINT_INTERVAL_S,
    DEFAULT_PREEMPTIBLE,
    DEFAULT_RESTART_COST_S,
    Job,
    JobKind,
    WorkloadProfile,
)
from suanli.model.scenario import Scenario
from suanli.perf.roofline import speed_pflops
from suanli.trace.format import MAX_TIME_S, Trace, parse_list, parse_map
from suanli.trace.io import read_trace

Constraints = Literal["keep", "relax"]


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How to turn trace rows into jobs (see the module docstring)."""

    reference: str | None = None
    time_scale: float = 1.0
    target_load: float | None = None
    constraints: Constraints = "keep"
    window_s: tuple[float, float] | None = None
    max_jobs: int | None = None


def load_trace_jobs(
    trace: Trace | str | Path,
    scenario: Scenario,
    *,
    reference: str | None = None,
    time_scale: float = 1.0,
    target_load: float | None = None,
    constraints: Constraints = "keep",
    window_s: tuple[float, float] | None = None,
    max_jobs: int | None = None,
) -> list[Job]:
    """The jobs of ``trace`` (a :class:`Trace` or a file) for ``scenario``, by submit time.

    ``reference`` overrides the accelerator durations were measured on;
    ``window_s`` keeps rows submitted in ``[start, end)`` (trace seconds, before
    scaling) and shifts them to start at 0; ``max_jobs`` keeps the first rows.
    Raises :class:`InputError` naming the rows that cannot be mapped.
    """
    opts = LoadOptions(reference, time_scale, target_load, constraints, window_s, max_jobs)
    return jobs_from_trace(trace if isinstance(trace, Trace) else read_trace(trace), scenario, opts)


def jobs_from_trace(trace: Trace, sc: Scenario, opts: LoadOptions) -> list[Job]:
    """:func:`load_trace_jobs` with its options gathered in a :class:`LoadOptions`."""
    t = _select(trace, opts)
    n = t.num_rows
    col = {name: t.column(name).to_pylist() for name in t.column_names}
    submit = np.asarray(col["submit_s"], dtype=float)
    if n and opts.window_s is not None:
        submit = submit - opts.window_s[0]
    problems: list[Problem] = []
    _check_names(trace, col, sc, opts, problems)
    if problems:
        raise InputError(problems[:40])
    default_ref = opts.reference or trace.meta.get("reference") or None
    fleet_types = sorted({p.accelerator for p in sc.pools})
    speed_cache: dict[tuple[str, str, float | None], float] = {}

    def speed(acc_id: str, prof: WorkloadProfile) -> float:
        key = (acc_id, prof.id, prof.flops_per_byte)
        if key not in speed_cache:
            acc = sc.catalog[acc_id]
            eff = sc.efficiency.get((acc.stack, prof.kind))
            speed_cache[key] = speed_pflops(acc, prof, eff) if eff is not None else 0.0
        return speed_cache[key]

    work = np.zeros(n)
    measured: list[dict[str, float]] = []
    for i in range(n):
        prof = sc.profiles[col["profile"][i]]
        m = parse_map(col["measured_pflops"][i])
        frac = col["device_fraction"][i] or 1.0
        d = col["duration_s"][i]
        if d is not None:
            ref = opts.reference or col["reference"][i] or default_ref
            assert ref is not None  # the schema check guarantees a reference
            s = m.get(ref) or speed(ref, prof)
            if s <= 0:
                problems.append(
                    _row_problem(
                        trace,
                        i,
                        "reference",
                        f"{ref} cannot run profile {prof.id!r}",
                        "pick a reference that supports its precisions",
                    )
                )
            work[i] = col["gang"][i] * frac * d * s
        else:
            work[i] = col["work_pflop"][i]
            if col["hbm_tb"][i] is not None:
                own = replace(prof, flops_per_byte=work[i] * 1e3 / col["hbm_tb"][i])
                for a in fleet_types:
                    m.setdefault(a, speed(a, own))
        measured.append(m)
    if problems:
        raise InputError(problems[:40])
    scale = _time_scale(opts, sc, submit, work, col["profile"], speed)
    last = float(submit.max()) * scale if n else 0.0
    if not last <= MAX_TIME_S:
        raise InputError(
            [
                Problem(
                    trace.source,
                    "submit_s",
                    f"scaled by {scale:g}, the arrivals span {last:g} s, more than "
                    f"{MAX_TIME_S:,} (10 years)",
                    "ask for a higher target load or a smaller time scale, or replay a window",
                )
            ]
        )
    return _build(col, submit * scale, scale, work, measured, sc, opts, fleet_types)


def _select(trace: Trace, opts: LoadOptions) -> pa.Table:
    t = trace.table
    if opts.window_s is not None:
        lo, hi = opts.window_s
        s = t.column("submit_s")
        t = t.filter(pc.and_(pc.greater_equal(s, lo), pc.less(s, hi)))
    if opts.max_jobs is not None:
        t = t.slice(0, opts.max_jobs)
    return t


def _row_problem(trace: Trace, i: int, column: str, message: str, hint: str) -> Problem:
    return Problem(trace.source, f"row {i + 1}, column {column}", message, hint)


def _check_names(
    trace: Trace,
    col: Mapping[str, list[Any]],
    sc: Scenario,
    opts: LoadOptions,
    problems: list[Problem],
) -> None:
    """Every tenant, profile, reference, accelerator type and data set must be known."""
    tenants = {t.id for t in sc.tenants}
    datasets = {d.id for d in sc.datasets}
    stacks = {sc.catalog[p.accelerator].stack for p in sc.pools}
    fleet = {p.accelerator for p in sc.pools}
    checks: list[tuple[str, set[str] | Mapping[str, object], str, str]] = [
        ("tenant", tenants, "tenant", "add the trace's tenants (prepare_scenario) or map them"),
        ("profile", dict(sc.profiles), "profile", "define it in the scenario or the trace"),
        ("reference", dict(sc.catalog), "accelerator", "use a catalog id"),
        ("dataset", datasets, "data set", "define it in the scenario's datasets"),
    ]
    for name, valid, what, hint in checks:
        seen: set[object] = set()
        for i, v in enumerate(col[name]):
            if v is None or v in valid or v in seen:
                continue
            seen.add(v)
            problems.append(
                _row_problem(
                    trace,
                    i,
                    name,
                    f"unknown {what} {v!r}",
                    f"{hint}; {close_matches(str(v), valid)}",
                )
            )
    ref = opts.reference or trace.meta.get("reference")
    if ref and ref not in sc.catalog:
        problems.append(
            Problem(
                trace.source,
                "reference",
                f"unknown accelerator {ref!r}",
                close_matches(ref, sc.catalog),
            )
        )
    seen_types: set[str] = set()
    for i, cell in enumerate(col["accepted_types"]):
        if cell is None or cell in seen_types:
            continue
        seen_types.add(str(cell))
        types = parse_list(str(cell))
        unknown = [a for a in types if a not in sc.catalog]
        if unknown:
            problems.append(
                _row_problem(
                    trace,
                    i,
                    "accepted_types",
                    f"unknown accelerator {unknown[0]!r}",
                    close_matches(unknown[0], sc.catalog),
                )
            )
        elif opts.constraints == "keep" and not set(types) & fleet:
            problems.append(
                _row_problem(
                    trace,
                    i,
                    "accepted_types",
                    f"none of {', '.join(types)} is in the fleet of {sc.name}",
                    "replay with constraints='relax' (--relax-types) or on the trace's own fleet",
                )
            )
    for i, cell in enumerate(col["accepted_stacks"]):
        for s in parse_list(str(cell)) if cell else ():
            if s not in stacks and opts.constraints == "keep":
                problems.append(
                    _row_problem(
                        trace,
                        i,
                        "accepted_stacks",
                        f"no pool in the fleet runs stack {s!r}",
                        close_matches(s, stacks),
                    )
                )
                return


def offered_load(sc: Scenario, jobs: list[Job]) -> float:
    """Offered load of ``jobs`` on the fleet of ``sc`` (module docstring), over their span."""
    if len(jobs) < 2:
        return 0.0
    capacity: dict[str, float] = {}
    busy = 0.0
    for j in jobs:
        if j.profile not in capacity:
            prof = sc.profiles[j.profile]
            capacity[j.profile] = sum(
                p.count
                * speed_pflops(
                    sc.catalog[p.accelerator],
                    prof,
                    sc.efficiency[(sc.catalog[p.accelerator].stack, prof.kind)],
                )
                for p in sc.pools
                if (sc.catalog[p.accelerator].stack, prof.kind) in sc.efficiency
            )
        busy += j.work_pflop / capacity[j.profile] if capacity[j.profile] > 0 else 0.0
    span = jobs[-1].submit_s - jobs[0].submit_s
    return busy / span if span > 0 else float("inf")


def _time_scale(
    opts: LoadOptions,
    sc: Scenario,
    submit: np.ndarray,
    work: np.ndarray,
    profiles: list[Any],
    speed: Callable[[str, WorkloadProfile], float],
) -> float:
    """``time_scale``, or the scale that offers ``target_load`` to the fleet."""
    if opts.target_load is None:
        return opts.time_scale
    span = float(submit.max() - submit.min()) if submit.size > 1 else 0.0
    if span <= 0:
        return 1.0
    capacity: dict[str, float] = {}
    busy = 0.0
    for w, p in zip(work.tolist(), profiles, strict=True):
        pid = str(p)
        if pid not in capacity:
            prof = sc.profiles[pid]
            capacity[pid] = sum(pool.count * speed(pool.accelerator, prof) for pool in sc.pools)
        busy += w / capacity[pid] if capacity[pid] > 0 else 0.0
    load_now = busy / span
    return load_now / opts.target_load if load_now > 0 else 1.0


def _build(
    col: Mapping[str, list[Any]],
    submit: np.ndarray,
    scale: float,
    work: np.ndarray,
    measured: list[dict[str, float]],
    sc: Scenario,
    opts: LoadOptions,
    fleet_types: list[str],
) -> list[Job]:
    shift = opts.window_s[0] if opts.window_s is not None else 0.0
    fleet = set(fleet_types)
    kinds = {k.value: k for k in JobKind}
    types_cache: dict[object, tuple[str, ...]] = {None: ()}
    jobs: list[Job] = []
    order = np.argsort(submit, kind="stable")
    for i in order.tolist():
        cell = col["accepted_types"][i]
        if cell not in types_cache:
            types = parse_list(str(cell))
            if opts.constraints == "relax":
                types = tuple(a for a in types if a in fleet)
            types_cache[cell] = types
        prof = sc.profiles[str(col["profile"][i])]
        deadline = col["deadline_s"][i]
        jobs.append(
            Job(
                id=str(col["id"][i]),
                tenant=str(col["tenant"][i]),
                kind=kinds[str(col["kind"][i])] if col["kind"][i] else prof.kind,
                profile=prof.id,
                submit_s=float(submit[i]),
                gang=int(col["gang"][i]),
                work_pflop=float(work[i]),
                accepted_types=types_cache[cell],
                accepted_stacks=parse_list(col["accepted_stacks"][i]),
                gang_max=col["gang_max"][i],
                gang_min=col["gang_min"][i],
                dataset=col["dataset"][i],
                deadline_s=(float(deadline) - shift) * scale if deadline is not None else None,
                deferrable=bool(col["deferrable"][i] or False),
                preemptible=(
                    DEFAULT_PREEMPTIBLE
                    if col["preemptible"][i] is None
                    else bool(col["preemptible"][i])
                ),
                checkpoint_interval_s=_or(
                    col["checkpoint_interval_s"][i], DEFAULT_CHECKPOINT_INTERVAL_S
                ),
                restart_cost_s=_or(col["restart_cost_s"][i], DEFAULT_RESTART_COST_S),
                priority=int(col["priority"][i] or 0),
                measured_pflops=measured[i],
                device_fraction=_or(col["device_fraction"][i], 1.0),
            )
        )
    return jobs


def _or(value: Any, default: float) -> float:
    return default if value is None else float(value)
