"""Request-level simulation of one serving replica with continuous batching (DESIGN §3a).

It checks the fluid model of :mod:`suanli.perf.queueing` request by request. The engine
is vLLM/SGLang-like, with *chunked prefill* (Sarathi; vLLM V1's default scheduler):

* requests wait in one FIFO queue in arrival order;
* at the start of each engine step the scheduler **admits** waiting requests, head first,
  while the running set has fewer than ``B = max_batch`` sequences and the KV cache of
  ``K = kv_capacity_tokens`` tokens holds the *full* context ``I + O`` of every admitted
  request (it reserves it on admission, so no request is ever preempted). A request whose
  context alone exceeds ``K`` is admitted when the replica is empty (it would otherwise
  block the queue forever) — with the catalogue's replicas this never happens;
* the step **decodes** one token of every running sequence whose prefill is done, and
  spends what is left of a per-step token budget ``T`` (``token_budget``: decodes count one
  token each) on **prefill** chunks of the admitted requests in admission order. With
  ``token_budget=None`` the whole input of every admitted request is prefilled in the step
  it is admitted (no chunking);
* the step lasts ``t = ReplicaPerf.step_s(p, n, k)`` seconds: ``p`` prefill tokens, ``n``
  decodes, ``k`` tokens of context in the cache (every running sequence's prefilled and
  generated tokens, plus this step's chunk).

The step that completes a request's prefill emits its first output token, so

* ``TTFT = t_first − a`` (arrival ``a``, end of that step);
* ``TPOT = (t_done − t_first) / (O − 1)`` for ``O > 1`` output tokens (0 for ``O = 1``),
  the mean gap between its output tokens;
* the request leaves, freeing its batch slot and KV reservation, at the end of the step
  that emits its ``O``-th token.

When nothing is running and nobody waits the engine idles until the next arrival. The
simulation is deterministic (no randomness at all) and runs until every request is done.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.perf.serving import ReplicaPerf
from suanli.workload.demand import RequestTrace

#: Default per-step token budget (vLLM V1's ``max_num_batched_tokens`` for online serving).
TOKEN_BUDGET = 2048


@dataclass(frozen=True, slots=True)
class ReplicaSimResult:
    """Per request (in the trace's order): arrival, first token, completion (seconds),
    TTFT and TPOT; and the engine's totals."""

    arrival_s: npt.NDArray[np.float64]
    first_token_s: npt.NDArray[np.float64]
    done_s: npt.NDArray[np.float64]
    ttft_s: npt.NDArray[np.float64]
    tpot_s: npt.NDArray[np.float64]
    steps: int
    busy_s: float
    #: Largest number of sequences and of reserved KV tokens held at once.
    peak_batch: int
    peak_kv_tokens: int

    @property
    def makespan_s(self) -> float:
        """From the first arrival to the last completion."""
        return float(self.done_s.max() - self.arrival_s.min()) if len(self.done_s) else 0.0

    def attainment(self, ttft_s: float, tpot_s: float, latency_s: float = 0.0) -> float:
        """Fraction of requests with ``TTFT + latency_s ≤ ttft_s`` and ``TPOT ≤ tpot_s``."""
        if not len(self.ttft_s):
            return 1.0
        ok = (self.ttft_s + latency_s <= ttft_s) & (self.tpot_s <= tpot_s)
        return float(ok.mean())


def simulate_replica(
    trace: RequestTrace, perf: ReplicaPerf, token_budget: int | None = TOKEN_BUDGET
) -> ReplicaSimResult:
    """Serve every request of ``trace`` on one replica (see the module docstring)."""
    arrival = np.asarray(trace.arrival_s, dtype=np.float64)
    inp = np.asarray(trace.input_tokens, dtype=np.int64)
    out = np.maximum(np.asarray(trace.output_tokens, dtype=np.int64), 1)
    n_req = len(arrival)
    order = np.argsort(arrival, kind="stable")
    if perf.max_batch < 1:
        raise ValueError("the replica cannot decode (max_batch 0): no TPOT target is met")
    if token_budget is not None and token_budget <= perf.max_batch:
        raise ValueError("token_budget must exceed max_batch (decodes take one token each)")
    big = 1 << 62
    kv_cap = int(perf.kv_capacity_tokens) if math.isfinite(perf.kv_capacity_tokens) else big
    first = np.full(n_req, np.nan)
    done = np.full(n_req, np.nan)
    # Slots of the running batch, as arrays (−1: free).
    b = perf.max_batch
    s_req = np.full(b, -1, dtype=np.int64)
    s_pre = np.zeros(b, dtype=np.int64)  # prefill tokens left
    s_gen = np.zeros(b, dtype=np.int64)  # output tokens left to emit
    s_ctx = np.zeros(b, dtype=np.int64)  # tokens in the cache
    free = list(range(b - 1, -1, -1))
    prefilling: deque[int] = deque()  # slots in admission order whose prefill is not done
    reserved = 0
    n_run = 0
    t = 0.0
    nxt = 0  # next request (in ``order``) not yet admitted
    finished = 0
    steps = 0
    busy = 0.0
    peak_batch = 0
    peak_kv = 0
    while finished < n_req:
        if n_run == 0 and nxt < n_req and arrival[order[nxt]] > t:
            t = float(arrival[order[nxt]])  # idle until the next arrival
        # Admit the head of the queue while a slot and its KV reservation are free.
        while nxt < n_req and arrival[order[nxt]] <= t and free:
            r = int(order[nxt])
            need = int(inp[r] + out[r])
            if reserved + need > kv_cap and n_run > 0:
                break
            s = free.pop()
            s_req[s], s_pre[s], s_gen[s], s_ctx[s] = r, inp[r], out[r], 0
            reserved += need
            n_run += 1
            prefilling.append(s)
            nxt += 1
        peak_batch = max(peak_batch, n_run)
        peak_kv = max(peak_kv, reserved)
        # Compose the step: decodes first, then prefill chunks within the budget.
        dec = (s_req >= 0) & (s_pre == 0)
        n_dec = int(dec.sum())
        room = big if token_budget is None else token_budget - n_dec
        chunks: list[tuple[int, int]] = []
        for s in prefilling:
            if room <= 0:
                break
            c = int(min(room, s_pre[s]))
            chunks.append((s, c))
            room -= c
        p_tok = sum(c for _, c in chunks)
        kv_tok = float(s_ctx[s_req >= 0].sum() + p_tok)
        dt = perf.step_s(p_tok, n_dec, kv_tok)
        t += dt
        busy += dt
        steps += 1
        # Decodes emit one token each.
        s_gen[dec] -= 1
        s_ctx[dec] += 1
        # Prefill chunks; a finished prefill emits the first token.
        for s, c in chunks:
            s_pre[s] -= c
            s_ctx[s] += c
            if s_pre[s] == 0:
                prefilling.popleft()
                first[s_req[s]] = t
                s_gen[s] -= 1
        gone = np.flatnonzero((s_req >= 0) & (s_pre == 0) & (s_gen == 0))
        for s in gone.tolist():
            r = int(s_req[s])
            done[r] = t
            reserved -= int(inp[r] + out[r])
            s_req[s] = -1
            free.append(s)
            n_run -= 1
            finished += 1
    ttft = first - arrival
    tpot = np.where(out > 1, (done - first) / np.maximum(out - 1, 1), 0.0)
    return ReplicaSimResult(
        arrival_s=arrival,
        first_token_s=first,
        done_s=done,
        ttft_s=ttft,
        tpot_s=tpot,
        steps=steps,
        busy_s=busy,
        peak_batch=peak_batch,
        peak_kv_tokens=peak_kv,
    )
