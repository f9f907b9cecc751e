"""Which batch jobs a replica preempts: those that lose least work, in device-seconds since
their last checkpoint (not in seconds alone: a wide gang just past its checkpoint can lose
more than a small job long past its own)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from suanli.core.serving import ServingDecision, Victim
from suanli.policy.serving.common import _make_room


class _Pool:
    """The planning view of one pool: free devices, and what preempting frees."""

    def __init__(self, free: int) -> None:
        self.free = free

    def why_not(self, tenant: int, cand: Any) -> str | None:
        return None if self.free >= cand.devices else "no room"

    def release(self, tenant: int, pool: int, devices: int, busy_w: float) -> None:
        self.free += devices

    def mark(self) -> int:
        return self.free

    def rollback(self, mark: int) -> None:
        self.free = mark


def _room(free: int, victims: list[Victim], devices: int) -> list[int]:
    inp = SimpleNamespace(capacity=_Pool(free), preemptible_on=lambda p: victims)
    dec = ServingDecision()
    cand = SimpleNamespace(pool=0, devices=devices)
    ok = _make_room(inp, 0, cand, set(), dec)  # type: ignore[arg-type]
    return [j for j, _ in dec.preempt] if ok else []


def test_the_job_that_loses_least_device_time_goes_first() -> None:
    wide = Victim(job=1, tenant=0, devices=64, busy_w=0.0, since_checkpoint_s=300.0)
    small = Victim(job=2, tenant=0, devices=8, busy_w=0.0, since_checkpoint_s=1800.0)
    # 64 x 300 s = 19,200 device-seconds against 8 x 1,800 s = 14,400: the small job
    assert _room(0, [wide, small], 8) == [2]
    # when the small one cannot make room alone, the next is added
    assert _room(0, [wide, small], 16) == [2, 1]
    # nothing is preempted when even all of them cannot make room
    assert _room(0, [wide, small], 100) == []
    # with room already free, nothing
    assert _room(8, [wide, small], 8) == []
