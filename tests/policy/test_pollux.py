"""The ``pollux`` baseline and the allocation it shares with ``suanli``'s elastic jobs
(:func:`suanli.policy.resizing.allocate_fitness`): a hand-solved allocation, checked
against brute force, and the policy splitting a pool between two elastic jobs."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from suanli.config import load_scenario
from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput
from suanli.model.job import Job, JobKind
from suanli.policy.registry import make_policy
from suanli.policy.resizing import Share, allocate_fitness, sizes
from suanli.sim.engine import Simulator
from tests.core.test_migration import FLEET

V100 = "nvidia_v100_sxm2_32g"


def _shapes(speedups: list[float]) -> list[Candidate]:
    return [
        Candidate(pool=0, devices=n, used=n, rate=s, rank=0, transfer_s=0.0, egress=0.0, busy_w=0.0)
        for n, s in enumerate(speedups, start=1)
    ]


def test_the_allocation_is_the_hand_solved_optimum() -> None:
    """A scales linearly, B as 1, 1.5, 1.8, 2; five devices. Both get one; then the
    steps that cut 1/S most per device: A to 2 (−1/2), B to 2 (−1/3), A to 3 (−1/6, over
    B's −1/9): A = 3, B = 2, the best of every split (brute force)."""
    a, b = [1.0, 2.0, 3.0, 4.0], [1.0, 1.5, 1.8, 2.0]
    shares = [Share(0, _shapes(a), None, 1.0), Share(1, _shapes(b), None, 1.0)]
    allocate_fitness(shares, 5)
    assert [s.pick + 1 for s in shares] == [3, 2]
    best = min(
        (1 / a[x - 1] + 1 / b[y - 1], x, y)
        for x, y in itertools.product(range(1, 5), repeat=2)
        if x + y <= 5
    )
    assert best[1:] == (3, 2)


def test_running_jobs_keep_their_minimum_and_latecomers_wait() -> None:
    """Three devices: a running job keeps its smallest shape (2) even past the others'
    claims; of two waiting jobs of smallest shape 1 and 2, the first in order is admitted
    and takes the last device; the second waits."""
    running = Share(0, _shapes([1.0, 2.0, 2.5])[1:], _shapes([1.0, 2.0])[1], 1.0)
    first = Share(1, _shapes([1.0, 1.9]), None, 1.0)
    second = Share(2, _shapes([1.0, 2.0])[1:], None, 1.0)
    allocate_fitness([running, first, second], 3)
    assert running.target is not None and running.target.devices == 2
    assert first.target is not None and first.target.devices == 1
    assert second.target is None


def test_pollux_splits_a_pool_between_two_elastic_jobs() -> None:
    """Alone, an elastic job (1 to 8, asking for 4) takes all eight V100s; when a second
    such job arrives the first gives four back and the newcomer starts on them."""
    fleet = load_scenario(str(FLEET))
    base = Job("0", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 1.0, accepted_types=(V100,))
    rate4 = Simulator(fleet, [base], make_policy("fifo")).run().jobs.candidates(0)[0].rate
    jobs = [
        dataclasses.replace(
            base,
            id=str(i),
            submit_s=3600.0 * i,
            work_pflop=10 * 3600.0 * rate4,
            gang_min=1,
            gang_max=8,
            checkpoint_interval_s=0.0,
            restart_cost_s=30.0,
        )
        for i in range(2)
    ]
    r = Simulator(fleet, jobs, make_policy("pollux"), drain=True).run()
    ran = [(s.job, s.devices, round(s.start_s)) for s in r.stretches]
    assert ran[0] == (0, 8.0, 0)
    assert (0, 4.0, 3600) in ran and (1, 4.0, 3600) in ran
    assert r.resizes[0] >= 1 and r.first_start[1] == pytest.approx(3600.0)


def _base_and_rate() -> tuple[Job, float]:
    """A 4-device training job and its rate on the first candidate of :data:`FLEET`."""
    base = Job("0", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 1.0)
    rate = Simulator(load_scenario(str(FLEET)), [base], make_policy("fifo")).run()
    return base, rate.jobs.candidates(0)[0].rate


def _rounds(jobs: list[Job], patch: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every round of ``pollux`` (its attributes ``patch`` replaced) on :data:`FLEET`,
    drained: ``(now, starts, resizes, reasons, jobs waiting)``."""
    p = make_policy("pollux")
    for name, value in patch.items():
        setattr(p, name, value)
    seen: list[tuple[Any, ...]] = []
    decide = p.decide

    def recorded(inp):  # type: ignore[no-untyped-def]
        out = decide(inp)
        seen.append((inp.now, out.starts, out.resizes, dict(out.reasons), len(inp.waiting)))
        return out

    p.decide = recorded  # type: ignore[method-assign]
    Simulator(load_scenario(str(FLEET)), jobs, p, drain=True).run()
    return seen


def test_a_deep_queue_is_cut_where_no_more_jobs_are_admitted() -> None:
    """Step 2 admits whole-device jobs, in order, while the pool's devices last; the policy
    stops looking at a pool's queue once they are gone (``Pollux._left``). Every round's
    starts, resizes and reasons are the same as with the whole queue looked at, on a deep
    queue of elastic and fixed jobs of mixed sizes on four pools."""
    base, rate = _base_and_rate()
    jobs = []
    for i in range(120):
        gang = (1, 2, 4, 8)[i % 4]
        elastic = i % 3 == 0
        jobs.append(
            dataclasses.replace(
                base,
                id=str(i),
                submit_s=60.0 * (i // 10),
                gang=gang,
                work_pflop=(1 + i % 7) * 1800.0 * rate * gang / 4,
                gang_min=1 if elastic else None,
                gang_max=2 * gang if elastic else None,
                checkpoint_interval_s=0.0,
                restart_cost_s=30.0,
            )
        )

    cut = _rounds(jobs, {})
    whole = _rounds(jobs, {"_left": lambda inp, by_pool: [10**9] * inp.tables.n_pools})
    assert cut == whole
    assert sum(len(r[1]) for r in cut) == len(jobs)  # every job started, some after waiting


def test_running_jobs_that_cannot_change_size_are_left_out_of_the_allocation() -> None:
    """A running job with one shape (not elastic, here half the jobs) gets back what it
    holds: leaving it out of its pool's allocation (``Pollux._running_shares``) decides
    every round as including it with its one shape did, on the deep queue above."""
    base, rate = _base_and_rate()
    jobs = [
        dataclasses.replace(
            base,
            id=str(i),
            submit_s=90.0 * (i // 6),
            gang=(1, 2, 4, 8)[i % 4],
            work_pflop=(1 + i % 5) * 1800.0 * rate * (1, 2, 4, 8)[i % 4] / 4,
            gang_min=1 if i % 2 == 0 else None,
            gang_max=2 * (1, 2, 4, 8)[i % 4] if i % 2 == 0 else None,
            checkpoint_interval_s=0.0,
            restart_cost_s=30.0,
        )
        for i in range(100)
    ]

    def every_running(inp: PolicyInput) -> dict[int, list[Share]]:
        """Every running job, one with a single shape as ``Share(j, [on], on, on.rate)``."""
        by_pool: dict[int, list[Share]] = {}
        for pool in range(inp.tables.n_pools):
            for j in sorted(inp.running_on(pool)):
                on = inp.running[j].candidate
                b = inp.jobs.base_candidate(j, pool)
                if b is None or on.share or not inp.running[j].resizable:
                    shapes, unit = [on], on.rate
                else:
                    shapes, unit = sizes(inp.jobs, j, b), b.rate
                by_pool.setdefault(pool, []).append(Share(j, shapes, on, unit))
        return by_pool

    left_out, every = _rounds(jobs, {}), _rounds(jobs, {"_running_shares": every_running})
    assert left_out == every
    assert sum(len(r[2]) for r in every) > 0  # elastic jobs were resized


def test_with_no_elastic_job_admission_walks_signatures_not_the_queue() -> None:
    """With no elastic job and no shared device, step 2 walks each pool's signatures in
    arrival order and drops one whose shape no longer fits (``Pollux._admit_fixed``):
    every round decides as the walk over the whole queue does, on a deep queue of fixed
    jobs of four sizes arriving faster than they run."""
    base, rate = _base_and_rate()
    jobs = [
        dataclasses.replace(
            base,
            id=str(i),
            submit_s=30.0 * i,
            gang=(8, 1, 4, 2, 8, 1)[i % 6],
            work_pflop=(1 + i % 7) * 1800.0 * rate,
        )
        for i in range(150)
    ]

    # the whole queue is walked, as with elastic jobs, when the table seems to have one
    walked, whole = _rounds(jobs, {}), _rounds(jobs, {"_any_elastic": lambda jobs: True})
    assert walked == whole
    assert max(r[4] for r in whole) > 30  # the queue was deep
    assert sum(len(r[1]) for r in whole) == len(jobs)
