"""Deep queues (issue 18, item 5): ``backfill``, ``las`` and ``suanli`` do less work per round
than they did, and decide exactly as they did.

Each policy is simulated against a reference that does the same work the plain way (the
previous implementations, kept here): EASY backfilling scanning every job and recomputing
the reservation each pass; ``las`` ranking every running job of a pool before preempting;
``suanli`` explaining every job that waits on its own. The runs must agree on every start,
finish, preemption, placement and reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import takewhile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suanli.policy.suanli as suanli_mod
from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput, PolicyOutput, Start
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.backfill import Backfill, beside, reservation
from suanli.policy.common import IN_ORDER, JobScan, explain
from suanli.policy.freed import Freed
from suanli.policy.las import Las
from suanli.policy.registry import make_policy
from suanli.policy.suanli.classes import JobClass
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0


# -- the plain implementations ---------------------------------------------------------------
class PlainBackfill(Backfill):
    """EASY backfilling as it was: every pass scans the queue and asks the capacity about
    every candidate of every job."""

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        out = PolicyOutput(default_reason="waiting: cannot start without delaying the head")
        cap = inp.capacity
        jobs = inp.jobs
        head = -1
        for j in inp.waiting:
            tenant = jobs.tenant[j]
            for c in jobs.candidates(j):
                if cap.why_not(tenant, c) is None:
                    cap.take(tenant, c)
                    out.starts.append(Start(j, c, IN_ORDER))
                    break
            else:
                head = j
                break
        if head < 0:
            return out
        if out.starts:
            out.reasons[head] = "head of the queue: " + explain(inp, head)
            out.again = True
            return out
        if inp.full or head in inp.arrived:
            out.reasons[head] = "head of the queue: " + explain(inp, head)
        if not inp.full and not inp.arrived:
            return out
        plan = _PlainReservation(inp, head, out)
        scan = JobScan(inp, freed=inp.freed if inp.full else 0)
        for n, j in enumerate(scan):
            if n >= self.depth:
                break
            if j == head:
                continue
            slot, fitted, why = _plain_slot(inp, j, plan)
            if slot is not None:
                cap.take(jobs.tenant[j], slot)
                out.starts.append(Start(j, slot, f"backfilled ahead of job {jobs.ids[head]}{why}"))
            elif not fitted:
                scan.skip(jobs.signature(j))
        return out


def _plain_slot(
    inp: PolicyInput, j: int, plan: _PlainReservation
) -> tuple[Candidate | None, bool, str]:
    cap = inp.capacity
    tenant = inp.jobs.tenant[j]
    fitted = False
    for c in inp.jobs.candidates(j):
        if cap.why_not(tenant, c) is not None:
            continue
        fitted = True
        res = plan.get()
        if res is None:
            return c, True, ", which has no reservation (quota-bound, or no room in sight)"
        why = beside(inp, j, c, res)  # the rule itself is not what this checks
        if why is not None:
            return c, True, why
    return None, fitted, ""


class _PlainReservation:
    def __init__(self, inp: PolicyInput, head: int, out: PolicyOutput) -> None:
        self.inp, self.head, self.out = inp, head, out
        self.done = False
        self.res: Any = None

    def get(self) -> Any:
        if not self.done:
            self.done = True
            self.res = reservation(self.inp, self.head)
            if self.res is not None:
                self.out.reasons[self.head] = (
                    f"head of the queue, reserved on {self.inp.tables.pool_label(self.res.pool)} "
                    f"from t={self.res.time_s:,.0f} s: " + explain(self.inp, self.head)
                )
        return self.res


class PlainLas(Las):
    """``las`` ranking every eligible running job of a pool, checking each every time, and
    trying every job."""

    def eligible(self, inp: PolicyInput, r: int) -> bool:
        run = inp.running[r]
        if not run.preemptible or self.preempted.get(r, 0) >= self.p.max_preemptions:
            return False
        computing = inp.now - run.compute_start_s
        if computing < 0 or computing < self.min_run(inp, r):
            return False
        interval = inp.jobs.checkpoint_s[r]
        return interval <= 0 or computing % interval <= self.p.max_loss_s

    def _preempt_for(  # type: ignore[override]
        self,
        inp: PolicyInput,
        j: int,
        prio: tuple[int, float, int],
        touched: set[int],
        victims: set[int],
        ranked: dict[int, Any],
        nofit: Any = None,
    ) -> tuple[Candidate, list[int]] | None:
        tenant = inp.jobs.tenant[j]
        for c in inp.jobs.candidates(j):
            if c.pool in touched:
                continue
            if inp.capacity.why_not(tenant, c) != "devices":
                continue
            order = ranked.get(c.pool)
            if order is None:
                order = ranked[c.pool] = sorted(
                    (
                        (self.priority(inp, r), r)
                        for r in inp.running_on(c.pool)
                        if self.eligible(inp, r)
                    ),
                    reverse=True,
                )
            lower = [
                (pr, r)
                for pr, r in takewhile(lambda x: x[0][0] > prio[0], order)
                if r not in victims
            ]
            if not lower:
                continue
            freed = Freed(inp, c.pool)
            chosen: list[int] = []
            for _, r in lower:
                chosen.append(r)
                freed.stop(r)
                if freed.fits(c) and self._power_and_quota_ok(inp, j, c, chosen):
                    return c, chosen
        return None


def _plain_classes(
    inp: PolicyInput, considered: Iterable[int], keys: object = None
) -> list[JobClass]:
    """``build_classes`` as it was before each job's class key was kept between rounds
    (``keys`` unused)."""
    jobs = inp.jobs
    now = inp.now
    by_key: dict[tuple[int, int, int], JobClass] = {}
    for j in considered:
        cands = jobs.candidates(j)
        remaining = inp.remaining(j)
        best = max(c.rate for c in cands)
        bucket = math.floor(math.log2(max(remaining / best / 3600.0, 1e-3)))
        key = (jobs.signature(j), jobs.tenant[j], bucket)
        cls = by_key.get(key)
        if cls is None:
            cls = by_key[key] = JobClass(jobs.tenant[j], key[0], cands)
        cls.jobs.append(j)
        cls.remaining += remaining
        cls.wait_s += now - jobs.submit[j]
        dl = jobs.deadline[j]
        if dl is not None:
            cls.deadline_s = min(cls.deadline_s, dl)
        cls.deferrable &= jobs.deferrable[j]
        cls.resumed |= inp.resumed(j)
    out = list(by_key.values())
    for cls in out:
        cls.remaining /= cls.n
        cls.wait_s /= cls.n
    return out


class _PlainExplainer:
    def __init__(self, inp: PolicyInput, fallback: str = "") -> None:
        self.inp, self.fallback = inp, fallback

    def __call__(self, j: int) -> str:
        return explain(self.inp, j, self.fallback)


# -- running both ----------------------------------------------------------------------------
def outcome(r: SimResult) -> tuple[Any, ...]:
    """Everything the policy decided, as the run recorded it."""
    return (
        r.first_start.tolist(),
        r.finish.tolist(),
        r.preemptions.tolist(),
        r.last_pool.tolist(),
        r.last_devices.tolist(),
        sorted(r.reasons.items()),
        r.start_why,
        [(s.job, s.start_s, s.end_s, s.end) for s in r.stretches],
    )


def both(
    name: str, sc: Scenario, jobs: list[Job], monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The run under the policy and under its plain reference."""
    fast = Simulator(sc, jobs, make_policy(name), drain=True).run()
    params = make_policy(name)
    if name == "backfill":
        plain: Any = PlainBackfill(params.Params(), None)  # type: ignore[attr-defined]
    elif name == "las":
        plain = PlainLas(params.p, None)  # type: ignore[attr-defined]
    else:
        monkeypatch.setattr(suanli_mod, "Explainer", _PlainExplainer)
        monkeypatch.setattr(suanli_mod, "build_classes", _plain_classes)
        plain = make_policy(name)
    ref = Simulator(sc, jobs, plain, drain=True).run()
    monkeypatch.undo()
    return outcome(fast), outcome(ref)


def fleet(power_mw: float = 10.0, failures: list[dict[str, Any]] | None = None) -> Scenario:
    """Two sites: 16 H100 (power-capped as asked) and 16 Ascend 910B."""
    return scenario(
        [
            site("a", [(H100, 16)], cap_mw=power_mw, max_power_oversubscription=2.0),
            site("b", [(ASCEND, 16)], lat=31.0, lon=121.0),
        ],
        hours=24 * 6,
        tenants=[{"id": "t", "name": "T"}, {"id": "u", "name": "U"}],
        failures=failures or [],
    )


def deep_queue(n: int, seed: int) -> list[Job]:
    """``n`` jobs arriving within two hours: most wait, the queue is deep."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        gang = int(rng.choice([1, 1, 2, 4, 8, 16]))
        out.append(
            job(
                f"j{k}",
                float(rng.uniform(0, 2 * HOUR)),
                gang,
                float(rng.uniform(0.05, 6.0)) * HOUR,
                tenant=str(rng.choice(["t", "u"])),
                checkpoint_interval_s=float(rng.choice([0.0, 600.0, HOUR])),
                restart_cost_s=float(rng.choice([0.0, 60.0, 300.0])),
            )
        )
    return out


@pytest.mark.parametrize("name", ["backfill", "las", "suanli"])
def test_deep_queue_decides_as_the_plain_policy(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, ref = both(name, fleet(), deep_queue(160, seed=7), monkeypatch)
    assert fast == ref


def test_requeued_jobs_decide_as_the_plain_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # nodes fail under running jobs: they wait again with less work left and a restart
    # to pay, which the classes kept between rounds must see (``PolicyInput.requeued``)
    failures = [
        {"site": s, "at_hour": h, "hours": 1.0, "nodes": 1}
        for s, h in (("a", 0.5), ("b", 1.2), ("a", 2.5), ("b", 4.0), ("a", 6.0))
    ]
    sc = fleet(failures=failures)
    fast, ref = both("suanli", sc, deep_queue(160, seed=5), monkeypatch)
    assert fast == ref
    assert sum(fast[2]) > 5  # jobs were requeued


@pytest.mark.parametrize("name", ["backfill", "las"])
def test_power_capped_deep_queue_decides_as_the_plain_policy(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # about 10 H100 under the cap: power, not devices, often blocks the head
    fast, ref = both(name, fleet(power_mw=0.008), deep_queue(120, seed=11), monkeypatch)
    assert fast == ref


_JOB = st.tuples(
    st.floats(0, 4 * HOUR),  # submit
    st.sampled_from([1, 2, 4, 8, 16]),  # gang
    st.floats(0.02, 8.0),  # hours on H100
    st.sampled_from(["t", "u"]),
    st.sampled_from([0.0, 600.0, HOUR]),  # checkpoint interval
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["backfill", "las", "suanli"]),
    specs=st.lists(_JOB, min_size=1, max_size=40),
    power_mw=st.sampled_from([10.0, 0.008]),
)
def test_random_queues_decide_as_the_plain_policy(
    name: str, specs: list[tuple[float, int, float, str, float]], power_mw: float
) -> None:
    jobs = [
        job(f"j{k}", s, g, h * HOUR, tenant=t, checkpoint_interval_s=c, restart_cost_s=60.0)
        for k, (s, g, h, t, c) in enumerate(specs)
    ]
    with pytest.MonkeyPatch.context() as mp:
        fast, ref = both(name, fleet(power_mw), jobs, mp)
    assert fast == ref
