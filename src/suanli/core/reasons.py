"""Decisions in words: why a job started where it did.

A policy says why it starts a job (:attr:`~suanli.core.policy.Start.reason`: "cheapest
feasible place now", "backfilled ahead of job 12 without delaying it", …); the scheduling
state keeps the reason of each job's latest start, and :func:`start_reason` puts where in
front of it — "started on east/nvidia_h100_sxm5 (8 devices): …". The simulator writes it
in its per-job CSV, the live control plane in the decision it records for the start: one
text, from one core, on both clocks.
"""

from __future__ import annotations

from suanli.core.tables import FleetTables

#: What a start says when its policy gave no reason.
NO_START_REASON = "the policy gave no reason"


def devices_text(amount: float) -> str:
    """``8 devices``, ``1 device``, or ``0.25 of a device`` for a share."""
    if amount < 1.0:
        return f"{amount:g} of a device"
    n = int(amount)
    return f"{n} device" if n == 1 else f"{n} devices"


def start_reason(tables: FleetTables, pool: int, amount: float, why: str) -> str:
    """A start in words: where (site/accelerator, devices) and the policy's reason."""
    site = tables.site_ids[tables.pool_site[pool]]
    acc = tables.acc_ids[tables.pool_acc[pool]]
    return f"started on {site}/{acc} ({devices_text(amount)}): {why or NO_START_REASON}"
