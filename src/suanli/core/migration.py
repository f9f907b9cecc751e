"""Moving a running job to another pool: what it costs and what it gains.

A job *j* of ``W`` PFLOP runs on candidate *c* (rate ``r``, at site *s*); it had done
``w₀`` PFLOP when this stretch began computing at ``c₀``, and it checkpoints every
``Δ`` seconds. Moved at ``t`` to candidate *c'* (rate ``r'``, at site *s'*), it keeps
its last checkpoint, as a preemption does, and starts at once on *c'*:

.. math::

    w   &= w_0 + \\min\\big(W - w_0,\\ (t - c_0)^+ r\\big)
          &&\\text{progress now} \\\\
    K   &= w_0 + \\min\\big(W - w_0,\\ \\lfloor (t - c_0)^+ / Δ \\rfloor Δ\\, r\\big)
          &&\\text{progress kept (} Δ = 0 \\text{: all of it)} \\\\
    T_c &= \\frac{8 G}{β_{ss'}} + λ_{ss'}\\ (0 \\text{ if } s = s')
          &&\\text{the checkpoint of } G \\text{ GB over the link} \\\\
    T_d &= \\text{its data set's copy to } s' \\text{ (0 where a replica is or is arriving)} \\\\
    R   &= \\max(T_c, T_d) + ρ &&\\text{ready again, } ρ \\text{ its restart cost} \\\\
    T_\\text{stay} &= (c_0 - t)^+ + (W - w)/r &&\\text{to finish where it is} \\\\
    T_\\text{move} &= R + (W - K)/r'          &&\\text{to finish after the move.}

The move's *gain* is what the faster devices save on the remaining work (and the
wait for its start where it is, if it has not begun computing), its *cost* what the
move spends:

.. math::

    g = (W - w)\\Big(\\frac{1}{r} - \\frac{1}{r'}\\Big) + (c_0 - t)^+, \\qquad
    k = R + \\frac{w - K}{r'}, \\qquad T_\\text{stay} - T_\\text{move} = g - k .

The checkpoint also costs ``G · κ_{ss'}`` in egress (``κ`` the link's price per GB).
Between sites without a link a job cannot move (its checkpoint has no way there).

The scheduling state carries a move out with these formulas
(:meth:`~suanli.core.state.SchedulingState.migrate`); policies decide with
:func:`estimate`, on the same numbers (only a site's dispatch delay and the boot of a
sleeping node, which the state adds when it applies the move, are not in it).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from suanli.core.jobtable import Candidate, JobTable
from suanli.core.tables import FleetTables


@dataclass(frozen=True, slots=True)
class MoveEstimate:
    """What moving a running job now would give (seconds, PFLOP, currency)."""

    stay_s: float
    move_s: float
    gain_s: float
    cost_s: float
    kept_pflop: float
    lost_pflop: float
    checkpoint_s: float
    data_s: float
    egress: float

    @property
    def net_s(self) -> float:
        """``T_stay − T_move = g − k``: seconds the move brings the job's end forward."""
        return self.stay_s - self.move_s


def checkpoint_copy(
    tables: FleetTables, jobs: JobTable, j: int, src: int, dst: int
) -> tuple[float, float] | None:
    """Seconds and egress cost to copy job *j*'s checkpoint from site ``src`` to ``dst``
    (``(0, 0)`` within a site; None without a link)."""
    if src == dst:
        return 0.0, 0.0
    gbps = float(tables.link_gbps[src, dst])
    if gbps <= 0.0:
        return None
    gb = float(tables.profile_checkpoint_gb[jobs.profile[j]])
    return 8.0 * gb / gbps + float(tables.link_latency_s[src, dst]), gb * float(
        tables.link_cost_per_gb[src, dst]
    )


def progress(
    jobs: JobTable, j: int, rate: float, compute_start_s: float, done_pflop: float, now: float
) -> tuple[float, float]:
    """Job *j*'s progress now and what its last checkpoint keeps (``w`` and ``K``)."""
    left = jobs.work[j] - done_pflop
    elapsed = max(0.0, now - compute_start_s)
    interval = jobs.checkpoint_s[j]
    kept_s = math.floor(elapsed / interval) * interval if interval > 0 else elapsed
    return done_pflop + min(left, elapsed * rate), done_pflop + min(left, kept_s * rate)


def estimate(
    tables: FleetTables,
    jobs: JobTable,
    j: int,
    now: float,
    on: Candidate,
    compute_start_s: float,
    done_pflop: float,
    to: Candidate,
    replicas: Collection[tuple[int, int]] = (),
) -> MoveEstimate | None:
    """The move of running job *j* from ``on`` to ``to`` (module docstring); None when
    its checkpoint cannot reach the new site. ``done_pflop`` is ``w₀``; ``replicas``
    the ``(data set, site)`` pairs where its data is or is arriving."""
    src, dst = tables.pool_site[on.pool], tables.pool_site[to.pool]
    copy = checkpoint_copy(tables, jobs, j, src, dst)
    if copy is None:
        return None
    ckpt_s, egress = copy
    d = jobs.dataset[j]
    data_s = 0.0 if d < 0 or (d, dst) in replicas else to.transfer_s
    if data_s > 0.0:
        egress += to.egress
    w, kept = progress(jobs, j, on.rate, compute_start_s, done_pflop, now)
    work = jobs.work[j]
    ready = max(ckpt_s, data_s) + jobs.restart_s[j]
    pending = max(0.0, compute_start_s - now)
    stay = pending + (work - w) / on.rate
    move = ready + (work - kept) / to.rate
    gain = (work - w) * (1.0 / on.rate - 1.0 / to.rate) + pending
    cost = ready + (w - kept) / to.rate
    return MoveEstimate(stay, move, gain, cost, kept, w - kept, ckpt_s, data_s, egress)
