"""The simulator: the virtual clock and its event heap around the shared scheduling core.

``Simulator(scenario, jobs, policy).run()`` replays the jobs through the policy
and returns a :class:`~suanli.sim.result.SimResult`. The scheduling state, the policy
interface and the control loop are the core's (:mod:`suanli.core`), the same that
``suanli serve`` drives on the wall clock; the simulator only keeps time. Events are
handled in the total order of :mod:`suanli.core.events`: its own (arrivals from the
workload, hour boundaries, policy ticks, the scenario's failures and recoveries) here,
the timers the state set itself by :meth:`~suanli.core.state.SchedulingState.timer`.
After all events at one instant, the control loop runs a scheduling round if anything
changed (an arrival, capacity freed, a failure or recovery), and on every hour (prices
change) and every policy tick. Without ``drain`` the run stops at the end of the horizon
and jobs not done are reported unfinished; with ``drain`` it goes on (prices repeat)
until every job is done or ``drain_factor`` × horizon has passed.

``progress``, when given, is called with the share of the run done — the simulated time
over the end of the run, or with ``drain`` the share of jobs done if that is more — every
:attr:`Simulator.report_events` events or :attr:`Simulator.report_s` seconds of wall time,
whichever comes first, and with 1.0 at the end. It only reads the run, never changes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

from suanli.core.accounting import Accounting
from suanli.core.events import EventKind, EventQueue
from suanli.core.invariants import check_invariants
from suanli.core.jobtable import JobTable
from suanli.core.loop import ControlLoop
from suanli.core.policy import Policy
from suanli.core.serving import ServingPolicy, ServingState
from suanli.core.serving_tables import build_serving_tables
from suanli.core.sharing import DEFAULT_PLACEMENT, placement_rule, pool_requests
from suanli.core.state import SchedulingState
from suanli.core.tables import FleetTables, build_tables
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.sim.result import SimResult

Progress = Callable[[float], None]


class Simulator:
    """A deterministic discrete-event simulation of one policy on one workload."""

    #: Report progress at least every this many events …
    report_events = 5000
    #: … and every this many seconds of wall time (a busy queue makes events slow).
    report_s = 0.25

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
        dispatch_s: Mapping[str, float] | None = None,
        observe: Callable[[SchedulingState, float], None] | None = None,
        serving: ServingPolicy | None = None,
        warm_services: bool = True,
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
        #: Per site id, seconds from a start decision to the job running (default none).
        self.dispatch_s = dict(dispatch_s or {})
        #: Called with the state after every round (read only: an experiment's probe).
        self.observe = observe
        #: Scales the scenario's services (None: the scenario has none, or they are left out).
        self.serving = serving if scenario.services else None
        #: Whether the services were serving before the run began (no cold start at 0).
        self.warm_services = warm_services
        unknown = sorted(set(self.dispatch_s) - set(self.tables.site_ids))
        if unknown:
            raise ValueError(f"dispatch latency for sites not in the scenario: {unknown}")

    def run(self) -> SimResult:
        """Run to the end; return everything measured."""
        wall0 = time.perf_counter()
        tables, jobs = self.tables, self.jobs
        hours = math.ceil(self.end_s / 3600.0)
        acct = Accounting(tables, hours)
        q = EventQueue()
        st = SchedulingState(
            tables, jobs, q, acct, placement=self.placement, requests=pool_requests(jobs)
        )
        st.site_dispatch_s = [self.dispatch_s.get(s, 0.0) for s in tables.site_ids]
        loop = ControlLoop(self.policy, st)
        arrivals = [
            (s, EventKind.ARRIVAL, j, 0) for j, s in enumerate(jobs.submit) if s < self.end_s
        ]
        q.extend(arrivals)
        q.push(3600.0, EventKind.HOUR)
        tick = float(self.policy.tick_s)
        q.push(tick, EventKind.TICK)
        n_jobs = len(jobs)  # batch jobs: replicas join the table as they are placed
        srv = None
        if self.serving is not None:
            srv = ServingState(st, build_serving_tables(tables), q, self.serving.tick_s)
            if self.warm_services:
                srv.warm_start()  # the services were serving before the run began
            else:
                srv.seed(0.0)  # as the live control plane starts: cold
            srv.tick(self.serving, 0.0)
            q.push(self.serving.tick_s, EventKind.SERVE)
        failed: dict[int, list[tuple[int, list[int]]]] = {}
        for i, f in enumerate(self.scenario.failures):
            q.push(f.start_s, EventKind.FAILURE, i)
            q.push(f.start_s + f.duration_s, EventKind.RECOVERY, i)
        pools_at = self._failure_pools()
        st.idle_since(0.0)
        events = 0
        next_report = 0
        next_wall = wall0
        t = 0.0
        loop.run_due(0.0)  # the first round is a full one
        while True:
            t = q.peek_time()
            if t > self.end_s:
                break
            while q.peek_time() == t:
                _, kind, _, a, b = q.pop()
                events += 1
                if kind == EventKind.ARRIVAL:
                    st.arrive(a)
                elif kind == EventKind.HOUR:
                    acct.integrate(t)  # segments never cross an hour (see Accounting)
                    if t + 3600.0 <= self.end_s:
                        q.push(t + 3600.0, EventKind.HOUR)
                    st.request_round(full=True)
                elif kind == EventKind.TICK:
                    q.push(t + tick, EventKind.TICK)
                    st.request_round(full=True)
                elif kind == EventKind.FAILURE:
                    failed[a] = [
                        (p, st.fail_nodes(p, self.scenario.failures[a].nodes, t))
                        for p in pools_at[a]
                    ]
                    st.request_round()
                elif kind == EventKind.RECOVERY:
                    for p, nodes in failed.pop(a, []):
                        st.recover_nodes(p, nodes, t)
                    st.request_round()
                elif kind == EventKind.SERVE:
                    assert srv is not None and self.serving is not None
                    srv.tick(self.serving, t)
                    q.push(t + self.serving.tick_s, EventKind.SERVE)
                elif kind == EventKind.DRAIN:
                    assert srv is not None
                    srv.timer(kind, a, b, t)
                else:  # the state's own timers: compute start, finish, wake, sleep
                    st.timer(kind, a, b, t)
            loop.run_due(t)
            if self.observe is not None:
                self.observe(st, t)
            if self.verify:
                check_invariants(st)
            if self.progress is not None and (
                events >= next_report or time.perf_counter() >= next_wall
            ):
                next_report = events + self.report_events
                next_wall = time.perf_counter() + self.report_s
                self.progress(self._done_share(t, st, n_jobs))
            if (
                self.drain
                and t >= self.horizon_s
                and st.done_count + st.unschedulable_count == n_jobs
            ):
                break
        end = self.end_s if not self.drain else max(self.horizon_s, min(t, self.end_s))
        acct.integrate(end)
        if srv is not None:
            srv.account(srv.last_t, end)
        if self.progress is not None:
            self.progress(1.0)
        return SimResult.collect(
            scenario=self.scenario,
            tables=tables,
            jobs=jobs,
            state=st,
            acct=acct,
            policy=self.policy.name,
            seed=self.seed,
            placement=self.placement,
            end_s=end,
            round_times=loop.round_times,
            events=events,
            wall_s=time.perf_counter() - wall0,
            batch_jobs=n_jobs,
            serving=srv,
            serving_policy=self.serving.name if self.serving is not None else "",
        )

    def _done_share(self, t: float, st: SchedulingState, n_jobs: int) -> float:
        """The share of the run done at ``t``: simulated time over the run's end; while
        draining (whose end comes when the last job is done) the share of jobs done if more."""
        share = t / self.end_s
        if self.drain and n_jobs:
            share = max(share, (st.done_count + st.unschedulable_count) / n_jobs)
        return min(share, 1.0)

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
