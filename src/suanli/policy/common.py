"""What several policies share: the scan of waiting jobs that might start, the data
transfer a start costs, the reason a job cannot start, and the reason of an in-order start.

The interface itself (:class:`PolicyInput`, :class:`PolicyOutput`, …) is
:mod:`suanli.core.policy`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput


class JobScan:
    """Waiting jobs, in arrival order, that might start now; whole signatures can be skipped.

    Capacity only changes by being freed, by arrivals, or with time: a job that
    could not start in the previous round can only start now if capacity was
    freed on one of its pools, or if it just arrived. Unless ``inp.full``, only
    those are yielded (``pools_of(sig)`` gives the pools a signature cares about; by
    default all its candidates). Within a round capacity only shrinks, so once a job
    of a signature fits nowhere, :meth:`skip` drops the rest of that signature.
    """

    def __init__(
        self,
        inp: PolicyInput,
        freed: int | None = None,
        pools_of: Callable[[int], int] | None = None,
    ) -> None:
        freed = inp.freed if freed is None else freed
        mask = inp.jobs.sig_pools.__getitem__ if pools_of is None else pools_of
        self._submit = inp.jobs.submit
        self._ordered = inp.jobs.submit_ordered
        self._sig_of = inp.jobs.signature
        self._skipped: set[int] = set()
        self._seen: set[int] = set()
        self._heap: list[tuple[float, int, int, Iterator[int]]] = []
        #: On a full round, every waiting job: ``waiting`` itself, in the order the merge
        #: of the signatures' lists would give.
        self._all: Sequence[int] | None = inp.waiting if inp.full else None
        self._sources: list[Iterable[int]] = []  # the merge's lists (for :meth:`first`)
        if inp.full:
            return
        if freed:  # else no signature's pools were freed: arrivals only
            for sig in inp.waiting_sigs:
                if mask(sig) & freed:
                    jobs = inp.waiting_of(sig)
                    self._sources.append(jobs)
                    self._push(sig, iter(jobs))
        if inp.arrived:
            arrived = sorted(inp.arrived, key=lambda j: (self._submit[j], j))
            self._sources.append(arrived)
            self._push(-1, iter(arrived))

    def _push(self, sig: int, it: Iterator[int]) -> None:
        for j in it:
            heapq.heappush(self._heap, (self._submit[j], j, sig, it))
            return

    def first(self, n: int) -> list[int]:
        """``list(islice(self, n))`` for a scan that skips nothing: the jobs of the merge
        at once, sorted by (submit, job) — the merge's order — without going through its
        heap one job at a time."""
        if self._all is not None:
            if not self._skipped:
                return list(islice(self._all, n))
        elif not self._skipped and not self._seen:
            if self._ordered:  # (submit, job) order is job order
                return sorted(set(chain.from_iterable(self._sources)))[:n]
            submit = self._submit
            keys = sorted({(submit[j], j) for it in self._sources for j in it})
            return [j for _, j in islice(keys, n)]
        return list(islice(self, n))

    def skip(self, sig: int) -> None:
        """Yield no more jobs of signature ``sig`` this round."""
        self._skipped.add(sig)

    def __iter__(self) -> Iterator[int]:
        skipped = self._skipped
        if self._all is not None:
            sig_of = self._sig_of
            for j in self._all:
                if not skipped or sig_of(j) not in skipped:
                    yield j
            return
        heap, seen = self._heap, self._seen
        while heap:
            _, j, sig, it = heapq.heappop(heap)
            if sig >= 0 and sig in skipped:
                continue
            self._push(sig, it)
            if j in seen or (sig < 0 and self._sig_of(j) in skipped):
                continue
            seen.add(j)
            yield j


def data_transfer_s(inp: PolicyInput, job: int, cand: Candidate) -> float:
    """Transfer time for ``job`` on ``cand``, zero where its data set already is (or arrives)."""
    d = inp.jobs.dataset[job]
    if d < 0 or cand.transfer_s == 0.0:
        return 0.0
    site = inp.tables.pool_site[cand.pool]
    return 0.0 if (d, site) in inp.replicas else cand.transfer_s


#: Why a job started, for policies that start jobs in arrival order, first fit.
IN_ORDER = "next in arrival order, on its first choice with room (preferred type, then nearest)"

REASONS: Mapping[str, str] = {
    "devices": "not enough free devices in a usable node shape",
    "power": "site power cap reached",
    "quota": "tenant quota reached",
}


def explain(inp: PolicyInput, job: int, fallback: str = "") -> str:
    """Why ``job`` cannot start now, checked against every place it could run."""
    cands = inp.jobs.candidates(job)
    if not cands:
        return "no pool can run it (accepted types/stacks, memory fit, data residency)"
    tenant = inp.jobs.tenant[job]
    return why_text((inp.capacity.why_not(tenant, c) for c in cands), fallback)


def why_text(whys: Iterable[str | None], fallback: str = "") -> str:
    """:func:`explain`'s text from what the capacity says of each candidate of a job, in
    order (``None``: it has room; none are looked at after it): each reason with the number
    of candidate pools it holds back, in the order they first come."""
    pools: dict[str, int] = {}
    for r in whys:
        if r is None:
            return fallback or "could start, but the policy chose not to this round"
        pools[r] = pools.get(r, 0) + 1
    return "; ".join(f"{REASONS[r]} ({n} pool{'s' if n > 1 else ''})" for r, n in pools.items())


def looks(inp: PolicyInput) -> tuple[object, ...]:
    """What the cluster looks like to a pass, in O(pools × node size): free devices per
    node bucket and shared device, committed power, quota usage, running jobs. A pass that
    started nothing would offer nothing more on the same cluster state that looks the same
    (``las`` keeps such a pass; ``backfill``'s adds the data replicas)."""
    st = inp.capacity.state
    return (
        tuple(tuple(map(len, pn.buckets)) for pn in st.pools),
        tuple((sh.free_total, len(sh)) for sh in st.shared),
        tuple(st.site_committed_w),
        tuple(st.quota_usage),
        len(inp.running),
    )


class Explainer:
    """:func:`explain` for many jobs while capacity does not change (at the end of a
    round): jobs of one tenant and signature have the same candidates, hence the same
    explanation, computed once (``why(job)``)."""

    __slots__ = ("_cache", "_fallback", "_inp")

    def __init__(self, inp: PolicyInput, fallback: str = "") -> None:
        self._inp = inp
        self._fallback = fallback
        self._cache: dict[tuple[int, int], str] = {}

    def __call__(self, job: int) -> str:
        jobs = self._inp.jobs
        key = (jobs.signature(job), jobs.tenant[job])
        why = self._cache.get(key)
        if why is None:
            why = self._cache[key] = explain(self._inp, job, self._fallback)
        return why
