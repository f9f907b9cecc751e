"""Bridging under ``suanli`` (issue 13; :mod:`suanli.policy.suanli.bridge`): a gang whose
fast pools are full starts at once on slower devices with room, works there while it
waits, and moves up when the fast pool frees — held for the move, as a reservation holds
a pool — so that a big gang does not queue for hours where ``backfill`` would start it at
once; a short wait for the fast pool is still waited.

Two sites: ``a`` with 16 H100, ``b`` with 16 Ascend 910B2 (about 0.36 × as fast for the
test profile), linked at 100 Gbit/s. Worked out by hand in each test.
"""

from __future__ import annotations

import pytest

from suanli.core.policy import PolicyInput, PolicyOutput
from suanli.model.job import Job
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0


def simulate(
    jobs: list[Job],
    policy: str = "suanli",
    *,
    hold: bool = True,
    ascend: int = 16,
    params: dict[str, float] | None = None,
) -> tuple[SimResult, list]:
    """Run ``jobs`` on the two sites under ``policy`` (with ``params``); ``hold=False``
    drops the hold for a move up after the round that makes it. Also (for ``suanli``) every
    start and move with its time, kind, job and reason."""
    sc = scenario([site("a", [(H100, 16)]), site("b", [(ASCEND, ascend)])], hours=72)
    p = make_policy(policy, params)
    said: list[tuple[float, str, int, str]] = []
    if policy == "suanli":
        if not hold:
            p._hold_move = lambda *a: False  # type: ignore[attr-defined]
        decide = p.decide

        def recorded(inp: PolicyInput) -> PolicyOutput:
            out = decide(inp)
            said.extend((inp.now, "start", s.job, s.reason) for s in out.starts)
            said.extend((inp.now, "move", m.job, m.reason) for m in out.migrates)
            return out

        p.decide = recorded  # type: ignore[method-assign]
    return Simulator(sc, jobs, p, verify=True).run(), said


def stretches(r: SimResult, jid: str) -> list[tuple[str, float, float]]:
    j = r.jobs.ids.index(jid)
    got = sorted((s for s in r.stretches if s.job == j), key=lambda s: s.start_s)
    return [(r.tables.pool_label(s.pool), s.start_s, s.end_s) for s in got]


def test_a_gang_blocked_for_long_works_on_slower_devices_and_moves_up() -> None:
    # 'hog' holds the 16 H100 for 20 h. 'big' (16 devices, 10 h of H100 work) arrives at
    # 60 s: waiting for the H100 it would end at 20 + 10 = 30 h; on the idle Ascend alone
    # at 60 s + 10 h / 0.36 ≈ 27.9 h (backfill's run). Bridged, it starts on the Ascend at
    # once and moves up when 'hog' ends: it keeps its last hourly checkpoint (19 h of
    # Ascend work), pays the checkpoint copy (8 GB at 100 Gbit/s: 0.08 s) and its restart
    # (300 s), and does the rest on the H100 — ending at about 23.3 h.
    jobs = [job("hog", 0.0, 16, 20 * HOUR), job("big", 60.0, 16, 10 * HOUR)]
    r, said = simulate(jobs)
    big = r.jobs.ids.index("big")
    rates = {r.tables.pool_label(c.pool): c.rate for c in r.jobs.candidates(big)}
    rho = rates[f"{ASCEND} at b"] / rates[f"{H100} at a"]
    assert 0.3 < rho < 0.4
    (on, start, moved), (up, again, end) = stretches(r, "big")
    assert (on, start, moved) == (f"{ASCEND} at b", 60.0, pytest.approx(20 * HOUR))
    assert (up, again) == (f"{H100} at a", pytest.approx(20 * HOUR))
    kept_s = 19 * HOUR  # checkpoints every hour of its 19.98 h on the Ascend
    expected = 20 * HOUR + 8 * 8 / 100 + 300.0 + 10 * HOUR - kept_s * rho
    assert end == pytest.approx(expected, abs=1.0)
    assert r.finish[big] == pytest.approx(expected, abs=1.0)
    why = next(w for t, kind, j, w in said if kind == "start" and j == big)
    assert why.startswith("room now, to work while it waits")
    assert f"to move up to {H100} at a (free at t=72,000 s)" in why
    back, _ = simulate(jobs, "backfill")
    assert back.first_start[big] == pytest.approx(60.0)
    assert r.finish[big] < back.finish[big] - 4 * HOUR


def test_a_bridge_takes_only_devices_its_level_left_idle() -> None:
    # 'hog' holds the H100 for 20 h. 'asc' (8 devices, Ascend only, 2 h there) and 'big'
    # (16 devices) arrive at 60 s. The round starts 'asc' on the Ascend, where it is worth
    # running; the 8 devices it leaves cannot hold 'big'. By 1,860 s 'big' has waited
    # reserve_after_s and is reserved the H100 from 20 h; when 'asc' ends (7,260 s) the
    # Ascend is not among the pools 'big' is worth running on, so it is looked at again at
    # the next full round (every 300 s), 7,500 s, where its reservation takes the bridge:
    # on the Ascend, ending at about 24.3 h rather than 30 h on the H100.
    jobs = [
        job("hog", 0.0, 16, 20 * HOUR),
        job("asc", 60.0, 8, 2 * HOUR * 0.3577, accepted_types=(ASCEND,)),
        job("big", 60.0, 16, 10 * HOUR),
    ]
    r, said = simulate(jobs)
    ((_, asc_start, asc_end),) = stretches(r, "asc")
    assert asc_start == 60.0
    (on, start, _), (up, again, _) = stretches(r, "big")
    assert asc_end == pytest.approx(7260.0, abs=1.0)
    assert (on, start) == (f"{ASCEND} at b", 7500.0)
    assert (up, again) == (f"{H100} at a", pytest.approx(20 * HOUR))
    big = r.jobs.ids.index("big")
    assert any(k == "start" and j == big and w.startswith("its reservation") for _, k, j, w in said)
    assert r.finish[big] < 25 * HOUR


def test_the_fast_pool_is_held_for_the_move() -> None:
    # 'hog' holds the H100 until 5 h; 'big' (16 devices, 10 h) bridges on the Ascend at
    # 60 s, its move due at 5 h. Jobs of 4 H100 for 4 h arrive every 10 minutes from 1 h
    # and find no room (the Ascend is taken, the H100 full). When 'hog' ends, each would
    # run far past 5 h on the H100, which is held for the move: 'big' moves up at 5 h and
    # the small jobs start on the Ascend it leaves. With the hold dropped after its first
    # round, the small jobs take the freed H100 first (at 5 h and 9 h) and 'big' stays on
    # the Ascend until they are done, 13 h.
    jobs = [job("hog", 0.0, 16, 5 * HOUR), job("big", 60.0, 16, 10 * HOUR)]
    jobs += [job(f"s{i}", HOUR + 600.0 * i, 4, 4 * HOUR) for i in range(8)]
    r, _ = simulate(jobs)
    (on, _, moved), (up, again, _) = stretches(r, "big")
    assert on == f"{ASCEND} at b" and up == f"{H100} at a"
    assert moved == again == pytest.approx(5 * HOUR)
    firsts = [stretches(r, f"s{i}")[0] for i in range(4)]
    assert all(pool == f"{ASCEND} at b" and t == pytest.approx(5 * HOUR) for pool, t, _ in firsts)
    off, _ = simulate(jobs, hold=False)
    assert stretches(off, "big")[0][::2] == (f"{ASCEND} at b", pytest.approx(13 * HOUR))
    assert stretches(off, "s0")[0][:2] == (f"{H100} at a", pytest.approx(5 * HOUR))


def test_a_second_gang_bridges_unheld_and_moves_up_when_there_is_room() -> None:
    # As the first test, with 32 Ascend: 'big1' (60 s) and 'big2' (120 s) both bridge at
    # once. The H100 pool holds one hold, 'big1''s, so 'big2' runs unheld: 'big1' moves up
    # when 'hog' ends (20 h) and ends at about 23.3 h; 'big2' moves up within the full
    # rounds that follow (every 300 s), when the H100 has room again.
    jobs = [
        job("hog", 0.0, 16, 20 * HOUR),
        job("big1", 60.0, 16, 10 * HOUR),
        job("big2", 120.0, 16, 10 * HOUR),
    ]
    r, said = simulate(jobs, ascend=32)
    (_, s1, m1), (_, a1, end1) = stretches(r, "big1")
    (on2, s2, m2), (up2, a2, _) = stretches(r, "big2")
    assert (s1, s2) == (60.0, 120.0)
    assert m1 == a1 == pytest.approx(20 * HOUR)
    assert (on2, up2) == (f"{ASCEND} at b", f"{H100} at a")
    assert m2 == a2 and end1 < m2 <= end1 + 2 * 300.0
    big2 = r.jobs.ids.index("big2")
    assert any(k == "start" and j == big2 and w.startswith("room now") for _, k, j, w in said)


def test_a_short_wait_for_the_fast_pool_is_waited() -> None:
    # 'hog' frees the H100 at 15 minutes. 'big' (arrives at 60 s) would wait 14 minutes,
    # under reserve_after_s (30 minutes): on the Ascend it could move only after running
    # 30 minutes there (migrate_min_interval_s), so bridging ends later than waiting and
    # it waits for the H100 (backfill would start it on the Ascend at once).
    jobs = [job("hog", 0.0, 16, 0.25 * HOUR), job("big", 60.0, 16, 10 * HOUR)]
    r, said = simulate(jobs)
    assert stretches(r, "big") == [(f"{H100} at a", pytest.approx(900.0), pytest.approx(36900.0))]
    assert not any(kind == "start" and w.startswith("room now") for _, kind, _, w in said)


def test_a_hold_whose_move_cannot_be_made_ends_a_tick_after_it_was_due() -> None:
    # As the hold test, but 'big''s tenant may use 24 devices in all: at 5 h its move would
    # hold 16 Ascend and 16 H100 at once, so it cannot be made. The hold ends a tick after
    # it was due and the other tenant's small jobs take the H100 (without the time limit
    # the hold, never ending with room it cannot use, kept them off until 'big' ended on
    # the Ascend, after 27 h).
    tenants = [{"id": "t", "name": "T", "quotas": [{"max_devices": 24}]}, {"id": "o", "name": "O"}]
    sc = scenario([site("a", [(H100, 16)]), site("b", [(ASCEND, 16)])], hours=72, tenants=tenants)
    jobs = [job("hog", 0.0, 16, 5 * HOUR, tenant="o"), job("big", 60.0, 16, 10 * HOUR)]
    jobs += [job(f"s{i}", HOUR + 600.0 * i, 4, 4 * HOUR, tenant="o") for i in range(4)]
    r = Simulator(sc, jobs, make_policy("suanli"), verify=True).run()
    assert [pool for pool, _, _ in stretches(r, "big")] == [f"{ASCEND} at b"]
    (pool, start, _) = stretches(r, "s0")[0]
    assert pool == f"{H100} at a" and 5 * HOUR < start <= 5 * HOUR + 3 * 300.0


def test_a_long_wait_is_not_bridged_where_the_bridge_ends_later_and_costs_more() -> None:
    # 'hog' frees the H100 at 0.6 h; 'big' (16 devices, 10 h of H100 work, hourly
    # checkpoints) arrives at 60 s and would wait 35 minutes — longer than reserve_after_s
    # (30 minutes), a long wait. Bridged, it would run those 35 minutes on the Ascend (no
    # checkpoint yet, so nothing kept), then move up and restart (300 s): ending 300 s
    # *later* than waiting, having paid for 35 minutes of 16 Ascend besides the same 10 h
    # of H100. A bridge that ends later than waiting is taken only if it costs no more
    # (w_cost (C_b/C_w − 1) + w_carbon (G_b/G_w − 1) ≤ 0, both sites at the same tariff and
    # carbon here): it waits, and starts on the H100 at 0.6 h.
    jobs = [job("hog", 0.0, 16, 0.6 * HOUR), job("big", 60.0, 16, 10 * HOUR)]
    r, said = simulate(jobs)
    big = r.jobs.ids.index("big")
    assert stretches(r, "big") == [
        (f"{H100} at a", pytest.approx(0.6 * HOUR), pytest.approx(10.6 * HOUR))
    ]
    assert not any(kind == "start" and w.startswith("room now") for _, kind, _, w in said)
    assert r.finish[big] == pytest.approx(10.6 * HOUR)
    # With no weight on cost and carbon no bridge costs more: it bridges, as it did before
    # the rule — on the Ascend at once, up when 'hog' ends (the next full round, 2,400 s),
    # its 300 s restart and all 10 h of work still to do there.
    r, said = simulate(jobs, params={"w_cost": 0.0, "w_carbon": 0.0})
    (on, start, moved), (up, again, end) = stretches(r, "big")
    assert (on, start, up) == (f"{ASCEND} at b", 60.0, f"{H100} at a")
    assert moved == again == pytest.approx(2400.0)
    assert end == pytest.approx(2400.0 + 300.0 + 10 * HOUR, abs=1.0)
