"""The live executor on its own: starts, the mirror, masked sites, deferrals."""

from __future__ import annotations

from types import SimpleNamespace

from suanli.control.live import DEFERRED, ENDED, PLACED, WAITING, LiveExecutor
from suanli.model.job import Job, JobKind
from suanli.policy.base import PolicyOutput, Start
from suanli.sim.tables import build_tables
from tests.control.helpers import two_sites


def _executor(n: int, gang: int = 4) -> LiveExecutor:
    ex = LiveExecutor(build_tables(two_sites()))
    for i in range(n):
        job = Job(str(i), "lab", JobKind.PRETRAIN, "dl-training", float(i), gang, 1.0)
        ex.enqueue(ex.add(job, 100 + i))
    return ex


def test_starts_take_devices_and_masked_sites_take_none() -> None:
    ex = _executor(3)
    c = ex.jobs.candidates(0)[0]
    ex.apply(PolicyOutput(starts=[Start(0, c), Start(0, c)]), 1.0)  # the repeat is ignored
    assert ex.status[0] == PLACED and ex.started == [(0, c)] and len(ex.waiting) == 2
    assert ex.cluster.pools[c.pool].free_devices == 4
    ex.set_site_up(ex.tables.pool_site[c.pool], False)
    assert ex.cluster.pools[c.pool].free_devices == 0  # masked: no new work there
    assert ex.placed[0].alloc is None  # the job keeps its place, outside the mirror
    ex.set_site_up(ex.tables.pool_site[c.pool], True)
    assert ex.cluster.pools[c.pool].free_devices == 4 and ex.placed[0].alloc is not None
    ex.forget(0)
    assert ex.status[0] == ENDED and ex.cluster.pools[c.pool].free_devices == 8


def test_deferred_jobs_come_back_when_due() -> None:
    ex = _executor(2)
    out = SimpleNamespace(
        starts=[],
        preempts=[],
        reasons={},
        sig_reasons={},
        default_reason="",
        defers=[SimpleNamespace(job=0, until_s=50.0, reason="cheaper at night")],
    )
    ex.apply(out, 10.0)  # type: ignore[arg-type]
    assert ex.status[0] == DEFERRED and list(ex.waiting) == [(1.0, 1)]
    assert ex.reason(0) == "cheaper at night" and ex.next_wake() == 50.0
    assert ex.wake_due(49.0) == 0
    assert ex.wake_due(50.0) == 1 and ex.status[0] == WAITING and len(ex.waiting) == 2
    ex.apply(out, 60.0)  # type: ignore[arg-type]
    ex.forget(0)  # cancelled while deferred
    assert ex.status[0] == ENDED and ex.wake_due(100.0) == 0
