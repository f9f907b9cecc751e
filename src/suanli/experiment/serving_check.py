"""Check the fluid serving model (:mod:`suanli.perf.queueing`) against the request-level
simulation of one replica (:mod:`suanli.experiment.replica_sim`) on real hours of
requests (Azure LLM 2023 code and conversation, Mooncake conversation).

For a trace and a replica:

* **capacity** — the fluid ``μ`` (at the trace's length moments) against the simulated
  replica's throughput with every request queued at time 0 (``N / makespan``: the most it
  sustains at these lengths);
* **attainment** — the trace's arrival times are scaled by ``k = λ / (ρ·μ)`` so that the
  replica runs at load ``ρ`` of the fluid capacity; the simulation gives the share of
  requests meeting the SLO; the fluid model is evaluated window by window as the
  simulator would call it (each window's rate, burstiness and length moments, the
  backlog carried from one window to the next), its attainments weighted by the windows'
  requests. Agreement is ``|fluid − sim| ≤ 5`` percentage points (the issue's bar).

The SLO follows one rule for every trace and replica (:func:`rule_slo`): TTFT p99 target
5 × the zero-load TTFT of the trace's p99 input, TPOT target 1.5 × the replica's decode
step at its sized batch. Requests sharing a timestamp are spread over the gap to the next
one (:func:`spread_ties`), and a window's burstiness is the index of dispersion of its
arrivals counted over slots of the TTFT target (:func:`burstiness_cv`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.experiment.replica_sim import TOKEN_BUDGET, simulate_replica
from suanli.model.service import Slo
from suanli.perf.queueing import ServiceLoad, replica_capacity, slo_attainment
from suanli.perf.serving import ReplicaPerf
from suanli.workload.demand import RequestTrace

#: Loads (of the fluid capacity) the check runs at by default.
LOADS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Agreement bar, in points of attainment.
TOLERANCE_PP = 5.0
#: The SLO rule: TTFT p99 target = this × the zero-load TTFT of a p99-length input …
TTFT_MULTIPLE = 5.0
#: … and TPOT target = this × the replica's decode step at its sized batch.
TPOT_MULTIPLE = 1.5


def zero_load_ttft(
    perf: ReplicaPerf, input_tokens: float, token_budget: int = TOKEN_BUDGET
) -> float:
    """Seconds to prefill ``input_tokens`` alone on an idle replica, in chunks of
    ``token_budget`` (as :mod:`~suanli.experiment.replica_sim` does)."""
    t, done, total = 0.0, 0, max(1, round(input_tokens))
    while done < total:
        c = min(token_budget, total - done)
        done += c
        t += perf.step_s(c, 0, float(done))
    return t


def rule_slo(trace: RequestTrace, perf: ReplicaPerf, token_budget: int = TOKEN_BUDGET) -> Slo:
    """The check's SLO, one rule for every trace and replica: TTFT p99 target
    :data:`TTFT_MULTIPLE` × the zero-load TTFT of the trace's p99 input, TPOT target
    :data:`TPOT_MULTIPLE` × ``perf.tpot_s`` (the decode step at the batch the replica was
    sized for)."""
    i99 = float(np.quantile(trace.input_tokens, 0.99))
    return Slo(TTFT_MULTIPLE * zero_load_ttft(perf, i99, token_budget), TPOT_MULTIPLE * perf.tpot_s)


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One trace at one load: fluid against simulated."""

    trace: str
    load: float
    rate_rps: float
    fluid_capacity_rps: float
    sim_capacity_rps: float
    fluid_attainment: float
    sim_attainment: float
    fluid_ttft_attainment: float
    sim_ttft_attainment: float
    fluid_tpot_attainment: float
    sim_tpot_attainment: float
    sim_ttft_p99_s: float

    @property
    def diff_pp(self) -> float:
        """Fluid minus simulated attainment, in percentage points."""
        return 100.0 * (self.fluid_attainment - self.sim_attainment)

    @property
    def agrees(self) -> bool:
        """Within :data:`TOLERANCE_PP`."""
        return abs(self.diff_pp) <= TOLERANCE_PP


def spread_ties(trace: RequestTrace) -> RequestTrace:
    """The trace with requests that share a timestamp spread evenly over the time to the
    next distinct timestamp (``t + g·(i + ½)/n`` for the ``i``-th of ``n``; the last group
    over the median gap between distinct timestamps). Timestamps rounded to a coarse grid
    (Mooncake's lie on a 3 s one) otherwise arrive as synchronous clumps that the real
    traffic does not have. A trace without ties is returned unchanged; deterministic."""
    a = np.asarray(trace.arrival_s, dtype=np.float64)
    order = np.argsort(a, kind="stable")
    s = a[order]
    uniq, first, count = np.unique(s, return_index=True, return_counts=True)
    if len(uniq) == len(s):
        return trace
    gaps = np.diff(uniq)
    last = float(np.median(gaps)) if len(gaps) else 0.0
    width = np.append(gaps, last)
    rank = np.arange(len(s)) - np.repeat(first, count)
    spread = s + np.repeat(width / count, count) * (rank + 0.5)
    out = np.empty_like(a)
    out[order] = spread
    return RequestTrace(out, trace.input_tokens, trace.output_tokens)


def burstiness_cv(arrival_s: npt.NDArray[np.float64], span_s: float, slot_s: float = 1.0) -> float:
    """The arrivals' burstiness as a coefficient of variation for
    :class:`~suanli.perf.queueing.ServiceLoad`: ``√IDC``, the index of dispersion
    ``Var N / E N`` of the counts ``N`` in slots of ``slot_s`` seconds over ``span_s``
    (1 for Poisson; ``2β − 1`` for clumps of mean size ``β``; for a renewal process it
    tends to ``c_a²`` over long slots). Counted over slots of the order of the TTFT target
    it measures the clumping that queues requests behind each other, which the
    inter-arrival CV overstates when bursts are separated by long silences."""
    n_slots = max(1, int(span_s // slot_s))
    if len(arrival_s) < 2 or n_slots < 2:
        return 1.0
    t0 = float(np.min(arrival_s))
    idx = np.minimum(((arrival_s - t0) // slot_s).astype(np.int64), n_slots - 1)
    c = np.bincount(idx, minlength=n_slots).astype(np.float64)
    m = float(c.mean())
    return math.sqrt(max(float(c.var()) / m, 1e-6)) if m > 0 else 1.0


def _scv(x: npt.NDArray[np.float64]) -> float:
    m = float(x.mean())
    return float(x.var() / (m * m)) if m > 0 else 0.0


def fluid_capacity(
    trace: RequestTrace, perf: ReplicaPerf, token_budget: int = TOKEN_BUDGET
) -> float:
    """The fluid μ at the trace's length moments."""
    i = trace.input_tokens.astype(np.float64)
    o = np.maximum(trace.output_tokens, 1).astype(np.float64)
    return float(replica_capacity(perf, i.mean(), o.mean(), _scv(i), _scv(o), token_budget))


def sim_capacity(trace: RequestTrace, perf: ReplicaPerf, token_budget: int = TOKEN_BUDGET) -> float:
    """Requests/s of the simulated replica with every request queued at time 0."""
    burst = RequestTrace(np.zeros(len(trace)), trace.input_tokens, trace.output_tokens)
    res = simulate_replica(burst, perf, token_budget)
    return len(trace) / res.makespan_s


def fluid_over_windows(
    trace: RequestTrace,
    perf: ReplicaPerf,
    slo: Slo,
    window_s: float,
    latency_s: float = 0.0,
    token_budget: int = TOKEN_BUDGET,
    burst_slot_s: float | None = None,
) -> tuple[float, float, float]:
    """Request-weighted attainment (both, TTFT, TPOT) of the fluid model window by window,
    carrying the backlog. Each window's burstiness is :func:`burstiness_cv` over slots of
    ``burst_slot_s`` seconds (None: the CV of its inter-arrival times)."""
    a = trace.arrival_s - trace.arrival_s[0]
    n_w = max(1, math.ceil((float(a[-1]) + 1e-9) / window_s))
    idx = np.minimum((a // window_s).astype(np.int64), n_w - 1)
    rate = np.zeros(n_w)
    cv = np.ones(n_w)
    mi, mo = np.ones(n_w), np.ones(n_w)
    si, so = np.ones(n_w), np.ones(n_w)
    count = np.bincount(idx, minlength=n_w)
    for w in np.flatnonzero(count).tolist():
        sel = idx == w
        aw = a[sel]
        rate[w] = len(aw) / window_s
        gaps = np.diff(aw)
        if burst_slot_s is not None:
            cv[w] = burstiness_cv(aw, window_s, burst_slot_s)
        elif len(gaps) > 1 and gaps.mean() > 0:
            cv[w] = float(gaps.std() / gaps.mean())
        iw = trace.input_tokens[sel].astype(np.float64)
        ow = np.maximum(trace.output_tokens[sel], 1).astype(np.float64)
        mi[w], mo[w], si[w], so[w] = iw.mean(), ow.mean(), _scv(iw), _scv(ow)
    backlog = 0.0
    tot = np.zeros(3)
    for w2 in range(n_w):
        load = ServiceLoad(rate[w2], mi[w2], mo[w2], cv[w2], si[w2], so[w2])
        res = slo_attainment(perf, slo, load, 1, latency_s, window_s, backlog, token_budget)
        backlog = float(res.backlog_end)
        tot += count[w2] * np.array(
            [float(res.attainment), float(res.ttft_attainment), float(res.tpot_attainment)]
        )
    n = float(count.sum())
    return float(tot[0] / n), float(tot[1] / n), float(tot[2] / n)


def check_trace(
    name: str,
    trace: RequestTrace,
    perf: ReplicaPerf,
    slo: Slo,
    loads: Sequence[float] = LOADS,
    window_s: float = 300.0,
    latency_s: float = 0.0,
    token_budget: int = TOKEN_BUDGET,
    capacity: bool = True,
) -> list[CheckRow]:
    """The check's rows for one trace (see the module docstring); ``capacity=False``
    skips the saturated simulation (its column is then NaN). Ties in the timestamps are
    spread first (:func:`spread_ties`); the fluid model's burstiness is
    :func:`burstiness_cv` over slots of the TTFT target."""
    trace = spread_ties(trace)
    mu = fluid_capacity(trace, perf, token_budget)
    sim_mu = sim_capacity(trace, perf, token_budget) if capacity else math.nan
    lam = len(trace) / max(trace.span_s, 1e-9)
    rows = []
    for rho in loads:
        k = lam / (rho * mu)
        scaled = RequestTrace(
            (trace.arrival_s - trace.arrival_s[0]) * k, trace.input_tokens, trace.output_tokens
        )
        sim = simulate_replica(scaled, perf, token_budget)
        f_all, f_ttft, f_tpot = fluid_over_windows(
            scaled, perf, slo, window_s, latency_s, token_budget, burst_slot_s=slo.ttft_p99_s
        )
        rows.append(
            CheckRow(
                trace=name,
                load=rho,
                rate_rps=rho * mu,
                fluid_capacity_rps=mu,
                sim_capacity_rps=sim_mu,
                fluid_attainment=f_all,
                sim_attainment=sim.attainment(slo.ttft_p99_s, slo.tpot_s, latency_s),
                fluid_ttft_attainment=f_ttft,
                sim_ttft_attainment=float(np.mean(sim.ttft_s + latency_s <= slo.ttft_p99_s)),
                fluid_tpot_attainment=f_tpot,
                sim_tpot_attainment=float(np.mean(sim.tpot_s <= slo.tpot_s)),
                sim_ttft_p99_s=float(np.quantile(sim.ttft_s, 0.99)) + latency_s,
            )
        )
    return rows


def markdown(rows: Sequence[CheckRow]) -> str:
    """The rows as a markdown table."""
    head = (
        "| trace | ρ | λ req/s | μ fluid | μ sim | attainment fluid | sim | diff pp "
        "| TTFT fluid / sim | TPOT fluid / sim | sim TTFT p99 s | within 5 pp |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    body = "".join(
        f"| {r.trace} | {r.load:.2f} | {r.rate_rps:.3f} | {r.fluid_capacity_rps:.3f} "
        f"| {r.sim_capacity_rps:.3f} | {r.fluid_attainment:.3f} | {r.sim_attainment:.3f} "
        f"| {r.diff_pp:+.1f} | {r.fluid_ttft_attainment:.3f} / {r.sim_ttft_attainment:.3f} "
        f"| {r.fluid_tpot_attainment:.3f} / {r.sim_tpot_attainment:.3f} "
        f"| {r.sim_ttft_p99_s:.2f} | {'yes' if r.agrees else 'no'} |\n"
        for r in rows
    )
    return head + body
