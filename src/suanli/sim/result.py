"""What a simulation run produced: per-job outcomes, per-pool-hour integrals, logs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.core.accounting import Accounting
from suanli.core.jobtable import JobTable
from suanli.core.migration import progress
from suanli.core.serving import ServiceOutcome, ServingState, service_outcomes
from suanli.core.state import DONE, SchedulingState, Stretch, Transfers
from suanli.core.tables import FleetTables
from suanli.model.scenario import Scenario


@dataclass(frozen=True, eq=False)
class SimResult:
    """The outcome of one run (read-only; metrics and reports are computed from it).

    Job arrays are indexed like ``jobs``; ``first_start``/``finish`` are NaN when
    the job never started/finished. ``reasons`` says why an unfinished job waits,
    ``start_why`` the policy's reason for each job's latest start ("" if it never started;
    :func:`~suanli.core.reasons.start_reason` puts it in words). Pool-hour arrays
    (``energy_j`` …) come from :class:`~suanli.core.accounting.Accounting`.
    """

    scenario: Scenario
    tables: FleetTables
    jobs: JobTable
    policy: str
    seed: int
    placement: str
    end_s: float
    first_start: np.ndarray
    finish: np.ndarray
    done: np.ndarray
    preemptions: np.ndarray
    migrations: np.ndarray
    resizes: np.ndarray
    #: Per job, seconds its resizes cost it (work redone and the wait for the restart).
    resize_lost_s: np.ndarray
    lost_pflop: np.ndarray
    #: Per job, PFLOP done by the end of the run: all its work when it finished, else its
    #: last checkpoint's progress plus what its running stretch (if any) computed since.
    work_done: np.ndarray
    last_pool: np.ndarray
    last_devices: np.ndarray
    reasons: dict[int, str]
    start_why: tuple[str, ...]
    energy_j: np.ndarray
    busy_s: np.ndarray
    allocated_s: np.ndarray
    up_s: np.ndarray
    asleep_s: np.ndarray
    shared_s: np.ndarray
    fragmented_s: np.ndarray
    stretches: tuple[Stretch, ...]
    transfers: Transfers
    round_times: tuple[float, ...]
    events: int
    wall_s: float
    #: Online inference services (empty without any); their replicas are not among the
    #: jobs, whose arrays cover the batch jobs only.
    services: tuple[ServiceOutcome, ...] = ()
    serving_policy: str = ""

    @classmethod
    def collect(
        cls,
        *,
        scenario: Scenario,
        tables: FleetTables,
        jobs: JobTable,
        state: SchedulingState,
        acct: Accounting,
        policy: str,
        seed: int,
        placement: str,
        end_s: float,
        round_times: list[float],
        events: int,
        wall_s: float,
        batch_jobs: int | None = None,
        serving: ServingState | None = None,
        serving_policy: str = "",
    ) -> SimResult:
        """Gather the run's data from the scheduling state and the accounting (the first
        ``batch_jobs`` jobs of the table: service replicas follow them)."""
        st = state
        n = len(jobs) if batch_jobs is None else batch_jobs
        if n < len(jobs):
            jobs = jobs.head(n)
        last_pool = np.full(n, -1, dtype=np.int64)
        last_devices = np.zeros(n)
        stretches = tuple(sp for sp in st.stretches if sp.job < n)
        for sp in stretches:
            last_pool[sp.job] = sp.pool
            last_devices[sp.job] = sp.devices
        done = np.asarray([s == DONE for s in st.status[:n]], dtype=bool)
        work_done = np.asarray(st.work_done[:n], dtype=float)
        for j, rs in st.running.items():
            if j < n:  # a batch job still running at the end: the work done so far
                work_done[j] = progress(
                    jobs, j, rs.cand.rate, rs.compute_start_s, st.work_done[j], end_s
                )[0]
        reasons = {j: st.reason(j) for j in range(n) if not done[j]}
        return cls(
            scenario=scenario,
            tables=tables,
            jobs=jobs,
            policy=policy,
            seed=seed,
            placement=placement,
            end_s=end_s,
            first_start=np.asarray(st.first_start[:n], dtype=float),
            finish=np.asarray(st.finish[:n], dtype=float),
            done=done,
            preemptions=np.asarray(st.preemptions[:n], dtype=np.int64),
            migrations=np.asarray(st.migrations[:n], dtype=np.int64),
            resizes=np.asarray(st.resizes[:n], dtype=np.int64),
            resize_lost_s=np.asarray(st.resize_lost_s[:n], dtype=float),
            lost_pflop=np.asarray(st.lost_pflop[:n], dtype=float),
            work_done=work_done,
            last_pool=last_pool,
            last_devices=last_devices,
            reasons=reasons,
            start_why=tuple(st.start_why[:n]),
            energy_j=acct.energy_j.copy(),
            busy_s=acct.busy_s.copy(),
            allocated_s=acct.allocated_s.copy(),
            up_s=acct.up_s.copy(),
            asleep_s=acct.asleep_s.copy(),
            shared_s=acct.shared_s.copy(),
            fragmented_s=acct.fragmented_s.copy(),
            stretches=stretches,
            transfers=st.transfers,
            round_times=tuple(round_times),
            events=events,
            wall_s=wall_s,
            services=service_outcomes(serving, end_s) if serving is not None else (),
            serving_policy=serving_policy,
        )
