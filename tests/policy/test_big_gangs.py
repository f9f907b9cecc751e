"""No starvation of big gangs under ``suanli`` (issue 13; docs/scheduler.md, "Big gangs and
starvation"): the reservation made for a long-blocked class is kept between rounds until its
job starts, so small jobs arriving between the ticks cannot backfill past it; and a pool
free now where the class would end no later than on the pool it would be reserved is taken
at once, worth taking yet or not.

One site of 16 H100 (two nodes of 8). Small jobs of 2 devices arrive every 500 s for 12 h,
alternately 45 and 75 min long (0.9 of the fleet); ``big`` (16 devices, 2 h) arrives at
100 s, while the fleet is filling. Worked out by hand:

* ``backfill`` (EASY) reserves for ``big`` at once, at the head of the queue: it starts at
  4,500 s, when ``s00`` (0 s, 75 min) ends; only ``s01`` and ``s03`` (45 min) backfilled
  before it (a wait of 1.22 h);
* ``suanli`` starts the small jobs that fit while ``big`` waits; it reserves for ``big`` at
  the tick of 2,100 s (it has waited ``reserve_after_s``, 1,800 s, and fits nowhere), the
  pool from 6,500 s, when ``s04`` (2,000 s, 75 min) ends; every small job after that starts
  only if it ends by 6,500 s, in every round (``s07``, 3,500 s, 45 min, does), so ``big``
  starts at 6,500 s (1.78 h, 1.45 × backfill's);
* without the kept reservation (the rule switched off), the small jobs that arrive between
  the ticks start in rounds that do not consider ``big`` and run past its reservation, which
  slides on and on: ``big`` starts only when the arrivals stop, after 12.6 h.
"""

from __future__ import annotations

from typing import Any

import pytest

from suanli.core.policy import PolicyInput, PolicyOutput
from suanli.model.job import Job
from suanli.policy.registry import make_policy
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0
BIG_SUBMIT = 100.0


def workload(big: bool = True) -> list[Job]:
    """The small jobs (module docstring) and, with ``big``, the 16-device gang."""
    jobs = [
        job(f"s{i:02d}", i * 500.0, 2, (0.75 if i % 2 else 1.25) * HOUR)
        for i in range(int(12 * HOUR / 500))
    ]
    if big:
        jobs.append(job("big", BIG_SUBMIT, 16, 2 * HOUR))
    return sorted(jobs, key=lambda j: j.submit_s)


def simulate(policy: str, jobs: list[Job], *, keep: bool = True) -> tuple[SimResult, list[Any]]:
    """Run ``jobs`` on 16 H100 under ``policy``; ``keep=False`` switches the kept
    reservation of ``suanli`` off. Also every round's ``(now, output)``."""
    sc = scenario([site("a", [(H100, 16)])], hours=24)
    p = make_policy(policy)
    rounds: list[tuple[float, PolicyOutput]] = []
    if policy == "suanli":
        if not keep:
            p._hold = lambda inp, levels, pr: None  # type: ignore[attr-defined]
        decide = p.decide

        def recorded(inp: PolicyInput) -> PolicyOutput:
            out = decide(inp)
            rounds.append((inp.now, out))
            return out

        p.decide = recorded  # type: ignore[method-assign]
    return Simulator(sc, jobs, p, verify=True).run(), rounds


def wait_h(r: SimResult, jid: str) -> float:
    j = r.jobs.ids.index(jid)
    return float(r.first_start[j] - r.jobs.submit_array()[j]) / HOUR


def test_backfill_reserves_for_the_big_gang_at_once() -> None:
    r, _ = simulate("backfill", workload())
    assert wait_h(r, "big") == pytest.approx((4500.0 - BIG_SUBMIT) / HOUR)  # 1.22 h


def test_without_the_kept_reservation_the_big_gang_starves() -> None:
    r, _ = simulate("suanli", workload(), keep=False)
    assert wait_h(r, "big") > 12.0  # until the small jobs stop arriving


def test_the_kept_reservation_is_honoured_and_bounds_the_wait() -> None:
    r, rounds = simulate("suanli", workload())
    big = r.jobs.ids.index("big")
    reserved = [(now, out.reasons[big]) for now, out in rounds if big in out.reasons]
    reserved = [(now, why) for now, why in reserved if why.startswith("reserved")]
    first_at, why = reserved[0]
    assert first_at == pytest.approx(2100.0)  # the first tick after reserve_after_s
    assert "from t=6,500 s" in why
    assert all("from t=6,500 s" in w for _, w in reserved)  # never slides
    assert r.first_start[big] == pytest.approx(6500.0)
    # every start on the pool after the reservation ends by its time
    submit = r.jobs.submit_array()
    for j in range(len(r.jobs)):
        if j != big and first_at < r.first_start[j] < 6500.0:
            assert r.finish[j] <= 6500.0 + 1e-6, r.jobs.ids[j]
    back, _ = simulate("backfill", workload())
    assert wait_h(r, "big") <= 1.5 * wait_h(back, "big")
    # the metric sees it too: the 9-32 bucket is 'big' alone
    (bucket,) = [b for b in compute_metrics(r)["wait_by_gang"] if b["gangs"] == "9-32"]
    assert bucket["jobs"] == 1
    assert bucket["mean_wait_h"] == pytest.approx((6500.0 - submit[big]) / HOUR)


def test_without_a_reservation_the_decisions_are_unchanged() -> None:
    # The small jobs alone never wait reserve_after_s, so no reservation is made and the
    # kept one never applies: the same starts, placements and finishes with it off.
    on, rounds = simulate("suanli", workload(big=False))
    off, _ = simulate("suanli", workload(big=False), keep=False)
    assert not any(why.startswith("reserved") for _, out in rounds for why in out.reasons.values())
    assert on.first_start.tolist() == off.first_start.tolist()
    assert on.finish.tolist() == off.finish.tolist()
    assert on.last_pool.tolist() == off.last_pool.tolist()


def test_the_reservation_goes_where_the_gang_would_end_first() -> None:
    # 'hog' holds the 16 H100 for 20 h; the 16 Ascend 910B2 (0.36 × as fast) are idle.
    # 'big' (16 devices, 10 h on H100, 27.9 h on the Ascend) is not worth starting on the
    # Ascend at first (patience θ = ½: not until it has waited 4 h). At the tick of 2,100 s
    # it has waited reserve_after_s and fits on no pool worth taking: reserved on the H100
    # it would end at 20 + 10 = 30 h, on the Ascend, free now, at 0.58 + 27.9 = 28.5 h, so
    # it starts on the Ascend at once; it moves to the H100 when 'hog' ends, and ends
    # before backfill's run (started at once on the Ascend) does.
    sc = scenario([site("a", [(H100, 16)]), site("b", [(ASCEND, 16)])], hours=72)
    jobs = [job("hog", 0.0, 16, 20 * HOUR), job("big", 60.0, 16, 10 * HOUR)]
    r = Simulator(sc, jobs, make_policy("suanli"), verify=True).run()
    back = Simulator(sc, jobs, make_policy("backfill"), verify=True).run()
    assert r.first_start[1] == pytest.approx(2100.0)
    first = min((s for s in r.stretches if s.job == 1), key=lambda s: s.start_s)
    assert r.tables.pool_label(first.pool) == "huawei_ascend_910b2 at b"
    assert first.start_s == pytest.approx(2100.0)
    assert back.first_start[1] == pytest.approx(60.0)
    assert r.finish[1] < back.finish[1]
