"""One core, two clocks: run the same jobs through the simulator and through the live
control plane driven by a stepped clock, and record what the policy saw and decided.

The live side is the real :class:`~suanli.control.service.LiveControl` on a SQLite
database, with ``dry-run`` sites that run each job for its modelled time
(``time_scale: 1``), all on one :class:`~suanli.clock.SteppedClock`. Jobs are submitted
through the job store as the API does, at their submit times; the clock steps to every
instant at which something is due — a submission, a site's job changing state, a timer of
the scheduling state, a tick or an hour boundary — and at each one the sites are listed,
their answers reconciled and the loop stepped (:meth:`LiveControl.step`).

A :class:`Recorder` around each side's policy writes down, for every round, a canonical
:func:`view` of the :class:`~suanli.core.policy.PolicyInput` and the decisions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from suanli.clock import SteppedClock
from suanli.control.service import LiveControl, LoopSettings
from suanli.core.invariants import check_invariants
from suanli.core.jobtable import JobTable
from suanli.core.policy import Policy, PolicyInput, PolicyOutput
from suanli.core.serving import ServingDecision, ServingInput, ServingPolicy
from suanli.core.sharing import DEFAULT_PLACEMENT, pool_requests
from suanli.core.tables import build_tables
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy, make_serving_policy
from suanli.sim.engine import Simulator
from suanli.sites.dryrun import DryRunSettings, DryRunSite
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.tenants import TenantStore


def _index(_inp: PolicyInput, j: int) -> Any:
    return j


#: How a view names job *j*: by its index (the default), or by a name both sides share.
Namer = Callable[[PolicyInput, int], Any]


def _sig(inp: PolicyInput, s: int, name: Namer) -> Any:
    """Signature *s* by its id, or (jobs named) by its candidates: the ids follow the
    order jobs joined the table, which replicas change."""
    return s if name is _index else inp.jobs.sig_candidates[s]


def view(inp: PolicyInput, name: Namer = _index) -> tuple[Any, ...]:
    """Everything a policy can read from ``inp``, as comparable values (jobs named by
    ``name``)."""
    t = inp.tables
    cap = inp.capacity
    waiting = tuple(name(inp, j) for j in inp.waiting)
    running = tuple(
        sorted(
            (
                name(inp, j),
                r.candidate,
                r.started_s,
                r.compute_start_s,
                r.expected_end_s,
                r.preemptible,
                r.nodes,
                inp.nodes_of(j),
                inp.share_of(j),
            )
            for j, r in inp.running.items()
        )
    )
    seen = sorted(set(inp.waiting) | set(inp.running))
    jt = inp.jobs
    per_job = tuple(
        sorted(
            (
                name(inp, j),
                jt.submit[j],
                jt.work[j],
                inp.remaining(j),
                inp.attained(j),
                inp.resumed(j),
            )
            for j in seen
        )
    )
    pools = tuple(
        (
            tuple(cap.hist(p)),
            cap.free_amount(p),
            tuple(sorted(name(inp, j) for j in inp.running_on(p))),
            tuple(sorted((end, name(inp, j)) for end, j in inp.ending_on(p))),
        )
        for p in range(t.n_pools)
    )
    return (
        ("now", inp.now, "hour", inp.hour, "full", inp.full),
        ("freed", None if inp.full else inp.freed),
        ("arrived", tuple(sorted(name(inp, j) for j in inp.arrived))),
        ("requeued", tuple(sorted(name(inp, j) for j in inp.requeued))),
        ("waiting", waiting),
        (
            "by signature",
            tuple(
                sorted(
                    (
                        (_sig(inp, s, name), tuple(name(inp, j) for j in inp.waiting_of(s)))
                        for s in inp.waiting_sigs
                    ),
                    key=repr,
                )
            ),
        ),
        (
            "by priority level",
            tuple((lv, tuple(name(inp, j) for j in js)) for lv, js in inp.waiting_levels()),
        ),
        ("running", running),
        ("submit, work, remaining, attained, resumed", per_job),
        ("data replicas", tuple(sorted(inp.replicas))),
        ("pools", pools),
        ("power headroom", tuple(cap.power_headroom_w(s) for s in range(len(t.site_ids)))),
        ("tenant milli", tuple(inp.tenant_milli)),
        ("quota usage", tuple(cap.state.quota_usage)),
    )


def decisions(
    out: PolicyOutput, inp: PolicyInput | None = None, name: Namer = _index
) -> tuple[Any, ...]:
    """A round's decisions as comparable values (jobs named by ``name``)."""
    n = (lambda j: j) if inp is None else (lambda j: name(inp, j))
    return (
        ("starts", tuple((n(s.job), s.candidate, s.reason) for s in out.starts)),
        ("preempts", tuple((n(p.job), p.reason) for p in out.preempts)),
        ("migrates", tuple((n(m.job), m.candidate, m.reason) for m in out.migrates)),
        ("defers", tuple((n(d.job), d.until_s, d.reason) for d in out.defers)),
        ("resizes", tuple((n(z.job), z.candidate, z.reason) for z in out.resizes)),
        ("reasons", tuple(sorted((n(j), r) for j, r in out.reasons.items()))),
        (
            "sig reasons",
            tuple(
                sorted(
                    (
                        (s if inp is None else _sig(inp, s, name), r)
                        for s, r in out.sig_reasons.items()
                    ),
                    key=repr,
                )
            ),
        ),
        ("default", out.default_reason, "again", out.again),
    )


@dataclass(frozen=True)
class Round:
    """One call of a policy: what it saw and what it decided."""

    view: tuple[Any, ...]
    decisions: tuple[Any, ...]


@dataclass
class Recorder:
    """A policy that records every round of the policy it wraps."""

    policy: Policy
    rounds: list[Round] = field(default_factory=list)
    namer: Namer = _index

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def tick_s(self) -> float:
        return self.policy.tick_s

    @property
    def moves_jobs(self) -> bool:
        return bool(getattr(self.policy, "moves_jobs", False))

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        seen = view(inp, self.namer)
        out = self.policy.decide(inp)
        self.rounds.append(Round(seen, decisions(out, inp, self.namer)))
        return out


@dataclass
class ServingRecorder:
    """A serving policy that records every tick of the one it wraps (replicas and
    preempted jobs named by ``label(job index)``)."""

    policy: ServingPolicy
    label: Callable[[int], str]
    rounds: list[Round] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def tick_s(self) -> float:
        return self.policy.tick_s

    def decide(self, inp: ServingInput) -> ServingDecision:
        lb = self.label
        seen = (
            ("now", inp.now),
            (
                "replicas",
                tuple(
                    (k, p, tuple(lb(j) for j in pool), inp.ready[k][p])
                    for k, svc in enumerate(inp.live)
                    for p, pool in enumerate(svc)
                    if pool
                ),
            ),
            ("observed", tuple(tuple(map(tuple, o.tolist())) for o in inp.observed)),
            ("free", tuple(inp.capacity.free_amount(p) for p in range(inp.fleet.n_pools))),
        )
        out = self.policy.decide(inp)
        dec = (
            ("preempt", tuple((lb(j), why) for j, why in out.preempt)),
            ("drain", tuple((lb(j), why) for j, why in out.drain)),
            ("add", tuple((a.service, a.pool, a.count, a.reason) for a in out.add)),
            ("short", tuple(sorted(out.short.items()))),
        )
        self.rounds.append(Round(seen, dec))
        return out


def spec_of(job: Job) -> dict[str, Any]:
    """The stored spec of a job as the API writes it (deadline as POSIX seconds: the
    scenario starts at 0)."""
    if job.device_fraction < 1.0 or job.measured_pflops or job.speedup:
        raise ValueError(f"job {job.id}: the API takes no shares or measured speeds")
    return dict(
        kind=job.kind.value,
        profile=job.profile,
        gang=job.gang,
        gang_max=job.gang_max,
        gang_min=job.gang_min,
        work_pflop=job.work_pflop,
        accepted_types=list(job.accepted_types),
        types_ordered=job.types_ordered,
        accepted_stacks=list(job.accepted_stacks),
        dataset=job.dataset,
        deadline_at=job.deadline_s,
        deferrable=job.deferrable,
        preemptible=job.preemptible,
        priority=job.priority,
        checkpoint_interval_s=job.checkpoint_interval_s,
        restart_cost_s=job.restart_cost_s,
    )


@dataclass
class Seen:
    """The job table a recorder last saw (to name jobs at a serving tick)."""

    ids: Sequence[str] = ()


def simulate(
    sc: Scenario,
    jobs: Sequence[Job],
    policy: str,
    placement: str = DEFAULT_PLACEMENT,
    serving: str | None = None,
    serving_rounds: list[Round] | None = None,
) -> list[Round]:
    """The simulator's rounds (with ``serving``, jobs named by their ids, the services
    started cold as the live control plane starts them, and the serving policy's ticks
    appended to ``serving_rounds``)."""
    if serving is None:
        rec = Recorder(make_policy(policy, sc.policy_params.get(policy)))
        Simulator(sc, jobs, rec, placement=placement, verify=True).run()
        return rec.rounds
    seen = Seen()

    def named(inp: PolicyInput, j: int) -> str:
        seen.ids = inp.jobs.ids
        return str(inp.jobs.ids[j])

    rec = Recorder(make_policy(policy, sc.policy_params.get(policy)), namer=named)
    srec = ServingRecorder(
        make_serving_policy(serving, sc.policy_params.get(f"serving/{serving}")),
        lambda j: str(seen.ids[j]),
    )
    Simulator(
        sc, jobs, rec, placement=placement, verify=True, serving=srec, warm_services=False
    ).run()
    if serving_rounds is not None:
        serving_rounds.extend(srec.rounds)
    return rec.rounds


def run_live(
    sc: Scenario,
    jobs: Sequence[Job],
    policy: str,
    db_path: Path,
    placement: str = DEFAULT_PLACEMENT,
    serving: str | None = None,
    serving_rounds: list[Round] | None = None,
) -> list[Round]:
    """The live control plane's rounds, stepped through every instant something is due
    (with ``serving``: jobs named as the simulator names them — a batch job by its id
    there, a replica by its row's name — and the serving ticks in ``serving_rounds``)."""
    if sc.start.timestamp() != 0.0:
        raise ValueError("the stepped clock needs a scenario that starts at the POSIX epoch")
    clock = SteppedClock(0.0)
    db = Database(f"sqlite:///{db_path}")
    TenantStore(db).ensure(((t.id, t.name, t.weight, t.priority) for t in sc.tenants), "scenario")
    sites = {s.id: DryRunSite(s.id, DryRunSettings(time_scale=1.0), clock) for s in sc.sites}
    # the simulator's target workload for the placement rule: every job of the run
    requests = pool_requests(JobTable(list(jobs), build_tables(sc)))
    ctl = LiveControl(
        db,
        sc,
        dict(sites),
        policy=policy,
        placement=placement,
        requests=requests,
        settings=LoopSettings(poll_s=0.0, sweep_s=math.inf, sample_s=math.inf),
        clock=clock,
        serving=serving,
    )
    store = JobStore(db)
    names: dict[str, str] = {}  # database id → the simulator's name

    def name_of(db_id: str) -> str:
        if db_id not in names:
            row = store.get(int(db_id))
            assert row is not None and row.service_id is not None, db_id
            names[db_id] = row.name
        return names[db_id]

    rec = Recorder(ctl.policy)
    if serving is not None:
        rec.namer = lambda inp, j: name_of(str(inp.jobs.ids[j]))
        assert ctl.serving is not None
        live_serving = ctl.serving
        srec = ServingRecorder(
            live_serving.policy, lambda j: name_of(str(live_serving.book.state.jobs.ids[j]))
        )
        live_serving.policy = srec  # type: ignore[assignment]
    ctl.policy = rec
    ctl.loop.policy = rec
    ctl.recover()
    todo = sorted(jobs, key=lambda j: j.submit_s)
    nxt = 0

    def step(t: float, arrivals: Sequence[Job]) -> None:
        clock.set(t)
        for job in arrivals:
            rec_, _ = store.submit(job.tenant, spec_of(job), "true", at=t)
            names[str(rec_.id)] = job.id
            assert serving or str(rec_.id) == job.id, "number the jobs 1, 2, … in order"
            ctl.submitted(rec_)
        for w in ctl.workers.values():
            w.request_listing()
        ctl.run_sites()  # listings (and what the last step queued) at t
        ctl.step()
        ctl.run_sites()  # this step's submissions, at t
        ctl.step()
        check_invariants(ctl.state)

    step(0.0, [])  # the first (full) round, before anything arrives, as the simulator's
    t = 0.0
    while True:
        arrivals = []
        while nxt < len(todo) and todo[nxt].submit_s == t:
            arrivals.append(todo[nxt])
            nxt += 1
        if arrivals:
            step(t, arrivals)
        due = [ctl.next_due()]
        due += [c for s in sites.values() if (c := s.next_change(t)) is not None]
        if nxt < len(todo):
            due.append(todo[nxt].submit_s)
        t_next = min(due)
        if t_next > sc.horizon_s:
            break
        t = t_next
        if not (nxt < len(todo) and todo[nxt].submit_s == t):
            step(t, [])
    assert not ctl.policy_errors, ctl.policy_errors
    db.dispose()
    if serving is not None and serving_rounds is not None:
        serving_rounds.extend(srec.rounds)
    return rec.rounds


def first_difference(sim: Sequence[Round], live: Sequence[Round]) -> str:
    """Where two recordings part, in words (empty when they agree)."""
    for i, (a, b) in enumerate(zip(sim, live, strict=False)):
        if a == b:
            continue
        for part_a, part_b in zip(a.view + a.decisions, b.view + b.decisions, strict=True):
            if part_a != part_b:
                return (
                    f"round {i} (t = {a.view[0][1]} / {b.view[0][1]}): {part_a[0]} differs\n"
                    f"  simulator: {part_a}\n  live:      {part_b}"
                )
    if len(sim) != len(live):
        return f"the simulator ran {len(sim)} rounds, the live loop {len(live)}"
    return ""


def both(
    sc: Scenario, jobs: Sequence[Job], policy: str, tmp: Path, placement: str = DEFAULT_PLACEMENT
) -> tuple[list[Round], list[Round]]:
    """The simulator's and the live control plane's rounds for the same jobs (numbered
    1, 2, … in submission order on both sides, as the database numbers them, so that
    reasons naming a job read the same)."""
    ordered = [
        replace(job, id=str(k + 1)) for k, job in enumerate(sorted(jobs, key=lambda j: j.submit_s))
    ]
    return (
        simulate(sc, ordered, policy, placement),
        run_live(sc, ordered, policy, tmp / f"live-{policy}.db", placement),
    )


def counts(rounds: Sequence[Round]) -> dict[str, int]:
    """Decisions of each kind over a recording (what a test exercised)."""
    out = {"rounds": len(rounds), "starts": 0, "preempts": 0, "migrates": 0, "defers": 0}
    out["resizes"] = 0
    for r in rounds:
        for part in r.decisions[:5]:
            out[part[0]] += len(part[1])
    return out
