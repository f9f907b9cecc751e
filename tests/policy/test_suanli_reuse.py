"""What ``suanli`` keeps between rounds decides as counting anew would.

A hold for a move up (:mod:`suanli.policy.suanli.bridge`) or a reservation kept from an
earlier round lends the devices its pool leaves spare at its time; ``suanli`` counts them
again only once the pool changed (``PoolNodes.changes``: devices taken, given back, failed
or recovered). Random workloads of gangs on fast and slow pools, with node failures, are
simulated with the kept counts and with counts made anew every round: every start, move
and reason is the same.
"""

from __future__ import annotations

import numpy as np
import pytest

import suanli.policy.suanli as suanli_policy
from suanli.core.accounting import Accounting
from suanli.core.capacity import PoolNodes
from suanli.core.events import EventQueue
from suanli.core.jobtable import Candidate, JobTable
from suanli.core.policy import PolicyInput, PolicyOutput, Start
from suanli.core.state import SchedulingState
from suanli.core.tables import build_tables
from suanli.policy.backfill import spare_at
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0


def run(seed: int, anew: bool) -> tuple[list, int]:
    """The run's decisions round by round, and how many counts were kept, not made."""
    rng = np.random.default_rng(seed)
    sites = [site("a", [(H100, 32)]), site("b", [(ASCEND, 32)]), site("c", [(H100, 16)])]
    failures = [
        {"site": "c", "at_hour": float(h), "hours": 1.5, "nodes": 1} for h in (3, 11, 19, 27)
    ]
    sc = scenario(sites, hours=96, failures=failures)
    jobs = [
        job(
            f"j{k}",
            float(rng.uniform(0, 30 * HOUR)),
            int(rng.choice([1, 2, 4, 8, 16, 32])),
            float(rng.uniform(0.1, 8.0)) * HOUR,
        )
        for k in range(150)
    ]
    p = make_policy("suanli")
    made = [0]

    def count(inp: PolicyInput, cand, t):  # type: ignore[no-untyped-def]
        made[0] += 1
        return spare_at(inp, cand, t)

    mp = pytest.MonkeyPatch()
    mp.setattr(suanli_policy, "spare_at", count)
    asked = [0]
    kept = p._spare_at  # type: ignore[attr-defined]

    def ask(inp: PolicyInput, cand, t):  # type: ignore[no-untyped-def]
        asked[0] += 1
        return count(inp, cand, t) if anew else kept(inp, cand, t)

    p._spare_at = ask  # type: ignore[attr-defined]
    decide = p.decide
    said: list = []

    def recorded(inp: PolicyInput) -> PolicyOutput:
        out = decide(inp)
        said.append(
            (
                inp.now,
                [(s.job, s.candidate.pool, s.reason) for s in out.starts],
                [(m.job, m.candidate.pool) for m in out.migrates],
                sorted(out.reasons.items()),
            )
        )
        return out

    p.decide = recorded  # type: ignore[method-assign]
    try:
        Simulator(sc, jobs, p, drain=True, verify=True).run()
    finally:
        mp.undo()
    return said, asked[0] - made[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_spare_counts_decide_as_counting_anew(seed: int) -> None:
    kept, saved = run(seed, anew=False)
    anew, none = run(seed, anew=True)
    assert none == 0
    assert saved > 0  # counts were kept, so the comparison says something
    assert kept == anew


def test_every_change_to_a_pool_is_counted() -> None:
    pn = PoolNodes(2, 8)
    seen = [pn.changes]
    taken = pn.allocate(4)
    seen.append(pn.changes)
    pn.release(taken)
    seen.append(pn.changes)
    pn.fail([1])
    seen.append(pn.changes)
    pn.recover([1])
    seen.append(pn.changes)
    assert seen == sorted(set(seen))  # each one moved it on


def test_a_kept_count_is_not_read_across_a_rebuilt_cluster() -> None:
    # The live plane rebuilds the cluster's account when a site is masked or comes back
    # (new pools, their counts of changes from 0) under the same job table: a count kept
    # before must not be read for the new pool, even where the counts coincide.
    sc = scenario([site("a", [(H100, 16)]), site("b", [(H100, 16)])], hours=48)
    tables = build_tables(sc)
    specs = [("R", 2.0), ("S", 0.5), ("J", 5.0)]
    jt = JobTable([job(n, 0.0, 8, h * HOUR) for n, h in specs], tables)
    st = SchedulingState(tables, jt, EventQueue(), Accounting(tables, 48))
    for j in range(3):
        st.arrive(j)

    def on_a(j: int) -> Candidate:
        return min(
            (c for c in jt.candidates(j) if tables.pool_site[c.pool] == 0), key=lambda c: c.pool
        )

    st.apply(PolicyOutput(starts=[Start(0, on_a(0))]), 0.0)
    p = make_policy("suanli")
    held, t = on_a(2), 3 * HOUR
    seen = []
    for now, change in [
        (0.0, None),
        (60.0, (0, False)),  # masked: nothing of pool a is free
        (120.0, (0, True)),  # back: 'R' runs there again, 8 devices spare
        (140.0, (0, False)),
        (150.0, (0, True)),
    ]:
        if change is not None:
            st.set_site_up(change[0], change[1], now)
        inp = st.snapshot(now)
        got, anew = p._spare_at(inp, held, t), spare_at(inp, held, t)  # type: ignore[attr-defined]
        seen.append(got)
        assert got == anew
    assert seen == [8, 0, 8, 0, 8]
