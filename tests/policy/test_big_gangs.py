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
from suanli.model.scenario import Scenario
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


def reasons_of(policy: Any) -> list[tuple[float, dict[int, str]]]:
    """Wrap ``policy.decide`` so that every round's ``(now, reasons)`` is recorded."""
    said: list[tuple[float, dict[int, str]]] = []
    decide = policy.decide

    def recorded(inp: PolicyInput) -> PolicyOutput:
        out = decide(inp)
        said.append((inp.now, dict(out.reasons)))
        return out

    policy.decide = recorded
    return said


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
    # before backfill's run (started at once on the Ascend) does. (Bridging switched off:
    # with it, 'big' starts on the Ascend at 60 s, tests/policy/test_bridge.py.)
    sc = scenario([site("a", [(H100, 16)]), site("b", [(ASCEND, 16)])], hours=72)
    jobs = [job("hog", 0.0, 16, 20 * HOUR), job("big", 60.0, 16, 10 * HOUR)]
    r = Simulator(sc, jobs, make_policy("suanli", {"bridge": False}), verify=True).run()
    back = Simulator(sc, jobs, make_policy("backfill"), verify=True).run()
    assert r.first_start[1] == pytest.approx(2100.0)
    first = min((s for s in r.stretches if s.job == 1), key=lambda s: s.start_s)
    assert r.tables.pool_label(first.pool) == "huawei_ascend_910b2 at b"
    assert first.start_s == pytest.approx(2100.0)
    assert back.first_start[1] == pytest.approx(60.0)
    assert r.finish[1] < back.finish[1]


B200 = "nvidia_b200_hgx"


def test_every_long_waiting_gang_of_a_class_gets_a_pool_of_its_own() -> None:
    # Two 16-device gangs of one class ('g1' at 60 s, 'g2' at 120 s) find both pools full:
    # site a's until 'ha' ends at 5 h, site b's until 'hb' ends at 10 h. Once each has
    # waited reserve_after_s, each is reserved a pool of its own — conservative
    # backfilling, not EASY's single reservation, so 'g2' is not left unprotected while
    # 'g1' waits — and each starts by its reservation ('g2' at 7 h, when 'g1' ends).
    sc = scenario([site("a", [(H100, 16)]), site("b", [(H100, 16)])], hours=24)
    jobs = [
        job("ha", 0.0, 16, 5 * HOUR),
        job("hb", 0.0, 16, 10 * HOUR),
        job("g1", 60.0, 16, 2 * HOUR),
        job("g2", 120.0, 16, 2 * HOUR),
    ]
    p = make_policy("suanli")
    said = reasons_of(p)
    r = Simulator(sc, jobs, p, verify=True).run()
    ids = r.jobs.ids
    g1, g2 = ids.index("g1"), ids.index("g2")
    # the reasons each job is given: its own reservation, on its own pool
    assert any(
        w.get(g1, "").startswith(f"reserved {H100} at a from t=18,000 s")
        and w.get(g2, "").startswith(f"reserved {H100} at b from t=36,000 s")
        for _, w in said
    )
    assert r.first_start[g1] == pytest.approx(5 * HOUR)
    # 'g2' starts by its reservation: at 7 h, on the pool 'g1' leaves (it ends sooner there)
    assert r.first_start[g2] == pytest.approx(7 * HOUR)


def test_a_move_does_not_run_past_a_reservation() -> None:
    # The B200 pool (16) holds 'h1' (8 devices, until 1 h) and 'h2' (8, until 4 h); 'big'
    # (16 B200) arrives at 60 s and is reserved the pool from 4 h. 'mover' (8 devices,
    # 20 h of work on H100) runs on the H100 pool from 10 s (patience 0: it takes the
    # slower type at once). When 'h1' ends at 1 h, moving 'mover' up to the B200 would pay
    # (2.3 × as fast) but it would run past 4 h, so it stays: a move is held to the
    # reservation's window as a start is, and 'big' starts at 4 h. Without the rule the
    # move is made and 'big' waits until 'mover' ends. ('mover' lists its two types as a
    # set: a move up its own list is then no step down a preference.)
    sc = scenario([site("a", [(B200, 16)]), site("b", [(H100, 16)])], hours=48)
    only_b200 = {"accepted_types": (B200,)}
    jobs = [
        job("h1", 0.0, 8, 2.28 * HOUR, **only_b200),  # ~1 h on a B200
        job("h2", 0.0, 8, 9.1 * HOUR, **only_b200),  # ~4 h on a B200
        job("mover", 10.0, 8, 20 * HOUR, accepted_types=(B200, H100), types_ordered=False),
        job("big", 60.0, 16, 4 * HOUR, **only_b200),
    ]
    r = Simulator(sc, jobs, make_policy("suanli", {"patience": 0.0}), verify=True).run()
    ids = r.jobs.ids
    h2_end = r.finish[ids.index("h2")]
    mover = ids.index("mover")
    assert r.first_start[ids.index("big")] == pytest.approx(h2_end, abs=300.0)
    early = [s for s in r.stretches if s.job == mover and s.start_s < h2_end]
    assert all(r.tables.pool_label(s.pool) == f"{H100} at b" for s in early)


def test_a_reservation_lends_its_spare_devices() -> None:
    # 24 H100, three nodes of 8. 'r1' and 'r2' (8 devices each, 2 h) hold two nodes; 'big'
    # (16 devices) arrives at 60 s and finds one node free. At the tick of 2,100 s it has
    # waited reserve_after_s, fits nowhere and is next in line (no other job waits): it is
    # reserved the pool from 7,200 s, when 'r1' and 'r2' end — two of the three nodes it
    # will then find free. 'small' (4 devices, 10 h) arrives at 2,200 s and runs far past
    # 7,200 s, but in devices the reservation leaves spare (the third node): it starts at
    # once, as EASY backfilling lets it, and 'big' still starts at 7,200 s. Holding the
    # whole pool (before) kept 'small' waiting until 'big' had started.
    sc = scenario([site("a", [(H100, 24)])], hours=24)
    jobs = [
        job("r1", 0.0, 8, 2 * HOUR),
        job("r2", 0.0, 8, 2 * HOUR),
        job("big", 60.0, 16, 3 * HOUR),
        job("small", 2200.0, 4, 10 * HOUR),
    ]
    p = make_policy("suanli")
    said = reasons_of(p)
    r = Simulator(sc, jobs, p, verify=True).run()
    ids = r.jobs.ids
    big, small = ids.index("big"), ids.index("small")
    assert any(w.get(big, "").startswith(f"reserved {H100} at a from t=7,200 s") for _, w in said)
    assert r.first_start[small] == pytest.approx(2200.0)
    assert r.first_start[big] == pytest.approx(2 * HOUR)


def test_a_job_not_next_in_line_is_not_reserved() -> None:
    # 8 H100 (one node) busy until 1 h with 'f0'–'f7' (1 device each). 'long' (1 device,
    # 10 h) arrives at 10 s, 's0'–'s7' (1 device, 10 min each) at 20 s. At the tick of
    # 2,100 s 'long' has waited reserve_after_s and fits nowhere, but it is not next in
    # line: the short jobs are worth more (response ratio (a + τ)/τ: 4.5 against 1.06), so
    # it waits by the round's order, not for want of room, and gets no reservation — a
    # reservation would start it before them (first come, first served among the long
    # waiters). The short jobs, next in line, are reserved the pool from 1 h and take the
    # eight devices then; 'long', then the only job waiting, is reserved from 1 h 10 min
    # and starts when they end.
    sc = scenario([site("a", [(H100, 8)])], hours=24)
    jobs = [job(f"f{i}", 0.0, 1, HOUR) for i in range(8)]
    jobs.append(job("long", 10.0, 1, 10 * HOUR))
    jobs += [job(f"s{i}", 20.0, 1, 600.0) for i in range(8)]
    p = make_policy("suanli")
    said = reasons_of(p)
    r = Simulator(sc, jobs, p, verify=True).run()
    ids = r.jobs.ids
    long, s0 = ids.index("long"), ids.index("s0")
    before = [w for now, w in said if 2100.0 <= now < HOUR and now % 300.0 == 0.0]  # ticks
    assert len(before) == 5
    assert all(w[s0].startswith(f"reserved {H100} at a from t=3,600 s") for w in before)
    assert not any(w[long].startswith("reserved") for w in before)
    assert any(w.get(long, "").startswith(f"reserved {H100} at a from t=4,200 s") for _, w in said)
    assert all(r.first_start[ids.index(f"s{i}")] == pytest.approx(HOUR) for i in range(8))
    assert r.first_start[long] == pytest.approx(HOUR + 600.0)


def quota_fleet(sites: int, hours: int, **horizon: Any) -> Scenario:
    """``sites`` sites of 16 H100 each; tenant ``u`` may hold 8 devices, ``t`` any."""
    return scenario(
        [site(name, [(H100, 16)]) for name in "ab"[:sites]],
        hours=hours,
        tenants=[
            {"id": "t", "name": "T"},
            {"id": "u", "name": "U", "quotas": [{"max_devices": 8}]},
        ],
        **horizon,
    )


def test_a_quota_bound_class_is_reserved_from_when_its_quota_allows_it() -> None:
    # Tenant 'u' may hold 8 devices. 'u1' (8 devices, 10 h) and 't1' (tenant 't', 8
    # devices, 2 h) fill the 16 H100 at 0 s; 'u2' (u, 8 devices, 1 h) arrives at 60 s and
    # its quota holds it back until 'u1' ends at 10 h, whatever the devices do. It has
    # waited reserve_after_s (30 min) at the tick of 1,860 s and is reserved — from 10 h,
    # when its quota allows it, not from when devices are free (2 h, 't1' ending): so
    # 't2' (8 devices, 1.5 h, at 2.5 h) and 't3' (at 4.5 h) start at once on the devices
    # 't1' left, ending long before 10 h. Reserved where devices were free, as before,
    # those 8 devices stayed idle under the reservation until 10 h and 't2' and 't3' waited
    # for them (the rule below fails so).
    sc = quota_fleet(sites=1, hours=24)
    jobs = [
        job("u1", 0.0, 8, 10 * HOUR, tenant="u"),
        job("t1", 0.0, 8, 2 * HOUR),
        job("u2", 60.0, 8, 1 * HOUR, tenant="u"),
        job("t2", 2.5 * HOUR, 8, 1.5 * HOUR),
        job("t3", 4.5 * HOUR, 8, 1.5 * HOUR),
    ]
    p = make_policy("suanli")
    said = reasons_of(p)
    r = Simulator(sc, jobs, p, verify=True).run()
    start = {jid: float(r.first_start[r.jobs.ids.index(jid)]) for jid in r.jobs.ids}
    assert start["u1"] == start["t1"] == 0.0
    assert start["t2"] == pytest.approx(2.5 * HOUR)
    assert start["t3"] == pytest.approx(4.5 * HOUR)
    assert start["u2"] == pytest.approx(10 * HOUR, abs=60.0)
    u2 = r.jobs.ids.index("u2")
    reserved = [w[u2] for _, w in said if u2 in w and w[u2].startswith("reserved")]
    assert reserved and all(f"{H100} at a from t=36,000 s" in w for w in reserved)


def test_reservations_of_one_tenant_share_its_quota() -> None:
    # As above, on two sites of 16 H100: 'u2' and 'u3' (u, 8 devices, 1 h each) are both
    # held back by u's quota of 8 while 'u1' runs (to 10 h); they can start one after the
    # other, at 10 h and 11 h. Each reservation counts what the ones made before it will
    # take of the quota, so 'u3' is not reserved from 10 h as well: 't4' (8 devices, 7.5 h,
    # at 3 h, ending at 10.5 h) starts at once on the idle devices of the second site
    # instead of waiting under a reservation from 10 h that 'u3' could not use.
    sc = quota_fleet(sites=2, hours=30)
    jobs = [
        job("u1", 0.0, 8, 10 * HOUR, tenant="u"),
        job("t1", 0.0, 8, 2 * HOUR),
        job("t0", 0.0, 16, 2 * HOUR),
        job("u2", 60.0, 8, 1 * HOUR, tenant="u"),
        job("u3", 120.0, 8, 1 * HOUR, tenant="u"),
        *(job(f"t{i}", 3 * HOUR, 8, 7.5 * HOUR) for i in (2, 3, 4)),
    ]
    r = Simulator(sc, jobs, make_policy("suanli"), verify=True).run()
    start = {jid: float(r.first_start[r.jobs.ids.index(jid)]) / HOUR for jid in r.jobs.ids}
    assert start["u2"] == pytest.approx(10.0, abs=0.02)
    assert start["u3"] == pytest.approx(11.0, abs=0.05)
    assert start["t2"] == start["t3"] == start["t4"] == pytest.approx(3.0)
