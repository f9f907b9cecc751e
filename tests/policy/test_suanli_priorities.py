"""Priorities in the ``suanli`` policy (docs/scheduler.md, "Priorities"; the module
docstring of :mod:`suanli.policy.suanli`): the round decided level by level, highest first,
each level on the capacity the levels above it left; the reservation for the most urgent
blocked class of the highest level that has one; the tenant's priority a tier above the
job's; one effective priority scheduled exactly as none.

One site of 8 H100 (one node) unless said; jobs are worked out by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from suanli.config import load_scenario
from suanli.core.policy import PolicyInput, PolicyOutput
from suanli.experiment.run import scenario_workload
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.control.helpers import FIXTURES
from tests.core.two_clocks import both, counts, first_difference
from tests.policy.test_priorities import occupier, order
from tests.sim.helpers import H100, job, scenario, site

HOUR = 3600.0
A100 = "nvidia_a100_sxm4_80g"
TIERS: list[dict[str, Any]] = [
    {"id": "bronze", "name": "Bronze"},
    {"id": "gold", "name": "Gold", "priority": 10},
]


def run(jobs: list[Job], **params: Any) -> tuple[SimResult, list[tuple[float, bool, PolicyOutput]]]:
    """Simulate ``jobs`` under ``suanli`` on one site of 8 H100 (tenants ``bronze`` and
    ``gold``, the latter of priority 10); also each round's ``(now, full, output)``."""
    sc = scenario([site("a", [(H100, 8)])], hours=24, tenants=TIERS)
    policy = make_policy("suanli", params)
    rounds: list[tuple[float, bool, PolicyOutput]] = []
    decide = policy.decide

    def recorded(inp: PolicyInput) -> PolicyOutput:
        out = decide(inp)
        rounds.append((inp.now, inp.full, out))
        return out

    policy.decide = recorded  # type: ignore[method-assign]
    return Simulator(sc, jobs, policy, verify=True).run(), rounds


def starts(r: SimResult) -> dict[str, float]:
    """First start by job id."""
    return dict(zip(r.jobs.ids, r.first_start.tolist(), strict=True))


@pytest.mark.parametrize("free_at", [2000.0, 2400.0])  # an event round; a full round (LP)
def test_a_higher_level_gets_the_devices_though_a_lower_class_is_worth_more(
    free_at: float,
) -> None:
    # When the occupier ends, 'short' (30 min) has the higher response ratio, so the round
    # (the greedy pass between ticks, the LP on a tick) starts it first — unless 'long' is
    # of a higher priority: its level is decided first and takes the 8 devices.
    def jobs(priority: int) -> list[Job]:
        return [
            job("occupier", 0.0, 8, free_at, tenant="bronze"),
            job("short", 10.0, 8, 0.5 * HOUR, tenant="bronze"),
            job("long", 20.0, 8, 5 * HOUR, tenant="bronze", priority=priority),
        ]

    plain, _ = run(jobs(0))
    assert order(plain) == ["occupier", "short", "long"]
    r, rounds = run(jobs(5))
    assert order(r) == ["occupier", "long", "short"]
    assert starts(r)["long"] == pytest.approx(free_at)
    (full,) = [f for now, f, out in rounds if now == pytest.approx(free_at) and out.starts]
    assert full == (free_at == 2400.0)  # both kinds of round were exercised


def test_the_reservation_goes_to_the_highest_level_blocked_class() -> None:
    # 'r4' holds 4 devices until 1 h, 'r2' 2 until 2 h: 2 are free. At the tick of 2,100 s
    # 'wide' (8, priority 0) and 'high' (4, priority 5) have both waited reserve_after_s
    # and fit nowhere; 'wide' waited longer (the most urgent of one level), but 'high' is
    # of the higher level: it gets the pool from 1 h, when 'r4' ends, and 'wide' follows
    # it. Without priorities 'wide' gets it from 2 h and 'high' (1.5 h) cannot go before.
    def jobs(priority: int) -> list[Job]:
        return [
            job("r4", 0.0, 4, HOUR, tenant="bronze"),
            job("r2", 0.0, 2, 2 * HOUR, tenant="bronze"),
            job("wide", 1.0, 8, HOUR, tenant="bronze"),
            job("high", 2.0, 4, 1.5 * HOUR, tenant="bronze", priority=priority),
        ]

    def first_reserved(rounds: list[tuple[float, bool, PolicyOutput]]) -> tuple[str, str]:
        """The first reservation of the run: for which job, and the reason."""
        for _, _, out in rounds:
            for j, why in sorted(out.reasons.items()):
                if why.startswith("reserved"):
                    return ["r4", "r2", "wide", "high"][j], why
        raise AssertionError("no reservation")

    r, rounds = run(jobs(0))
    who, why = first_reserved(rounds)
    assert who == "wide" and why.endswith("from t=7,200 s (waited 0.6 h)")
    assert starts(r)["wide"] == pytest.approx(2 * HOUR)
    assert starts(r)["high"] == pytest.approx(3 * HOUR)  # after 'wide'
    r, rounds = run(jobs(5))
    who, why = first_reserved(rounds)
    assert who == "high" and why.endswith("from t=3,600 s (waited 0.6 h)")
    assert starts(r)["high"] == pytest.approx(HOUR)
    assert starts(r)["wide"] == pytest.approx(2.5 * HOUR)


def test_a_lower_level_fills_what_the_higher_levels_leave() -> None:
    # When the occupier ends, 'high' (4 devices) takes its pick first and 'big' (8, of the
    # same level) no longer fits; 'low' (4, of the lower level) fills the 4 left at once.
    jobs = [
        occupier(),
        job("high", 10.0, 4, HOUR, tenant="bronze", priority=5),
        job("big", 20.0, 8, HOUR, tenant="bronze", priority=5),
        job("low", 30.0, 4, HOUR, tenant="bronze"),
    ]
    r, _ = run(jobs)
    s = starts(r)
    assert s["high"] == pytest.approx(2000.0) and s["low"] == pytest.approx(2000.0)
    assert s["big"] == pytest.approx(2000.0 + HOUR)


def test_the_tenant_priority_is_a_tier_above_the_job_priority() -> None:
    # bronze's job priority 1000 does not lift it above gold's (tenant priority 10) job of
    # priority 0: (10, 0) ≻ (0, 1000) ≻ (0, 0); though 'bronze0' is worth the most (it
    # waited longest), the levels decide.
    jobs = [
        occupier(),
        job("bronze0", 10.0, 8, 1800.0, tenant="bronze"),
        job("bronze1000", 20.0, 8, 1800.0, tenant="bronze", priority=1000),
        job("gold", 30.0, 8, 1800.0, tenant="gold"),
    ]
    r, _ = run(jobs)
    assert order(r) == ["occupier", "gold", "bronze1000", "bronze0"]


def test_moves_go_by_level() -> None:
    # 'fast' holds the H100s until 2,400 s (a tick), so 'a' and 'b' start on the A100s
    # (θ = 0: any candidate is worth it). At the tick both may move up to the H100s:
    # 'a' (10 h) gains more, so it moves — unless 'b' (5 h) is of a higher priority; the
    # other moves up when the first ends.
    sc = scenario([site("a", [(H100, 8), (A100, 16)])], hours=30, tenants=TIERS)

    def run_with(priority: int) -> SimResult:
        jobs = [
            job("fast", 0.0, 8, 2400.0, tenant="bronze"),
            job("a", 1.0, 8, 10 * HOUR, tenant="bronze"),
            job("b", 2.0, 8, 5 * HOUR, tenant="bronze", priority=priority),
        ]
        return Simulator(sc, jobs, make_policy("suanli", {"patience": 0.0}), verify=True).run()

    plain = run_with(0)
    assert plain.finish[1] < plain.finish[2]
    r = run_with(5)
    assert r.finish[2] < r.finish[1]
    assert r.finish[2] < 2400.0 + 5.5 * HOUR  # moved at the tick: 5 h on H100s, and the move


def test_waiting_jobs_start_before_any_move() -> None:
    # As without levels: when the H100s free at a tick, the waiting 'low' takes them
    # before the running 'high' (of a higher priority, on the A100s) may move up.
    sc = scenario([site("a", [(H100, 8), (A100, 8)])], hours=30, tenants=TIERS)
    jobs = [
        job("fast", 0.0, 8, 2400.0, tenant="bronze"),
        job("high", 1.0, 8, 10 * HOUR, tenant="bronze", priority=5),
        job("low", 2.0, 8, 10 * HOUR, tenant="bronze"),
    ]
    r = Simulator(sc, jobs, make_policy("suanli", {"patience": 0.0}), verify=True).run()
    assert r.first_start[2] == pytest.approx(2400.0)
    assert r.migrations.tolist() == [0, 1, 0] and r.finish[2] < r.finish[1]


@pytest.fixture(scope="module")
def fleet() -> tuple[Scenario, list[Job]]:
    """The two-clocks fleet (three sites, two accelerator types, power cap, tariffs, a
    data set, a quota, moves) and its generated jobs."""
    return scenario_workload(load_scenario(str(FIXTURES / "two-clocks.yaml")), 7)


def with_priorities(
    sc: Scenario, jobs: list[Job], tier: Callable[[str], int], prio: Callable[[int], int]
) -> tuple[Scenario, list[Job]]:
    """Tenant *t* of priority ``tier(t)``; job *k* (in submission order) of ``prio(k)``."""
    tenants = tuple(dataclasses.replace(t, priority=tier(t.id)) for t in sc.tenants)
    ordered = sorted(jobs, key=lambda j: j.submit_s)
    return dataclasses.replace(sc, tenants=tenants), [
        dataclasses.replace(j, priority=prio(k)) for k, j in enumerate(ordered)
    ]


def uni_first(t: str) -> int:
    """Tenant ``uni`` a tier above ``lab``."""
    return 1 if t == "uni" else 0


def test_one_effective_priority_is_scheduled_as_none(fleet: tuple[Scenario, list[Job]]) -> None:
    """Every tenant of priority 3 and job of 7: the same decisions as all 0; several
    levels change them."""

    def result(sc: Scenario, jobs: list[Job]) -> tuple[Any, ...]:
        r = Simulator(sc, jobs, make_policy("suanli", sc.policy_params.get("suanli"))).run()
        return (r.first_start.tobytes(), r.finish.tobytes(), r.last_pool.tobytes(), r.start_why)

    none = result(*with_priorities(*fleet, lambda t: 0, lambda k: 0))
    assert result(*with_priorities(*fleet, lambda t: 3, lambda k: 7)) == none
    assert result(*with_priorities(*fleet, uni_first, lambda k: k % 3)) != none


def test_levels_are_decided_alike_on_both_clocks(
    fleet: tuple[Scenario, list[Job]], tmp_path: Path
) -> None:
    """Tenant ``uni`` a tier above ``lab``, and job priorities 0–2: the simulator and the
    live control plane see the same and decide the same, round by round."""
    sc, jobs = with_priorities(*fleet, uni_first, lambda k: k % 3)
    sim, live = both(sc, jobs, "suanli", tmp_path)
    assert first_difference(sim, live) == ""
    n = counts(sim)
    assert n["starts"] > 50 and n["defers"] > 0, n
