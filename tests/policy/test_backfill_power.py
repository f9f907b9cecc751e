"""EASY backfilling with the site's power in the reservation (:mod:`suanli.policy.backfill`).

One site capped at 6,000 W (oversubscribed: its pools could draw 12,000 W), with a pool of
8 H100 (one node; 5,600 W for all 8) and one of 16 Ascend 910B2 (800 W per job of 2).
Small Ascend jobs of 2 devices arrive every 300 s for 8 h, each 1.4 h long; ``big`` (8
H100, 1 h) arrives at 100 s. Worked out by hand:

* at 100 s ``s00`` (0 s) draws 800 W: 5,200 W are left, less than ``big``'s 5,600 W, so it
  is the blocked head though its devices are free. Its reservation is at ``s00``'s end,
  when 6,000 W are left (``t_w``), with 400 W to spare — less than a small job's 800 W, so
  no small job that would run past it starts, and ``big`` starts when ``s00`` ends;
* with the reservation on devices alone (as before), ``big`` was reserved "now" with no
  power counted, and the small jobs on the other pool took every 800 W that an end freed,
  one at a time: ``big`` waited until they stopped coming.
"""

from __future__ import annotations

import pytest

from suanli.core.accounting import Accounting
from suanli.core.events import EventQueue
from suanli.core.jobtable import JobTable
from suanli.core.state import SchedulingState
from suanli.core.tables import build_tables
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy import backfill
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0
#: Seconds on H100 of a small job that runs 1.4 h on two Ascend 910B2.
SMALL_S = 1.4 * HOUR * 0.70778 / (2 * 0.9894)


def fleet_and_jobs() -> tuple[Scenario, list[Job]]:
    sc = scenario(
        [site("a", [(H100, 8), (ASCEND, 16)], cap_mw=0.006, max_power_oversubscription=2.0)],
        hours=24,
    )
    small = [
        job(f"s{i:02d}", i * 300.0, 2, SMALL_S, accepted_types=(ASCEND,))
        for i in range(int(8 * HOUR / 300))
    ]
    big = job("big", 100.0, 8, HOUR, accepted_types=(H100,))
    return sc, sorted([*small, big], key=lambda j: j.submit_s)


def run(policy: str = "backfill") -> SimResult:
    sc, jobs = fleet_and_jobs()
    return Simulator(sc, jobs, make_policy(policy), verify=True).run()


def test_a_head_held_back_by_power_is_reserved_when_the_power_frees() -> None:
    r = run()
    ids = r.jobs.ids
    big, s00 = ids.index("big"), ids.index("s00")
    assert r.finish[s00] == pytest.approx(1.4 * HOUR, rel=1e-3)
    assert r.first_start[big] == pytest.approx(r.finish[s00])  # not after the stream ends
    # nothing that started after big arrived and before it started ran past its start,
    # except within the power the reservation left (400 W: no 800 W job fits)
    for j in range(len(ids)):
        if j != big and 100.0 < r.first_start[j] < r.first_start[big]:
            assert r.finish[j] <= r.first_start[big] + 1e-6, ids[j]


def test_without_power_in_the_reservation_the_head_starves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same run with the reservation's power check switched off (its time from devices
    alone, every watt spare), as backfilling was: the small jobs keep the power."""
    monkeypatch.setattr(backfill, "_site_ends", lambda inp, site: iter([(0.0, 1e12)]))
    monkeypatch.setattr(backfill, "spare_power", lambda inp, res: float("inf"))
    r = run()
    big = r.jobs.ids.index("big")
    assert r.first_start[big] > 8 * HOUR  # until the small jobs stop coming


def test_earliest_fit_waits_for_the_power_by_hand() -> None:
    """A state at 100 s of the run above: ``s00`` running (800 W, ends at 1.4 h); ``big``'s
    devices are free now, its 5,600 W are not (5,200 W left): reserved at ``s00``'s end,
    400 W to spare there; all 8 H100 are ``big``'s (0 spare devices)."""
    sc, jobs = fleet_and_jobs()
    tables = build_tables(sc)
    jt = JobTable(jobs, tables)
    st = SchedulingState(tables, jt, EventQueue(), Accounting(tables, 24))
    s00, big = jt.ids.index("s00"), jt.ids.index("big")
    st.arrive(s00)
    st.apply(make_policy("fifo").decide(st.snapshot(0.0, full=True)), 0.0)
    st.arrive(big)
    inp = st.snapshot(100.0, full=True)
    (cand,) = jt.candidates(big)
    assert inp.capacity.why_not(jt.tenant[big], cand) == "power"
    res = backfill.earliest_fit(inp, cand)
    assert res is not None
    assert res.time_s == pytest.approx(inp.running[s00].expected_end_s)
    assert res.spare == 0 and res.need_w == pytest.approx(5600.0)
    assert res.spare_w == pytest.approx(5200.0 - 5600.0) and not res.exact  # a lower bound
    assert backfill.spare_power(inp, res) == pytest.approx(6000.0 - 5600.0)  # s00's 800 W
    assert res.exact and backfill.spare_power(inp, res) == pytest.approx(400.0)  # once
