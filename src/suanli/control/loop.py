"""One control loop for simulated and real clusters (Blox's admission → scheduling →
placement idea): ask the executor for a snapshot, let the policy decide, hand the
decisions back to the executor. Policy time per round is recorded for benchmarks.
"""

from __future__ import annotations

import time
from typing import Protocol

from suanli.policy.base import Policy, PolicyInput, PolicyOutput


class Executor(Protocol):
    """What the loop needs from an executor (simulated, Slurm, …)."""

    def snapshot(self, now: float, full: bool = False) -> PolicyInput:
        """The world as a policy sees it; ``full`` asks policies to look at every job."""
        ...

    def apply(self, out: PolicyOutput, now: float) -> None:
        """Carry out decisions."""
        ...


class ControlLoop:
    """Runs scheduling rounds of one policy against one executor."""

    def __init__(self, policy: Policy, executor: Executor, max_passes: int = 4) -> None:
        self.policy = policy
        self.executor = executor
        self.max_passes = max_passes
        self.round_times: list[float] = []
        self.rounds = 0

    def round(self, now: float, full: bool = False) -> int:
        """One round (plus follow-up passes the policy asks for); returns jobs started."""
        started = 0
        for attempt in range(self.max_passes):
            inp = self.executor.snapshot(now, full=full or attempt > 0)
            t0 = time.perf_counter()
            out = self.policy.decide(inp)
            self.round_times.append(time.perf_counter() - t0)
            self.executor.apply(out, now)
            self.rounds += 1
            started += len(out.starts)
            if not out.again:
                break
        return started
