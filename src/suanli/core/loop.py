"""One control loop for simulated and real clusters (Blox's admission → scheduling →
placement idea): take a snapshot of the scheduling state, let the policy decide, hand the
decisions back to the state. The simulator runs it at instants of virtual time, the live
control plane on the wall clock; policy time per round is recorded for benchmarks.
"""

from __future__ import annotations

import time

from suanli.core.policy import Policy
from suanli.core.state import SchedulingState


class ControlLoop:
    """Runs scheduling rounds of one policy against one :class:`SchedulingState`."""

    def __init__(self, policy: Policy, state: SchedulingState, max_passes: int = 4) -> None:
        self.policy = policy
        self.state = state
        self.max_passes = max_passes
        self.round_times: list[float] = []
        self.rounds = 0
        #: Whether the policy moves running jobs (then freed devices call for a round even
        #: with no job waiting).
        self.moves_jobs = bool(getattr(policy, "moves_jobs", False))

    def run_due(self, now: float) -> int:
        """Run a round if one is due (something changed since the last instant) and there
        is something to decide: a job waits, a full round was asked for, or devices freed
        and the policy moves running jobs (``moves_jobs``). Clears the request either way;
        returns the jobs started."""
        st = self.state
        if not st.round_due:
            return 0
        full = st.full_due
        st.round_due = st.full_due = False
        if not (full or st.waiting or (st.freed and self.moves_jobs)):
            return 0
        return self.round(now, full=full)

    def round(self, now: float, full: bool = False) -> int:
        """One round (plus follow-up passes the policy asks for); returns jobs started."""
        started = 0
        st = self.state
        for attempt in range(self.max_passes):
            inp = st.snapshot(now, full=full or attempt > 0)
            t0 = time.perf_counter()
            out = self.policy.decide(inp)
            self.round_times.append(time.perf_counter() - t0)
            self.rounds += 1
            st.apply(out, now)
            started += len(out.starts)
            if not out.again:
                break
        return started
