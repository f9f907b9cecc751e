"""Read-only views of the scheduling state that policies get in their snapshot.

They are built on access, so setting up a round costs O(1) however many jobs run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from suanli.core.policy import Running

if TYPE_CHECKING:
    from suanli.core.jobtable import Candidate
    from suanli.core.state import SchedulingState


class RunningView(Mapping[int, Running]):
    """Running jobs as policies see them."""

    __slots__ = ("_st",)

    def __init__(self, st: SchedulingState) -> None:
        self._st = st

    def __len__(self) -> int:
        return len(self._st.running)

    def __iter__(self) -> Iterator[int]:
        return iter(self._st.running)

    def __getitem__(self, j: int) -> Running:
        st = self._st
        rs = st.running[j]
        return Running(
            job=j,
            candidate=rs.cand,
            started_s=rs.started_s,
            compute_start_s=rs.compute_start_s,
            expected_end_s=rs.expected_end_s,
            preemptible=st.preemptible(j),
            nodes=tuple(rs.alloc.nodes) if rs.alloc is not None else (),
            resizable=st.resizable(j),
        )

    # One field of ``self[j]`` without building the whole view (a policy's hot loops).
    def held(self, j: int) -> Candidate:
        """``self[j].candidate``: what running job ``j`` holds."""
        return self._st.running[j].cand

    def compute_start(self, j: int) -> float:
        """``self[j].compute_start_s``: when running job ``j`` (re)starts computing."""
        return self._st.running[j].compute_start_s

    def preemptible(self, j: int) -> bool:
        """``self[j].preemptible``: whether running job ``j`` may be preempted now."""
        st = self._st
        if j not in st.running:
            raise KeyError(j)
        return st.preemptible(j)


class Attained:
    """Callable giving a job's device-seconds of service at a fixed time, counting a
    running job's service up to then."""

    __slots__ = ("_now", "_st")

    def __init__(self, st: SchedulingState, now: float) -> None:
        self._st, self._now = st, now

    def __call__(self, j: int) -> float:
        st = self._st
        rs = st.running.get(j)
        extra = (self._now - rs.compute_start_s) * rs.cand.amount if rs and rs.computing else 0.0
        return st.attained[j] + extra
