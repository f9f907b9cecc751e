"""Fidelity: does the simulator predict what real clusters do?

:func:`replay_live` runs jobs through the live control plane — the code of ``suanli serve``:
the store, the control loop, the sites' backends — against real clusters, with scenario
time running ``scale`` times faster than the wall clock (:class:`~suanli.clock.ScaledClock`).
Each job is submitted at its scaled submit time; its command sleeps for its modelled run time
on the accelerator type it is given (``SUANLI_DEVICE_TYPE``, which every backend sets),
scaled. :func:`simulate` runs the simulator on the same jobs, fleet and policy, and
:func:`compare` lines the two up:

* per job, the error of its start (when it began running at its site) and of its finish, in
  scenario seconds and as a share of its run time;
* placement: the share of jobs on the same site and accelerator type;
* mean JCT and the device-hours held, each as live / simulated.

What the harness cannot replay, it refuses: a job that shares a device, or one with a data
set (its command would have to copy data). A *dispatch latency* per site — from the start
decision to the job running at its site: the submission, the workload manager's own
scheduling cycle — is measured by the live run (:attr:`Outcome.dispatch_latency_s`) and can
be given to the simulator (``dispatch_s``), which then starts a job that much after deciding.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from suanli.clock import ScaledClock
from suanli.control.service import LiveControl, LoopSettings
from suanli.core.jobtable import JobTable
from suanli.core.tables import FleetTables, build_tables
from suanli.errors import InputError, Problem
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sites.config import SitesConfig
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.ledger import Ledger
from suanli.store.tenants import TenantStore


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """One job as it went: where, and when it started running and ended (scenario seconds
    since the start; NaN: never)."""

    pool: str
    start_s: float
    end_s: float
    devices: float


@dataclass(frozen=True)
class Outcome:
    """A run's jobs, by job index (the order of :func:`prepare`'s jobs)."""

    jobs: tuple[JobOutcome, ...]
    #: Per site, the mean seconds (scenario) from a start decision to the job running.
    dispatch_latency_s: Mapping[str, float]
    #: Per site, the mean seconds (scenario) from a job's end to the control plane
    #: knowing it (and freeing its devices): the next listing of the site.
    release_latency_s: Mapping[str, float] = field(default_factory=dict)
    #: Every job's seconds from decision to running, and from its end to being known.
    dispatch_samples: tuple[float, ...] = ()
    release_samples: tuple[float, ...] = ()


def prepare(jobs: Sequence[Job]) -> list[Job]:
    """The jobs in submission order, refusing what the harness cannot replay."""
    problems = [
        Problem("jobs", j.id, why, "use whole-device jobs without data sets")
        for j in jobs
        for why in (
            "takes a share of a device" if j.device_fraction < 1 else "",
            "reads a data set (its copy is not replayed)" if j.dataset else "",
            "has measured speeds" if j.measured_pflops else "",
        )
        if why
    ]
    if problems:
        raise InputError(problems)
    return sorted(jobs, key=lambda j: (j.submit_s, j.id))


def spec_of(job: Job, epoch0: float) -> dict[str, Any]:
    """The stored spec the API would write for ``job``."""
    return dict(
        kind=job.kind.value,
        profile=job.profile,
        gang=job.gang,
        work_pflop=job.work_pflop,
        accepted_types=list(job.accepted_types),
        accepted_stacks=list(job.accepted_stacks),
        dataset=None,
        deadline_at=None if job.deadline_s is None else epoch0 + job.deadline_s,
        deferrable=job.deferrable,
        preemptible=job.preemptible,
        priority=job.priority,
        checkpoint_interval_s=job.checkpoint_interval_s,
        restart_cost_s=job.restart_cost_s,
    )


def command_of(
    j: int,
    table: JobTable,
    tables: FleetTables,
    sites: SitesConfig,
    scale: float,
    times: Path,
) -> str:
    """A shell command that sleeps job *j*'s modelled run time, scaled, on whichever
    accelerator type it is given (by ``SUANLI_DEVICE_TYPE``), and writes the real times it
    began and ended (to the microsecond: the workload manager's own times are whole seconds)
    to ``times/<j>``."""
    by_type: dict[str, float] = {}
    for c in table.candidates(j):
        site = tables.site_ids[tables.pool_site[c.pool]]
        name = sites.device_type(site, tables.acc_ids[tables.pool_acc[c.pool]])
        by_type[name] = max(by_type.get(name, 0.0), table.work[j] / c.rate / scale)
    cases = " ".join(f"{t}) sleep {s:.3f};;" for t, s in sorted(by_type.items()))
    out = times / str(j)
    return (
        f"date +%s.%N > {out}; "
        f'case "$SUANLI_DEVICE_TYPE" in {cases} *) exit 3;; esac; '
        f"date +%s.%N >> {out}"
    )


def replay_live(
    scenario: Scenario,
    jobs: Sequence[Job],
    policy: str,
    sites: SitesConfig,
    *,
    scale: float,
    poll_s: float = 0.2,
    workdir: Path | None = None,
    timeout_s: float | None = None,
) -> Outcome:
    """Run ``jobs`` (as :func:`prepare` orders them) through the live control plane against
    ``sites``, ``scale`` scenario seconds per real second; return what happened."""
    tables = build_tables(scenario)
    table = JobTable(list(jobs), tables)
    epoch0 = scenario.start.timestamp()
    tmp = Path(workdir or tempfile.mkdtemp(prefix="suanli-fidelity-"))
    times = tmp / "times"
    times.mkdir(parents=True, exist_ok=True)
    commands = [command_of(j, table, tables, sites, scale, times) for j in range(len(jobs))]
    db = Database(f"sqlite:///{tmp / 'fidelity.db'}")
    TenantStore(db).ensure(
        ((t.id, t.name, t.weight, t.priority) for t in scenario.tenants), "scenario"
    )
    clock = ScaledClock(epoch0, scale, real0=time.time() + 3.0)
    ctl = LiveControl(
        db,
        scenario,
        sites.build(clock),
        sites.device_type,
        policy=policy,
        settings=LoopSettings(poll_s=poll_s, grace_s=1.0, sample_s=3600.0),
        clock=clock,
        serving=None,  # batch jobs only, as the simulation it is compared with
    )
    store = JobStore(db)
    ctl.start()
    ids: list[int] = []
    try:
        for job, command in zip(jobs, commands, strict=True):
            wait = clock.to_wall(epoch0 + job.submit_s) - time.time()
            if wait > 0:
                time.sleep(wait)
            rec, _ = store.submit(
                job.tenant, spec_of(job, epoch0), command, name=job.id, at=clock.time()
            )
            ctl.submitted(rec)
            ids.append(rec.id)
        last = max((j.submit_s for j in jobs), default=0.0)
        limit = timeout_s if timeout_s is not None else 4.0 * (scenario.horizon_s + last) / scale
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if all(r.job_state.final for r in _records(store, ids)):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the live replay did not finish within {limit:.0f} s")
    finally:
        ctl.stop()
    out = []
    dispatch: dict[str, list[float]] = {}
    release: dict[str, list[float]] = {}
    ledger = Ledger(db)
    for j, rec in enumerate(_records(store, ids)):
        ran = _ran(times / str(j), clock)
        start, end = (ran[0] - epoch0, ran[1] - epoch0) if ran else (math.nan, math.nan)
        out.append(JobOutcome(rec.pool or "", start, end, float(rec.devices or 0)))
        tries = [d for d in ledger.dispatches_of(rec.id) if d.state == "submitted"]
        if ran and tries and rec.site is not None:
            dispatch.setdefault(rec.site, []).append(ran[0] - tries[-1].created_at)
            noticed = [e.at for e in store.events(rec.id) if e.state == "done"]
            if noticed:
                release.setdefault(rec.site, []).append(noticed[-1] - ran[1])
    db.dispose()
    return Outcome(
        tuple(out),
        {s: statistics.fmean(v) for s, v in sorted(dispatch.items())},
        {s: statistics.fmean(v) for s, v in sorted(release.items())},
        tuple(x for v in dispatch.values() for x in v),
        tuple(x for v in release.values() for x in v),
    )


def _ran(path: Path, clock: ScaledClock) -> tuple[float, float] | None:
    """The times a job's command began and ended, on ``clock`` (``None``: it did not end)."""
    try:
        lines = path.read_text().split()
    except OSError:
        return None
    if len(lines) < 2:
        return None
    return clock.from_wall(float(lines[0])), clock.from_wall(float(lines[1]))


def _records(store: JobStore, ids: Sequence[int]) -> list[Any]:
    recs = [store.get(i) for i in ids]
    return [r for r in recs if r is not None]


def simulate(
    scenario: Scenario,
    jobs: Sequence[Job],
    policy: str,
    *,
    seed: int = 0,
    dispatch_s: Mapping[str, float] | None = None,
) -> Outcome:
    """The simulator on the same jobs (drained), with a dispatch latency per site if given."""
    sim = Simulator(
        scenario,
        jobs,
        make_policy(policy, scenario.policy_params.get(policy), np.random.default_rng(seed)),
        seed=seed,
        drain=True,
        dispatch_s=dispatch_s,
    )
    r = sim.run()
    t = r.tables
    first: dict[int, float] = {}
    for st in r.stretches:
        first.setdefault(st.job, st.compute_start_s)
    out = []
    for j in range(len(jobs)):
        p = int(r.last_pool[j])
        out.append(
            JobOutcome(
                t.pool_ids[p] if p >= 0 else "",
                first.get(j, math.nan),
                float(r.finish[j]),
                float(r.last_devices[j]),
            )
        )
    return Outcome(tuple(out), dict(dispatch_s or {}), {})


@dataclass(frozen=True)
class Comparison:
    """How far the live run was from the simulation (see the module docstring)."""

    jobs: int
    same_place: float
    start_error_median_s: float
    finish_error_median_s: float
    finish_error_median_share: float
    finish_error_p90_share: float
    mean_jct_live_h: float
    mean_jct_sim_h: float
    device_hours_live: float
    device_hours_sim: float

    @property
    def jct_ratio(self) -> float:
        """Mean JCT, live / simulated."""
        return self.mean_jct_live_h / self.mean_jct_sim_h

    def rows(self) -> list[tuple[str, str]]:
        """The comparison as label–value rows."""
        return [
            ("jobs", f"{self.jobs}"),
            ("same site and type", f"{self.same_place:.1%}"),
            ("mean JCT live / sim (h)", f"{self.mean_jct_live_h:.3f} / {self.mean_jct_sim_h:.3f}"),
            ("mean JCT live ÷ sim", f"{self.jct_ratio:.4f}"),
            ("median start error (s)", f"{self.start_error_median_s:.1f}"),
            ("median finish error (s)", f"{self.finish_error_median_s:.1f}"),
            ("median finish error / run time", f"{self.finish_error_median_share:.2%}"),
            ("p90 finish error / run time", f"{self.finish_error_p90_share:.2%}"),
            (
                "device-hours live / sim",
                f"{self.device_hours_live:.1f} / {self.device_hours_sim:.1f}",
            ),
        ]


def compare(jobs: Sequence[Job], live: Outcome, sim: Outcome) -> Comparison:
    """Line up a live run and a simulation of the same ``jobs``."""
    both = [
        (job, a, b)
        for job, a, b in zip(jobs, live.jobs, sim.jobs, strict=True)
        if a.end_s == a.end_s and b.end_s == b.end_s
    ]
    if not both:
        raise ValueError("no job finished in both runs")
    start_err = [abs(a.start_s - b.start_s) for _, a, b in both]
    finish_err = [abs(a.end_s - b.end_s) for _, a, b in both]
    shares = [
        e / max(b.end_s - b.start_s, 1e-9) for e, (_, _, b) in zip(finish_err, both, strict=True)
    ]
    jct_live = [a.end_s - job.submit_s for job, a, _ in both]
    jct_sim = [b.end_s - job.submit_s for job, _, b in both]
    return Comparison(
        jobs=len(both),
        same_place=sum(a.pool == b.pool for _, a, b in both) / len(both),
        start_error_median_s=statistics.median(start_err),
        finish_error_median_s=statistics.median(finish_err),
        finish_error_median_share=statistics.median(shares),
        finish_error_p90_share=float(np.percentile(shares, 90)),
        mean_jct_live_h=statistics.fmean(jct_live) / 3600.0,
        mean_jct_sim_h=statistics.fmean(jct_sim) / 3600.0,
        device_hours_live=sum(a.devices * (a.end_s - a.start_s) for _, a, _ in both) / 3600.0,
        device_hours_sim=sum(b.devices * (b.end_s - b.start_s) for _, _, b in both) / 3600.0,
    )


def scaled_down(scenario: Scenario, jobs: Sequence[Job], first: int) -> list[Job]:
    """The first ``first`` jobs (by submit time), renamed in submission order."""
    ordered = sorted(jobs, key=lambda j: (j.submit_s, j.id))[:first]
    return [replace(j, id=f"j{k:05d}") for k, j in enumerate(ordered)]
