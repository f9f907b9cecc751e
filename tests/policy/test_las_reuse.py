"""``las`` reuses its last pass while nothing changed (issue 18, item 5, deep queues): a
round it answers from the pass decides exactly as a pass computed from scratch on the same
state, and a crossed eligibility window or queue threshold makes it compute again.

Every round of a simulation is decided twice: by a copy of the policy without its last
pass (from scratch, with the same record of its own decisions) and by the policy itself;
the starts, preemptions and the reasons each waiting job is left with must agree.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.core.policy import PolicyInput, PolicyOutput
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.las import Las
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0


class Checked:
    """``las``, checked every round against a copy of itself deciding from scratch."""

    name = "las"

    def __init__(self, **params: object) -> None:
        las = make_policy("las", params)
        assert isinstance(las, Las)
        self.las = las
        self.tick_s = las.tick_s
        #: The reason each waiting job was left with (what the state keeps).
        self.told: dict[int, str] = {}
        #: (time, reused, decided something) per round.
        self.rounds: list[tuple[float, bool, bool]] = []

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        memo, self.las._memo = self.las._memo, None
        fresh = copy.deepcopy(self.las)
        self.las._memo = memo
        mark = inp.capacity.mark()  # both plan on the same capacity
        want = fresh.decide(inp)
        inp.capacity.rollback(mark)
        got = self.las.decide(inp)
        reused = got is not None and memo is not None and self.las._memo is memo

        def starts(out: PolicyOutput) -> list[tuple[int, int, int, str]]:
            return [(s.job, s.candidate.pool, s.candidate.devices, s.reason) for s in out.starts]

        assert starts(got) == starts(want), inp.now
        assert [(p.job, p.reason) for p in got.preempts] == [
            (p.job, p.reason) for p in want.preempts
        ], inp.now
        assert got.default_reason == want.default_reason
        for j in inp.arrived:
            self.told.pop(j, None)  # a job that (re)joins the queue has no reason yet
        assert {**self.told, **got.reasons} == {**self.told, **want.reasons}, inp.now
        self.told.update(got.reasons)
        for s in got.starts:
            self.told.pop(s.job, None)
        self.rounds.append((inp.now, reused, bool(got.starts or got.preempts)))
        return got


def run(sc: Scenario, jobs: list[Job], **params: object) -> tuple[SimResult, Checked]:
    policy = Checked(**params)
    return Simulator(sc, jobs, policy, drain=True).run(), policy  # type: ignore[arg-type]


def test_reused_rounds_decide_as_a_pass_from_scratch() -> None:
    rng = np.random.default_rng(5)
    jobs = [
        job(
            f"j{k}",
            float(rng.uniform(0, 3 * HOUR)),
            int(rng.choice([1, 2, 4, 8, 16])),
            float(rng.uniform(0.1, 5.0)) * HOUR,
            tenant=str(rng.choice(["t", "u"])),
            checkpoint_interval_s=float(rng.choice([0.0, 600.0, HOUR])),
            restart_cost_s=float(rng.choice([0.0, 60.0, 300.0])),
        )
        for k in range(120)
    ]
    sc = scenario(
        [site("a", [(H100, 16)]), site("b", [(ASCEND, 16)], lat=31.0, lon=121.0)],
        hours=24 * 6,
        tenants=[{"id": "t", "name": "T"}, {"id": "u", "name": "U"}],
    )
    r, policy = run(sc, jobs, starve_factor=2.0)
    assert r.done.all()
    reused = [t for t, again, _ in policy.rounds if again]
    assert len(reused) > 50  # the check above saw many reused rounds
    assert r.preemptions.sum() > 0
    assert policy.las.promotions > 0


def test_a_window_that_opens_makes_it_compute_again() -> None:
    # 'long' starts first; 'short' waits in queue 0. 'long' is in queue 1 after 450 s, but
    # may be preempted only right after its hourly checkpoint (and 10 minutes in): rounds
    # between reuse the pass that found it not eligible, the first past its checkpoint
    # preempts it.
    jobs = [
        job("long", 0.0, 8, 10 * HOUR, checkpoint_interval_s=HOUR, restart_cost_s=60.0),
        job("short", 1.0, 8, 0.5 * HOUR),
    ]
    r, policy = run(scenario([site("a", [(H100, 8)])], hours=48), jobs)
    assert r.preemptions.tolist() == [1, 0]
    (first,) = (sp for sp in r.stretches if sp.job == 0 and sp.end.startswith("preempted"))
    window = first.compute_start_s + HOUR
    assert window <= first.end_s <= window + policy.tick_s
    before = [t for t, again, _ in policy.rounds if again and t < window]
    assert len(before) > 30  # ticks every minute for an hour, nearly all reused
    # the round that preempts is not a reused one
    (t_pre,) = (t for t, again, acted in policy.rounds if acted and 1.0 < t < window + 60)
    assert t_pre == pytest.approx(first.end_s)


_JOB = st.tuples(
    st.floats(0, 2 * HOUR),  # submit
    st.sampled_from([1, 2, 4, 8]),  # gang
    st.floats(0.05, 4.0),  # hours on H100
    st.sampled_from(["t", "u"]),
    st.sampled_from([0.0, 600.0, HOUR]),  # checkpoint interval
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(_JOB, min_size=1, max_size=30), starve=st.sampled_from([0.0, 1.0, 10.0]))
def test_random_queues_reuse_only_what_a_pass_would_decide(
    specs: list[tuple[float, int, float, str, float]], starve: float
) -> None:
    jobs = [
        job(f"j{k}", s, g, h * HOUR, tenant=t, checkpoint_interval_s=c, restart_cost_s=60.0)
        for k, (s, g, h, t, c) in enumerate(specs)
    ]
    sc = scenario(
        [site("a", [(H100, 8)])],
        hours=24 * 4,
        tenants=[{"id": "t", "name": "T"}, {"id": "u", "name": "U"}],
    )
    r, _ = run(sc, jobs, starve_factor=starve)
    assert r.done.all()
