"""Fluid (queueing) model of a service's SLO attainment over an interval (DESIGN §3a).

The simulator calls it every few minutes for each service and site: given the interval's
arrival rate, burstiness and token lengths, the replicas and their
:class:`~suanli.perf.serving.ReplicaPerf`, it returns the fraction of requests that meet
the SLO, the TTFT p99 and the utilisation, and :func:`replicas_needed` the fewest replicas
that reach a target attainment. Everything is vectorised over intervals (numpy arrays that
broadcast). The request-level simulation :mod:`suanli.experiment.replica_sim` checks it
(``docs/serving-check.md``).

**The engine.** A replica runs continuous batching with chunked prefill: each step
decodes one token of each of the ``n`` running sequences and prefills up to ``T − n``
input tokens (token budget ``T``), lasting ``t(p, n, k) = ReplicaPerf.step_s`` seconds
with ``p`` prefill tokens and ``k`` tokens of context. It holds at most
``n_cap = min(B, K / (Ī + Ō))`` sequences (``B = max_batch``, ``K`` KV-cache tokens,
each request reserving its full context). Input lengths ``I`` and output lengths ``O`` are
taken as gamma distributions with the given means ``Ī, Ō`` and squared coefficients of
variation ``s_I, s_O``, independent. A decoding sequence has, averaged over its decode
steps, context ``L = Ī + (E[O²] − Ō) / (2(Ō − 1))``.

**Capacity** (requests/s of one replica). Saturated, every step is full. A request needs
``I`` prefill tokens and ``O − 1`` decode steps (its first token comes with the prefill),
so the engine completes ``r`` requests per step, limited by the token budget or by the
sequences it can hold (one of them prefilling)::

    r = min( T / (Ī + Ō − 1),  (n_cap − 1) / (Ō − 1) ),
    μ = r / t(r·Ī, r·(Ō − 1), r·(Ō − 1)·L + r·Ī).

**Load.** With ``λ`` requests/s spread over ``c`` replicas, ``ρ = λ / (c·μ)``. In a
replica serving ``λ₁ = min(λ/c, μ)`` the mean decode batch ``n̄`` and step time ``t̄``
solve (Little's law, a fixed point)::

    n̄ = min(n_cap, λ₁·(Ō − 1)·t̄),
    t_D = t(0, n̄, n̄L),   t_P = t(T − n̄, n̄, n̄L + T − n̄),        (decode-only, prefill steps)
    r_P = (T − n̄) / t_P,  ρ_P = min(1, λ₁·Ī / r_P),                 (prefill rate, its load)
    q = (ρ_P / t_P) / (ρ_P / t_P + (1 − ρ_P) / t_D),  t̄ = q·t_P + (1 − q)·t_D,

``q`` being the fraction of steps that carry prefill (prefill steps take a share ``ρ_P``
of the time; the mean TPOT is ``t̄``).

**Clumps.** Bursty arrivals (``c_a > 1``) are taken as a compound Poisson process:
clumps of geometric size with mean ``β = (1 + c_a²)/2`` (which has that SCV of
inter-arrival times). A request of a clump has ``A`` clump-mates ahead of it and ``J``
behind, independent and geometric on {0, 1, …} with mean ``β − 1``:
``P(J ≥ j) = (1 − 1/β)^j``.

**TTFT.** A request waits ``W`` in the queue, then its own prefill takes
``τ_p(I) = max(1, I / (T − n̄)) · t(min(I, T − n̄), n̄, n̄L)``; the network adds ``d``::

    TTFT = W + τ_p(I) + d.

The queue is a **GI/G/c** queue whose servers are the replicas, each serving a request in
``S = (I + O − 1)·t_sat / (r·(Ī + Ō − 1))`` seconds (so ``E[S] = 1/μ``; its SCV is
``c_s² = (s_I·Ī² + s_O·Ō²) / (Ī + Ō − 1)²``). The clump waits for a free server as in
**Allen–Cunneen** with the smooth part of the arrivals, and each request also waits for
its clump-mates ahead (the batch-Poisson M^X/G/c correction)::

    E[W_q] = C(c, λ/μ) / (c·μ − λ) · (min(c_a², 1) + c_s²) / 2,
    E[W]   = E[W_q] + (β − 1) / (c·μ − λ),

``C`` being Erlang's C formula (the M/M/c probability of waiting). The first of a clump
waits with probability ``C``, the others always, so ``P_w = 1 − (1 − C)/β``. The wait has
an atom ``1 − P_w`` at 0 and an exponential tail, ``P(W > x) = P_w · exp(−x·P_w / E[W])``,
and

    A_TTFT(τ) = E_I[ P(W ≤ τ − d − τ_p(I)) ],

over 32 quantiles of ``I``; the TTFT p99 solves ``A_TTFT(τ) = 0.99``.

**TPOT** from the prefill a request's decode has to share its steps with. Its first
token comes with ``B`` prefill tokens queued behind it: its ``J`` clump-mates' and what
arrived while it waited behind earlier clumps and prefilled,
``B = Ī·J + λ₁Ī·(κW + τ_p(I))``, ``κ = E[W_q]/E[W]`` being the share of the wait spent
behind earlier clumps (behind its clump-mates nothing new queues but them). During its
``O − 1`` decode steps further prefill arrives at ``λ₁Ī`` tokens/s; prefill steps
(``t_P``, ``T − n̄`` tokens each) serve it, decode-only steps take ``t_D``. The number
of its steps that carry prefill, ``n_p``, solves
``n_p·(T − n̄) = B + λ₁Ī·(n_p·t_P + (O − 1 − n_p)·t_D)``, capped at a share ``f`` of its
steps (the saturated engine's prefill share: a KV-bound engine admits no faster)::

    n_p = min( f·(O − 1), (B + λ₁Ī·(O − 1)·t_D) / (T − n̄ − λ₁Ī·(t_P − t_D)) ),
    TPOT = t_D + (n_p / (O − 1))·(t_P − t_D).

(With ``B = 0`` the share ``n_p/(O − 1)`` is ``q`` above.) So TPOT ≤ τ iff ``B ≤ Y(O)``,
``Y(O) = (O − 1)·(ν·(T − n̄ − λ₁Ī·(t_P − t_D)) − λ₁Ī·t_D)`` with
``ν = (τ − t_D)/(t_P − t_D)`` (every ``B`` when ``ν ≥ f``, none when ``ν < 0``).

**Joint attainment.** Both are met iff ``W ≤ x_I = τ_TTFT − d − τ_p(I)`` and
``κW ≤ (Y(O) − Ī·J)/(λ₁Ī) − τ_p(I)``: the same wait drives both misses (a request that
waited long has much prefill behind it), so

    A = E_{I,O,J}[ P(W ≤ min(x_I, y_{I,O,J})) ],   A_TPOT = E_{I,O,J}[ P(W ≤ y_{I,O,J}) ],

over 32 quantiles of ``I`` and 16 of ``O`` and ``J`` (``A`` lies between
``A_TTFT·A_TPOT`` and ``min(A_TTFT, A_TPOT)``).

**Overload and backlog.** Over an interval of ``Δ`` seconds that starts with ``b``
requests queued beyond the stationary queue, the excess drains (or grows) as a fluid,
``b(u) = max(0, b + (λ − cμ)·u)``, and a request arriving at ``u`` waits
``w(u) = b(u)/(cμ)`` on top: while ``b(u) > 0`` the replicas are saturated and a request
meets the TTFT iff ``w(u) + τ_p(I) + d ≤ τ``, and the TPOT iff the saturated engine's
``t_D + f·(t_P − t_D) ≤ τ`` (its backlog keeps a share ``f`` of the steps prefilling);
otherwise the stationary formulas apply. Attainment is averaged over 32 points of the
interval, and the interval ends with backlog ``b(Δ)``. So with ``ρ ≥ 1`` the attainment
falls towards 0 as ``Δ`` grows; for every ``Δ`` it is at most the share of the interval
before the backlog wait exceeds the target. ``Δ = ∞`` with ``ρ ≥ 1`` gives 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from suanli.model.service import Slo
from suanli.perf.serving import ReplicaPerf

Arr = npt.NDArray[np.float64]
ArrayLike = float | npt.ArrayLike

#: Default per-step token budget of the engine (as :mod:`suanli.experiment.replica_sim`).
TOKEN_BUDGET = 2048
#: Quantile points of the length distributions and time points of an interval.
_POINTS = 32
_MID = (np.arange(_POINTS) + 0.5) / _POINTS
#: Quantile points of O and of the clump-mates behind (fewer: they multiply).
_MID_SUB = (np.arange(_POINTS // 2) + 0.5) / (_POINTS // 2)


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    """What one interval asks of a service: arrival rate (requests/s), the coefficient
    of variation of inter-arrival times (1: Poisson), mean input and output tokens and
    their squared coefficients of variation (arrays broadcast: one element per interval)."""

    rate_rps: ArrayLike
    mean_input: ArrayLike
    mean_output: ArrayLike
    cv: ArrayLike = 1.0
    scv_input: ArrayLike = 1.0
    scv_output: ArrayLike = 1.0


@dataclass(frozen=True, slots=True)
class Attainment:
    """The fluid model's answer per interval (see the module docstring)."""

    #: Fraction of requests meeting both TTFT (with the network) and TPOT.
    attainment: Arr
    ttft_attainment: Arr
    tpot_attainment: Arr
    #: TTFT p99 (seconds, with the network; inf when over 1% never get a first token).
    ttft_p99_s: Arr
    #: Mean TPOT (seconds).
    tpot_mean_s: Arr
    #: ρ = λ / (c·μ).
    utilisation: Arr
    #: μ: requests/s one replica serves at most.
    capacity_rps: Arr
    #: Requests queued beyond the stationary queue at the interval's end.
    backlog_end: Arr


def _step(perf: ReplicaPerf, p: ArrayLike, n: ArrayLike, kv: ArrayLike) -> Arr:
    """``perf.step_s`` element by element, vectorised: the same operations in the same
    order as :meth:`~suanli.perf.serving.ReplicaPerf.step_s` (its default prefill
    context), so bit for bit the same results (the power by libm, as Python's, not by
    numpy's SIMD ``power``, which differs in the last bit)."""
    p, n, kv = (np.asarray(x, dtype=np.float64) for x in (p, n, kv))
    if p.ndim == n.ndim == kv.ndim == 0:  # one step: the scalar method is quicker
        return np.asarray(perf.step_s(float(p), float(n), float(kv)))  # type: ignore[arg-type]
    e = perf.eff
    flop = 2.0 * perf.active_params
    attn_peak = perf.attn_peak_flops or perf.peak_flops
    c = perf.prefill_context_tokens
    prefill = p * (flop / perf.peak_flops + perf.attn_prefill_flops * c / attn_peak)
    decode = n * flop / perf.peak_flops + np.where(
        n > 0, perf.attn_decode_flops * kv / attn_peak, 0.0
    )
    compute = prefill / e.prefill + decode / e.decode_compute
    tokens = n + p
    f = perf.active_params / perf.total_params
    if f >= 1.0:
        touched = np.where(tokens <= 0, 0.0, 1.0)
    else:
        base = 1.0 - f
        flat = tokens.reshape(-1).tolist()
        kept = np.fromiter((math.pow(base, x) for x in flat), np.float64, len(flat))
        touched = np.where(tokens <= 0, 0.0, 1.0 - kept.reshape(tokens.shape))
    read = perf.weight_bytes * touched
    memory = (read + kv * perf.kv_bytes_per_token) / (perf.mem_bw * e.decode_memory)
    t = e.step_overhead_s + np.maximum(compute, memory)
    return np.asarray(np.where((p <= 0) & (n <= 0), 0.0, t), dtype=np.float64)


def _gamma_quantiles(mean: Arr, scv: Arr, mids: Arr = _MID) -> Arr:
    """Quantiles ``mids`` of a gamma distribution (last axis)."""
    m = mean[..., None]
    s = np.maximum(scv, 1e-6)[..., None]
    k = 1.0 / s
    return np.asarray(special.gammaincinv(k, mids) * m / k, dtype=np.float64)


def _erlang_c(c: npt.NDArray[np.int64], a: Arr) -> Arr:
    """Erlang's C: the M/M/c probability of waiting with ``c`` servers and offered load
    ``a`` (< c). Erlang's B is the Poisson ratio ``P(N = c) / P(N ≤ c)`` for ``N ~
    Poisson(a)`` (in closed form, so the cost does not grow with ``c``), and
    ``C = B / (1 − ρ(1 − B))`` with ``ρ = a / c``."""
    cf = np.asarray(c, dtype=np.float64)
    a_pos = np.maximum(np.asarray(a, dtype=np.float64), 1e-300)
    log_pmf = cf * np.log(a_pos) - a_pos - special.gammaln(cf + 1.0)
    b = np.exp(log_pmf) / np.maximum(special.gammaincc(cf + 1.0, a_pos), 1e-300)
    b = np.where(np.asarray(a) <= 0, np.where(cf <= 0, 1.0, 0.0), np.minimum(b, 1.0))
    rho = np.minimum(a / np.maximum(c, 1), 1.0)
    return np.asarray(np.where(rho >= 1.0, 1.0, b / (1.0 - rho * (1.0 - b))), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Engine:
    """Per interval: capacity and the engine's state at its load."""

    mu: Arr
    t_sat: Arr
    n_cap: Arr
    ctx: Arr
    #: Share of steps that carry prefill at saturation (``f``).
    f_sat: Arr


def _moments(load: ServiceLoad) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr]:
    lam, mi, mo, cv, si, so = np.broadcast_arrays(
        *(
            np.asarray(x, dtype=np.float64)
            for x in (
                load.rate_rps,
                load.mean_input,
                load.mean_output,
                load.cv,
                load.scv_input,
                load.scv_output,
            )
        )
    )
    return lam, np.maximum(mi, 1.0), np.maximum(mo, 1.0), cv, si, so


def _engine(perf: ReplicaPerf, mi: Arr, mo: Arr, si: Arr, so: Arr, budget: int) -> _Engine:
    e_o2 = (1.0 + so) * mo * mo
    e_i2 = (1.0 + si) * mi * mi
    dec = np.maximum(mo - 1.0, 1e-9)
    ctx = mi + np.maximum(e_o2 - mo, 0.0) / (2.0 * dec)
    n_cap = np.minimum(float(perf.max_batch), perf.kv_capacity_tokens / (mi + mo))
    kv_cap = float(perf.kv_capacity_tokens)
    r_tok = budget / (mi + mo - 1.0)
    r = r_tok
    n_d = np.zeros_like(mi)
    for _ in range(6):  # r and the decode batch n_d = r·(Ō − 1) depend on each other
        room = np.maximum(budget - n_d, 1.0)
        hold = mo + mi / room  # steps from admission to completion
        hold_kv = mi * mo + e_o2 + (e_i2 + mi * mo) / room  # E[(I + O)·hold]
        r = np.minimum(np.minimum(r_tok, float(perf.max_batch) / hold), kv_cap / hold_kv)
        n_d = r * (mo - 1.0)
    room = np.maximum(budget - n_d, 1.0)
    f = np.minimum(1.0, r * mi / room)  # share of steps that prefill (a full chunk)
    kv = n_d * ctx
    t_p = _step(perf, room, n_d, kv + room)
    t_d = _step(perf, np.zeros_like(mi), n_d, kv)
    t_sat = f * t_p + (1.0 - f) * t_d
    ok = (perf.max_batch >= 1) & (n_cap >= 1.0) & (r > 0)
    mu = np.where(ok, r / t_sat, 0.0)
    return _Engine(
        mu=mu, t_sat=t_sat, n_cap=np.maximum(n_d + 1.0, 1.0), ctx=ctx, f_sat=np.clip(f, 0.0, 1.0)
    )


def replica_capacity(
    perf: ReplicaPerf,
    mean_input: ArrayLike,
    mean_output: ArrayLike,
    scv_input: ArrayLike = 1.0,
    scv_output: ArrayLike = 1.0,
    token_budget: int = TOKEN_BUDGET,
) -> Arr:
    """μ: requests/s one replica serves at most at these lengths (module docstring)."""
    _, mi, mo, _, si, so = _moments(
        ServiceLoad(0.0, mean_input, mean_output, scv_input=scv_input, scv_output=scv_output)
    )
    return _engine(perf, mi, mo, si, so, token_budget).mu


@dataclass(frozen=True, slots=True)
class _Fixed:
    """What does not depend on the load, only on the replica, the lengths and the TPOT
    target: the engine, its saturated state, the quantiles of I and O, the saturated
    prefill times and whether the saturated engine meets the TPOT (per O quantile)."""

    perf: ReplicaPerf
    mi: Arr
    mo: Arr
    si: Arr
    so: Arr
    eng: _Engine
    sat: tuple[Arr, Arr, Arr, Arr, Arr]
    iq: Arr
    tau_p_sat: Arr
    oq: Arr
    ok_b: Arr


#: :class:`_Fixed` per (replica, TPOT, scalar lengths, budget): the simulator asks for the
#: same few every tick. Keyed by the replica's ``id`` (the entry holds the replica, so the
#: id is not reused while it is cached).
_FIXED: dict[tuple[int, float, float, float, float, float, int], _Fixed] = {}
_FIXED_MAX = 4096


def _fixed(perf: ReplicaPerf, tpot_s: float, load: ServiceLoad, budget: int) -> _Fixed:
    """The load-independent part of :func:`slo_attainment` (cached for scalar lengths)."""
    lengths = (load.mean_input, load.mean_output, load.scv_input, load.scv_output)
    key = None
    if all(np.ndim(x) == 0 for x in lengths):
        key = (id(perf), float(tpot_s), *(float(x) for x in lengths), budget)  # type: ignore[arg-type]
        got = _FIXED.get(key)  # type: ignore[arg-type]
        if got is not None and got.perf is perf:
            return got
    mi, mo, si, so = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in lengths))
    mi, mo = np.maximum(mi, 1.0), np.maximum(mo, 1.0)
    b = float(budget)
    eng = _engine(perf, mi, mo, si, so, budget)
    sat = _state(perf, eng.mu, mi, mo, eng, b)
    iq = _gamma_quantiles(mi, si)
    oq = _gamma_quantiles(mo, so, _MID_SUB)
    # Backlogged: the saturated engine (a share f of its steps carry prefill).
    y_cap_b = _tpot_room(tpot_s, oq, sat[1], sat[2], eng.mu, mi, sat[0], eng.f_sat, b)
    fx = _Fixed(
        perf=perf,
        mi=mi,
        mo=mo,
        si=si,
        so=so,
        eng=eng,
        sat=sat,
        iq=iq,
        tau_p_sat=_prefill_time(perf, iq, sat[0], eng.ctx, b),
        oq=oq,
        ok_b=(y_cap_b == np.inf).mean(axis=-1)[..., None],  # (..., 1)
    )
    if key is not None:
        if len(_FIXED) >= _FIXED_MAX:
            _FIXED.clear()
        _FIXED[key] = fx  # type: ignore[index]
    return fx


def slo_attainment(
    perf: ReplicaPerf,
    slo: Slo,
    load: ServiceLoad,
    replicas: ArrayLike,
    latency_s: ArrayLike = 0.0,
    interval_s: float = math.inf,
    backlog: ArrayLike = 0.0,
    token_budget: int = TOKEN_BUDGET,
    p99: bool = True,
) -> Attainment:
    """Attainment of ``slo`` for ``load`` on ``replicas`` replicas of ``perf``, users
    ``latency_s`` seconds away, over an interval of ``interval_s`` seconds starting with
    ``backlog`` requests queued in excess (see the module docstring); without ``p99`` the
    TTFT p99 (a search) is left out (NaN).

    Arrays broadcast; what does not depend on the latency is computed once per load (the
    latency's extra axes, e.g. one per region, only where it enters), and what depends on
    neither load nor latency once per replica and lengths (:func:`_fixed`)."""
    fx = _fixed(perf, slo.tpot_s, load, token_budget)
    eng = fx.eng
    lam, cv, c_f, b0, mi, mo, si, so = np.broadcast_arrays(
        np.asarray(load.rate_rps, dtype=np.float64),
        np.asarray(load.cv, dtype=np.float64),
        np.asarray(replicas, dtype=np.float64),
        np.asarray(backlog, dtype=np.float64),
        fx.mi,
        fx.mo,
        fx.si,
        fx.so,
    )
    shape = np.broadcast_shapes(lam.shape, np.shape(latency_s))  # with the latency's axes
    d = np.broadcast_to(np.asarray(latency_s, dtype=np.float64), shape)
    c = np.maximum(np.round(c_f), 0).astype(np.int64)
    cap = c * eng.mu
    rho = np.where(cap > 0, lam / np.where(cap > 0, cap, 1.0), np.where(lam > 0, np.inf, 0.0))
    budget = float(token_budget)

    # The engine at the load one replica serves (fixed point of n̄ and t̄).
    lam1 = np.minimum(np.where(c > 0, lam / np.maximum(c, 1), 0.0), eng.mu)
    state = _state(perf, lam1, mi, mo, eng, budget)
    n_bar, t_d, t_p, _, q = state

    # Queue: GI/G/c with clumped arrivals (batch-Poisson correction of Allen–Cunneen).
    a = np.where(eng.mu > 0, lam / np.where(eng.mu > 0, eng.mu, 1.0), 0.0)
    stable = (rho < 1.0) & (c > 0)
    erl = _erlang_c(c, np.where(stable, a, 0.0))
    ca2 = cv * cv
    cs2 = (si * mi * mi + so * mo * mo) / (mi + mo - 1.0) ** 2
    beta = np.maximum((1.0 + ca2) / 2.0, 1.0)
    p_w = np.where(lam > 0, np.clip(1.0 - (1.0 - erl) / beta, 0.0, 1.0), 0.0)
    slack = np.where(stable, cap - lam, 1.0)
    smooth = np.minimum(ca2, 1.0)  # the part of c_a² that is not clumping
    e_wq = erl * (smooth + cs2) / 2.0 / slack  # the clump's wait for a free server
    e_w = np.where(stable, e_wq + (beta - 1.0) / slack, np.inf)
    # Share of the wait spent behind earlier clumps (the rest: behind clump-mates, during
    # which nothing new arrives behind the request but its clump-mates).
    kappa = np.where(stable & (e_w > 0), e_wq / np.where(e_w > 0, e_w, 1.0), 1.0)
    theta = np.where(p_w > 0, e_w / np.maximum(p_w, 1e-300), 0.0)

    # Own prefill time at the quantiles of I (stationary and saturated engine).
    tau_p = _prefill_time(perf, fx.iq, n_bar, eng.ctx, budget)
    tau_p_sat = fx.tau_p_sat

    # Fluid backlog over the interval.
    if math.isfinite(interval_s):
        u = _MID * interval_s
        bl = np.maximum(0.0, b0[..., None] + (lam - cap)[..., None] * u)
        w_det = np.where(cap[..., None] > 0, bl / np.maximum(cap[..., None], 1e-300), np.inf)
        b_end = np.maximum(0.0, b0 + (lam - cap) * interval_s)
    else:
        over = (~stable) & (lam > 0)
        w_det = np.where(over, np.inf, np.where(b0 > 0, np.inf, 0.0))[..., None] * np.ones(_POINTS)
        w_det = np.where(np.isnan(w_det), 0.0, w_det)
        b_end = np.where(over, np.inf, 0.0)
    backed = w_det > 0  # (..., time points)

    def back_att(target: Arr) -> Arr:
        """Backlogged time points: ``w(u) + τ_p(I) + d ≤ τ`` (..., time points)."""
        xs = (target - d)[..., None, None] - tau_p_sat[..., None, :] - w_det[..., :, None]
        return np.asarray((xs >= 0.0).mean(axis=-1), dtype=np.float64)

    def ttft_att(target: Arr, a_back: Arr | None = None) -> Arr:
        x = (target - d)[..., None] - tau_p  # (..., quantiles of I)
        a_stat = np.where(stable, _wait_cdf(x, p_w[..., None], theta[..., None]).mean(axis=-1), 0.0)
        a_back = back_att(target) if a_back is None else a_back
        per_u = np.where(backed, a_back, a_stat[..., None])
        return np.asarray(per_u.mean(axis=-1), dtype=np.float64)

    tau_ttft = np.broadcast_to(slo.ttft_p99_s, shape)
    ttft_b = back_att(tau_ttft)
    a_ttft = np.where(lam > 0, ttft_att(tau_ttft, ttft_b), 1.0)
    p99_s = _p99(ttft_att, shape, d) if p99 else np.full(shape, np.nan)

    # TPOT and the joint attainment: the prefill backlog behind a request at its first
    # token (its clump-mates, and what arrived while it waited and prefilled).
    jq = _clump_quantiles(beta)  # (..., J)
    # The clump-mates' quantiles repeat (a few distinct counts): the terms below are
    # computed once per distinct column and spread back before the means, which so sum
    # the same terms in the same order.
    cols, spread = _distinct_columns(jq)
    # Stationary: W ~ (1 − p_w) at 0, exponential tail of mean θ.
    y_cap = _tpot_room(slo.tpot_s, fx.oq, t_d, t_p, lam1, mi, n_bar, eng.f_sat, budget)
    inflow = lam1 * mi  # prefill tokens/s reaching one replica
    behind = mi[..., None, None] * jq[..., None, cols]  # (..., 1, J)
    y = _over(y_cap[..., :, None] - behind, inflow[..., None, None])  # (..., O, J): κW + τ_p
    y = _over(y[..., None, :, :] - tau_p[..., :, None, None], kappa[..., None, None, None])
    x = ((tau_ttft - d)[..., None] - tau_p)[..., :, None, None]
    pw4, th4 = p_w[..., None, None, None], theta[..., None, None, None]
    # P(W ≤ min(x, y)) is P(W ≤ x) or P(W ≤ y), whichever of x, y is smaller (0 where
    # either is NaN, as P(W ≤ NaN)): the CDF at y (no latency axes) and at x (no O, J
    # axes) once each.
    cdf_y = _wait_cdf(y, pw4, th4)
    cdf_x = _wait_cdf(x, pw4, th4)
    if np.isnan(x).any():
        both = np.where(x <= y, cdf_x, np.where(y < x, cdf_y, 0.0))
    else:  # a NaN y fails x ≤ y and has P(W ≤ y) = 0
        both = np.where(x <= y, cdf_x, cdf_y)
    if spread is not None:
        # np.take gives C-ordered arrays, so the means sum in the same order (indexing
        # with ``[..., spread]`` does not: its sums differ in the last bits)
        both, cdf_y = np.take(both, spread, axis=-1), np.take(cdf_y, spread, axis=-1)
    both_s = both.mean(axis=(-3, -2, -1))
    tpot_s = cdf_y.mean(axis=(-3, -2, -1))
    both_s = np.where(stable, both_s, 0.0)
    tpot_s = np.where(stable, tpot_s, 0.0)
    # Backlogged time points: a deterministic wait w(u); the engine is saturated, a share
    # f of its steps carry prefill.
    ok_b = fx.ok_b  # (..., 1)
    both_u = np.where(backed, ttft_b * ok_b, both_s[..., None]).mean(axis=-1)
    tpot_u = np.where(backed, ok_b, tpot_s[..., None]).mean(axis=-1)
    a_tpot = np.where(lam > 0, tpot_u, 1.0)
    a_both = np.where(lam > 0, np.minimum(both_u, np.minimum(a_ttft, a_tpot)), 1.0)
    tpot_mean = q * t_p + (1.0 - q) * t_d

    def full(v: ArrayLike) -> Arr:
        return np.array(np.broadcast_to(v, shape), dtype=np.float64)

    return Attainment(
        attainment=full(a_both),
        ttft_attainment=full(a_ttft),
        tpot_attainment=full(a_tpot),
        ttft_p99_s=full(np.where(lam > 0, p99_s, 0.0)),
        tpot_mean_s=full(tpot_mean),
        utilisation=full(rho),
        capacity_rps=full(eng.mu),
        backlog_end=full(b_end),
    )


def _wait_cdf(x: Arr, p_w: Arr, theta: Arr) -> Arr:
    """``P(W ≤ x)`` for a wait with an atom ``1 − p_w`` at 0 and an exponential tail of
    mean ``θ``: 0 for ``x < 0`` (and NaN), ``1 − p_w·exp(−x/θ)`` otherwise (the arrays are
    large: computed in place)."""
    fin = np.isfinite(theta) & (theta > 0)
    th = np.where(fin, theta, 1.0)
    tail = np.empty(np.broadcast_shapes(np.shape(x), np.shape(p_w), np.shape(theta)))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        np.maximum(x, 0.0, out=tail)
        np.divide(tail, -th, out=tail)  # −(max(x, 0)/θ), bit for bit
        np.exp(tail, out=tail)  # NaN only where x is NaN, which gives 0 below
        np.multiply(p_w, tail, out=tail)
    if not np.all(fin):
        tail = np.where(fin, tail, np.where(theta > 0, p_w, 0.0))
    np.subtract(1.0, tail, out=tail)
    return np.asarray(np.where(x >= 0.0, tail, 0.0), dtype=np.float64)


def _over(num: Arr, den: Arr) -> Arr:
    """``num / den`` with ``den = 0`` giving ±inf by the sign of ``num`` (inf for 0)."""
    if np.all(np.greater(den, 0)):
        return np.asarray(np.divide(num, den), dtype=np.float64)
    safe = np.where(den > 0, den, 1.0)
    return np.asarray(
        np.where(den > 0, num / safe, np.where(num >= 0, np.inf, -np.inf)), dtype=np.float64
    )


def _distinct_columns(q: Arr) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp] | None]:
    """Columns (last axis) of ``q`` that differ from the one before for some element,
    and for each column the index of its distinct one among them (None: all differ)."""
    flat = q.reshape(-1, q.shape[-1])
    new = np.ones(q.shape[-1], dtype=bool)
    new[1:] = np.any(flat[:, 1:] != flat[:, :-1], axis=0)
    if new.all():
        return np.arange(q.shape[-1]), None
    return np.flatnonzero(new), np.cumsum(new) - 1


def _clump_quantiles(beta: Arr) -> Arr:
    """Mid-quantiles of the clump-mates behind a request: geometric on
    {0, 1, …} with mean ``β − 1``, ``P(J ≥ j) = (1 − 1/β)^j`` (last axis)."""
    keep = np.clip(1.0 - 1.0 / beta, 0.0, 1.0 - 1e-12)[..., None]
    mids = _MID_SUB
    with np.errstate(divide="ignore"):
        j = np.floor(np.log1p(-mids) / np.log(np.where(keep > 0, keep, 0.5)))
    return np.asarray(np.where(keep > 0, j, 0.0), dtype=np.float64)


def _tpot_room(
    tau: float,
    oq: Arr,
    t_d: Arr,
    t_p: Arr,
    lam1: Arr,
    mi: Arr,
    n_bar: Arr,
    f_cap: Arr,
    budget: float,
) -> Arr:
    """``Y(O)``: the most prefill tokens that may wait behind a request at its first
    token for its TPOT to meet ``τ`` (module docstring), at the quantiles ``oq`` of O;
    +inf when any backlog meets it, −inf when none does."""
    room = np.maximum(budget - n_bar, 1.0)
    inflow = lam1 * mi
    span = np.maximum(t_p - t_d, 1e-12)
    need = (tau - t_d) / span  # the largest share of prefill steps that meets τ
    den = np.maximum(room - inflow * span, 1e-9)
    steps = np.maximum(oq - 1.0, 0.0)
    y = steps * (need * den - inflow * t_d)[..., None]
    y = np.where((need >= f_cap)[..., None] | (oq <= 1.0), np.inf, y)
    y = np.where((need < 0.0)[..., None] & (oq > 1.0), -np.inf, y)
    return np.asarray(y, dtype=np.float64)


def _state(
    perf: ReplicaPerf, lam1: Arr, mi: Arr, mo: Arr, eng: _Engine, budget: float
) -> tuple[Arr, Arr, Arr, Arr, Arr]:
    """n̄, t_D, t_P, r_P, q at per-replica rate ``lam1`` (module docstring)."""
    args = np.broadcast_arrays(lam1, mi, mo, eng.ctx, eng.n_cap)
    if args[0].size <= _FEW:  # a few loads: one by one in floats (the same results)
        try:
            flat = [a.reshape(-1).tolist() for a in args]
            one = [
                _state_one(perf, lam, i, o, ctx, n_cap, budget)
                for lam, i, o, ctx, n_cap in zip(*flat, strict=True)
            ]
        except ZeroDivisionError:  # numpy's inf and nan below
            pass
        else:
            shape = args[0].shape
            return tuple(  # type: ignore[return-value]
                np.array([o[i] for o in one], dtype=np.float64).reshape(shape) for i in range(5)
            )
    t_bar = _step(perf, np.zeros_like(mi), np.ones_like(mi), eng.ctx)
    n_bar = np.zeros_like(mi)
    t_d = t_p = r_p = q = np.zeros_like(mi)
    for _ in range(8):
        n_bar = np.clip(lam1 * (mo - 1.0) * t_bar, 0.0, np.maximum(eng.n_cap - 1.0, 0.0))
        room = np.maximum(budget - n_bar, 1.0)
        t_d = _step(
            perf, np.zeros_like(mi), np.maximum(n_bar, 1.0), np.maximum(n_bar, 1.0) * eng.ctx
        )
        t_p = _step(perf, room, n_bar, n_bar * eng.ctx + room)
        r_p = room / t_p
        rho_p = np.clip(lam1 * mi / r_p, 0.0, 1.0)
        q = (rho_p / t_p) / (rho_p / t_p + (1.0 - rho_p) / t_d)
        t_bar = q * t_p + (1.0 - q) * t_d
    return n_bar, t_d, t_p, r_p, q


#: Up to this many loads, :func:`_state` solves them one by one in Python floats.
_FEW = 16


def _state_one(
    perf: ReplicaPerf, lam1: float, mi: float, mo: float, ctx: float, n_cap: float, budget: float
) -> tuple[float, float, float, float, float]:
    """:func:`_state` for one load, in Python floats: the same operations in the same
    order, so the same results, without numpy's cost per call on scalars."""
    step = perf.step_s
    hi = max(n_cap - 1.0, 0.0)
    t_bar = step(0.0, 1.0, ctx)  # type: ignore[arg-type]
    n_bar = t_d = t_p = r_p = q = 0.0
    for _ in range(8):
        n_bar = min(max(lam1 * (mo - 1.0) * t_bar, 0.0), hi)
        room = max(budget - n_bar, 1.0)
        n1 = max(n_bar, 1.0)
        t_d = step(0.0, n1, n1 * ctx)  # type: ignore[arg-type]
        t_p = step(room, n_bar, n_bar * ctx + room)  # type: ignore[arg-type]
        r_p = room / t_p
        rho_p = min(max(lam1 * mi / r_p, 0.0), 1.0)
        q = (rho_p / t_p) / (rho_p / t_p + (1.0 - rho_p) / t_d)
        t_bar = q * t_p + (1.0 - q) * t_d
    return n_bar, t_d, t_p, r_p, q


def _prefill_time(perf: ReplicaPerf, iq: Arr, n_bar: Arr, ctx: Arr, budget: float) -> Arr:
    room = np.maximum(budget - n_bar, 1.0)[..., None]
    chunk = np.minimum(iq, room)
    t = _step(
        perf,
        chunk,
        np.broadcast_to(n_bar[..., None], chunk.shape),
        (n_bar * ctx)[..., None] + chunk,
    )
    return np.asarray(np.maximum(1.0, iq / room) * t, dtype=np.float64)


def _p99(ttft_att: object, shape: tuple[int, ...], d: Arr) -> Arr:
    """The TTFT that 99% of requests meet, by bisection (inf when none does)."""
    f = ttft_att
    assert callable(f)
    lo = np.array(d, dtype=np.float64, copy=True)
    hi = lo + 1.0
    for _ in range(40):  # grow the bracket
        miss = np.asarray(f(hi)) < 0.99
        if not miss.any():
            break
        hi = np.where(miss, hi * 2.0, hi)
    reach = np.asarray(f(hi)) >= 0.99
    for _ in range(50):
        mid = (lo + hi) / 2.0
        ok = np.asarray(f(mid)) >= 0.99
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.asarray(np.where(reach, hi, np.inf), dtype=np.float64).reshape(shape)


def replicas_needed(
    perf: ReplicaPerf,
    slo: Slo,
    load: ServiceLoad,
    latency_s: ArrayLike = 0.0,
    target: float | None = None,
    max_replicas: int = 4096,
    interval_s: float = math.inf,
    token_budget: int = TOKEN_BUDGET,
) -> npt.NDArray[np.int64]:
    """The fewest replicas whose attainment reaches ``target`` (default
    ``slo.attainment``), per interval: a search upwards from ``⌈λ/μ⌉`` (attainment grows
    with replicas). ``max_replicas + 1`` where even ``max_replicas`` miss it, 0 where there
    is no demand."""
    goal = slo.attainment if target is None else target
    lam, mi, mo, _, si, so = _moments(load)
    mu = _engine(perf, mi, mo, si, so, token_budget).mu
    shape = np.broadcast_shapes(lam.shape, np.shape(latency_s))
    lam = np.broadcast_to(lam, shape)
    start = np.where(mu > 0, np.floor(lam / np.where(mu > 0, mu, 1.0)) + 1.0, max_replicas + 1)
    c = np.where(lam > 0, np.minimum(start, max_replicas + 1), 0).astype(np.int64)
    todo = (lam > 0) & (c <= max_replicas)
    while todo.any():
        att = slo_attainment(
            perf, slo, load, np.maximum(c, 1), latency_s, interval_s, 0.0, token_budget
        ).attainment
        done = np.broadcast_to(att, shape) >= goal
        todo = todo & ~done
        c = np.where(todo, c + 1, c)
        todo = todo & (c <= max_replicas)
    return c
