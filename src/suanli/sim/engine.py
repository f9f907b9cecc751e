"""The simulator: one clock, one event heap, one control loop.

``Simulator(scenario, jobs, policy).run()`` replays the jobs through the policy
and returns a :class:`~suanli.sim.result.SimResult`. Events are handled in the
total order of :mod:`suanli.sim.events`; after all events at one instant, the
control loop runs a scheduling round if anything changed (an arrival, capacity
freed, a failure or recovery), and on every hour (prices change) and every
policy tick. Without ``drain`` the run stops at the end of the horizon and jobs
not done are reported unfinished; with ``drain`` it goes on (prices repeat)
until every job is done or ``drain_factor`` × horizon has passed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from suanli.control.loop import ControlLoop
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.base import Policy
from suanli.sim.accounting import Accounting
from suanli.sim.events import EventKind, EventQueue
from suanli.sim.executor import SimExecutor
from suanli.sim.jobtable import JobTable
from suanli.sim.result import SimResult
from suanli.sim.sharing import DEFAULT_PLACEMENT, placement_rule
from suanli.sim.tables import FleetTables, build_tables

Progress = Callable[[float], None]


class Simulator:
    """A deterministic discrete-event simulation of one policy on one workload."""

    def __init__(
        self,
        scenario: Scenario,
        jobs: Sequence[Job],
        policy: Policy,
        *,
        seed: int = 0,
        drain: bool = False,
        drain_factor: float = 4.0,
        tables: FleetTables | None = None,
        progress: Progress | None = None,
        verify: bool = False,
        placement: str = DEFAULT_PLACEMENT,
    ) -> None:
        self.scenario = scenario
        self.tables = tables if tables is not None else build_tables(scenario)
        self.jobs = JobTable(jobs, self.tables)
        self.policy = policy
        self.seed = seed
        self.drain = drain
        self.horizon_s = scenario.horizon_s
        self.end_s = self.horizon_s * (drain_factor if drain else 1.0)
        self.progress = progress
        self.verify = verify
        placement_rule(placement)  # an unknown name fails here, before the run
        self.placement = placement

    def run(self) -> SimResult:
        """Run to the end; return everything measured."""
        wall0 = time.perf_counter()
        tables, jobs = self.tables, self.jobs
        hours = math.ceil(self.end_s / 3600.0)
        acct = Accounting(tables, hours)
        q = EventQueue()
        ex = SimExecutor(tables, jobs, q, acct, self.placement)
        loop = ControlLoop(self.policy, ex)
        arrivals = [
            (s, EventKind.ARRIVAL, j, 0) for j, s in enumerate(jobs.submit) if s < self.end_s
        ]
        q.extend(arrivals)
        q.push(3600.0, EventKind.HOUR)
        tick = float(self.policy.tick_s)
        q.push(tick, EventKind.TICK)
        failed: dict[int, list[tuple[int, list[int]]]] = {}
        for i, f in enumerate(self.scenario.failures):
            q.push(f.start_s, EventKind.FAILURE, i)
            q.push(f.start_s + f.duration_s, EventKind.RECOVERY, i)
        pools_at = self._failure_pools()
        for p in range(tables.n_pools):
            ex.schedule_sleep(p, list(range(tables.pool_count[p] // tables.pool_per_node[p])), 0.0)
        n_jobs = len(jobs)
        events = 0
        next_report = 0
        t = 0.0
        loop.round(0.0, full=True)
        while True:
            t = q.peek_time()
            if t > self.end_s:
                break
            need_round = full = False
            while q.peek_time() == t:
                _, kind, _, a, b = q.pop()
                events += 1
                if kind == EventKind.ARRIVAL:
                    ex.arrive(a)
                    need_round = True
                elif kind == EventKind.FINISH:
                    need_round |= ex.finish_job(a, b, t)
                elif kind == EventKind.WAKE:
                    ex.wake(a)
                    need_round = True
                elif kind == EventKind.COMPUTE_START:
                    ex.compute_start(a, b, t)
                elif kind == EventKind.HOUR:
                    acct.integrate(t)  # segments never cross an hour (see Accounting)
                    if t + 3600.0 <= self.end_s:
                        q.push(t + 3600.0, EventKind.HOUR)
                    need_round = full = True
                elif kind == EventKind.TICK:
                    q.push(t + tick, EventKind.TICK)
                    need_round = full = True
                elif kind == EventKind.FAILURE:
                    failed[a] = [
                        (p, ex.fail_nodes(p, self.scenario.failures[a].nodes, t))
                        for p in pools_at[a]
                    ]
                    need_round = True
                elif kind == EventKind.RECOVERY:
                    for p, nodes in failed.pop(a, []):
                        ex.recover_nodes(p, nodes, t)
                    need_round = True
                elif kind == EventKind.SLEEP:
                    ex.sleep_node(a, b, t)
            if need_round and (full or ex.waiting):  # nothing waits: nothing to decide
                loop.round(t, full=full)
            if self.verify:
                ex.verify()
            if self.progress is not None and events >= next_report:
                next_report = events + 5000
                self.progress(min(t / self.end_s, 1.0))
            if (
                self.drain
                and t >= self.horizon_s
                and ex.done_count + ex.unschedulable_count == n_jobs
            ):
                break
        end = self.end_s if not self.drain else max(self.horizon_s, min(t, self.end_s))
        acct.integrate(end)
        if self.progress is not None:
            self.progress(1.0)
        return SimResult.collect(
            scenario=self.scenario,
            tables=tables,
            jobs=jobs,
            executor=ex,
            acct=acct,
            policy=self.policy.name,
            seed=self.seed,
            placement=self.placement,
            end_s=end,
            round_times=loop.round_times,
            events=events,
            wall_s=time.perf_counter() - wall0,
        )

    def _failure_pools(self) -> list[list[int]]:
        """Pools each scheduled failure takes down."""
        t = self.tables
        out = []
        for f in self.scenario.failures:
            site = t.site_ids.index(f.site)
            out.append(
                [
                    p
                    for p in range(t.n_pools)
                    if t.pool_site[p] == site
                    and (f.accelerator is None or t.acc_ids[t.pool_acc[p]] == f.accelerator)
                ]
            )
        return out
