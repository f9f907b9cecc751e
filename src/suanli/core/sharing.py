"""GPU sharing: jobs that take a share of one device, where they go, and fragmentation.

A job with ``device_fraction`` < 1 asks for a **share** ``m`` of one device, in
thousandths (openb's ``gpu_milli``; integers, so sums never drift). A pool's devices
are either *whole* — free, or held by whole-device jobs, counted per node by
:class:`~suanli.core.capacity.PoolNodes` — or *shared*: taken from a node for share
jobs, with ``f`` thousandths still free. A share ``m`` fits on a shared device with
``f ≥ m``, or opens a new shared device on a node with a wholly free one; a shared
device that becomes wholly free again goes back to its node. Whole-device gangs
never land on a shared device.

**Placement rules** (:data:`PLACEMENTS`) choose which shared device a share goes to
(or which node a new shared device comes from), and which node a gang smaller than
a node takes its devices from:

* ``best-fit`` — the shared device with the least room that fits, else a new device on
  the node with the fewest wholly free devices; gangs: that node too (packing);
* ``first-fit`` — the longest-open shared device that fits, else as best-fit;
* ``worst-fit`` — a new device on the node with the most wholly free devices, else the
  shared device with the most room (spreading shares); gangs as best-fit;
* ``fgd`` — fragmentation gradient descent (Weng et al., ATC'23): the choice that
  increases the pool's expected fragmentation ``F`` least, for shares and gangs alike.

**Fragmentation.** The *target workload* of a pool is the mix of requests of the jobs
that can run there: shares ``m < 1000`` with popularity ``p_m`` and gangs of ``k``
whole devices with popularity ``p_k`` (``Σ p = 1``, counted over the run's jobs). For a
request, a node (``d`` devices, ``W`` of them wholly free, shared devices ``g`` with
``f_g`` free) leaves unusable: for a share ``m``, ``Σ_g f_g [f_g < m]`` (a wholly free
device always takes it); for a gang of ``k``, every shared device's free share, and
the ``W`` whole devices as well when ``W < min(k, d)``. The expected fragmentation of
a pool, in thousandths of a device, sums over its up nodes:

.. math::

    F = \\sum_g H(f_g) + \\sum_{W} h_W\\, T(W), \\qquad
    H(f) = f \\Big(\\sum_{m > f} p_m + \\sum_k p_k\\Big), \\qquad
    T(W) = 1000\\, W \\sum_{k:\\, \\min(k, d) > W} p_k,

with ``h_W`` the number of nodes with ``W`` wholly free devices: the device capacity
that the next request, drawn from the workload, could not use — FGD's measure of
"unallocated GPUs" stranded by fragmentation. ``fgd`` takes the option of least

.. math::

    \\Delta F = \\begin{cases}
      H(f - m) - H(f) & \\text{share } m \\text{ on a shared device with } f \\text{ free} \\\\
      H(1000 - m) + T(W - 1) - T(W) & \\text{share } m \\text{ on a new device, node with } W \\\\
      T(W - k) - T(W) & \\text{gang } k < d \\text{ on a node with } W \\ge k
    \\end{cases}

(ties: a shared device before a new one, then the least ``f`` or ``W``). ``ΔF``
depends on a node only through ``W``, so a choice costs one pass over the distinct
free shares and the ``d + 1`` node buckets. FGD also weighs CPU; suanli's pools
have no CPU dimension.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
from sortedcontainers import SortedList

from suanli.errors import UnknownNameError

if TYPE_CHECKING:
    from suanli.core.jobtable import JobTable

#: Thousandths of a device: the unit of a share.
MILLI = 1000
DEFAULT_PLACEMENT = "best-fit"


@dataclass(frozen=True, slots=True)
class ShareChoice:
    """Where a share goes: the shared device ``key`` (with ``f`` free), or, when ``key``
    is -1, a new shared device from a node with ``bucket`` wholly free devices."""

    f: int
    key: int
    bucket: int


class Fragmentation:
    """``H`` and ``T`` of the module docstring for one pool's target workload.

    ``requests`` maps a request, in thousandths of a device (a share ``m < 1000``, or
    ``1000·k`` for a gang of ``k``), to the number of jobs that make it.
    """

    __slots__ = ("h", "t", "zero")

    def __init__(self, requests: Mapping[int, int], per_node: int) -> None:
        total = sum(requests.values())
        h = np.zeros(MILLI + 1)
        t = np.zeros(per_node + 1)
        if total:
            shares = np.zeros(MILLI + 1)
            p_whole = 0.0
            for r, n in requests.items():
                if r < MILLI:
                    shares[r] += n / total
                else:
                    p_whole += n / total
            at_least = np.cumsum(shares[::-1])[::-1]  # Σ_{m ≥ f} p_m
            above = np.append(at_least[1:], 0.0)  # Σ_{m > f} p_m
            h = np.arange(MILLI + 1) * (above + p_whole)
            gangs = [
                (min(r // MILLI, per_node), n / total) for r, n in requests.items() if r >= MILLI
            ]
            for w in range(per_node + 1):
                t[w] = MILLI * w * sum(p for k, p in gangs if k > w)
        self.h: tuple[float, ...] = tuple(float(x) for x in h)
        self.t: tuple[float, ...] = tuple(float(x) for x in t)
        #: No request can be fragmented (no jobs, or only whole-node gangs): F is 0.
        self.zero = not any(self.h) and not any(self.t)

    def of(self, shared_h: float, hist: Sequence[int]) -> float:
        """``F`` of a pool whose shared devices sum to ``shared_h`` and whose node
        histogram (nodes by wholly free devices) is ``hist``."""
        if self.zero:
            return 0.0
        t = self.t
        return max(0.0, shared_h + sum(n * t[w] for w, n in enumerate(hist) if n))


class SharedDevices:
    """The shared devices of one pool: free share per device, its node, and ``Σ H(f)``.

    Keys are given in opening order (first-fit prefers the oldest); ``by_free`` holds
    ``(free, key)`` pairs, sorted.
    """

    __slots__ = ("by_free", "free", "free_total", "h", "next_key", "node", "sum_h")

    def __init__(self, h: Sequence[float]) -> None:
        self.free: dict[int, int] = {}
        self.node: dict[int, int] = {}
        self.by_free: SortedList = SortedList()
        self.next_key = 0
        self.h = h
        self.sum_h = 0.0
        #: Σ free over the shared devices, in thousandths.
        self.free_total = 0

    def __len__(self) -> int:
        return len(self.free)

    def max_free(self) -> int:
        """The most room on any shared device (0: none)."""
        return int(self.by_free[-1][0]) if self.by_free else 0

    def open(self, node: int, share: int) -> int:
        """A wholly free device of ``node`` becomes shared, with ``share`` taken; its key."""
        key = self.next_key
        self.next_key += 1
        f = MILLI - share
        self.free[key] = f
        self.node[key] = node
        self.by_free.add((f, key))
        self.sum_h += self.h[f]
        self.free_total += f
        return key

    def take(self, key: int, share: int) -> None:
        """Take ``share`` of shared device ``key`` (the caller checked it fits)."""
        f = self.free[key]
        self._set(key, f, f - share)

    def give(self, key: int, share: int) -> int:
        """Give ``share`` back to ``key``; return its node if it is now wholly free (it
        leaves the shared devices), else -1."""
        f = self.free[key] + share
        if f < MILLI:
            self._set(key, f - share, f)
            return -1
        self.by_free.remove((f - share, key))
        self.sum_h -= self.h[f - share]
        self.free_total -= f - share
        del self.free[key]
        return self.node.pop(key)

    def _set(self, key: int, old: int, new: int) -> None:
        self.by_free.remove((old, key))
        self.by_free.add((new, key))
        self.free[key] = new
        self.sum_h += self.h[new] - self.h[old]
        self.free_total += new - old


class PlacementRule(Protocol):
    """Chooses shared devices for shares and nodes for gangs smaller than a node."""

    name: ClassVar[str]
    #: Whether :meth:`bucket` may differ from best fit (smallest ``W ≥ k``).
    picks_buckets: ClassVar[bool]

    def share(
        self, frag: Fragmentation, shared: SortedList, hist: Sequence[int], m: int
    ) -> ShareChoice | None:
        """Where a share ``m`` goes (``None``: nowhere). ``shared`` holds ``(free, key)``."""
        ...

    def bucket(self, frag: Fragmentation, hist: Sequence[int], k: int) -> int:
        """``W`` of the node a gang of ``k`` (fewer than a node) takes its devices from."""
        ...


def _first_fitting(shared: SortedList, m: int) -> int:
    """Index in ``shared`` of the first device with at least ``m`` free."""
    return int(shared.bisect_left((m, -1)))


def _smallest_bucket(hist: Sequence[int], k: int) -> int:
    return next((w for w in range(k, len(hist)) if hist[w]), -1)


def _new_device(hist: Sequence[int]) -> ShareChoice | None:
    w = _smallest_bucket(hist, 1)
    return ShareChoice(MILLI, -1, w) if w >= 0 else None


class BestFit:
    """Pack: the tightest shared device, else a new one on the fullest node."""

    name: ClassVar[str] = "best-fit"
    picks_buckets: ClassVar[bool] = False

    def share(
        self, frag: Fragmentation, shared: SortedList, hist: Sequence[int], m: int
    ) -> ShareChoice | None:
        """A shared device with room ≥ ``m`` (:meth:`among`), else a new device."""
        i = _first_fitting(shared, m)
        if i < len(shared):
            f, key = self.among(shared, i)
            return ShareChoice(f, key, -1)
        return _new_device(hist)

    def among(self, shared: SortedList, i: int) -> tuple[int, int]:
        """Which of the shared devices from index ``i`` on (all fit): the least room."""
        f, key = shared[i]
        return f, key

    def bucket(self, frag: Fragmentation, hist: Sequence[int], k: int) -> int:
        """The node with the fewest wholly free devices that fit."""
        return _smallest_bucket(hist, k)


class FirstFit(BestFit):
    """The longest-open shared device that fits, else a new one on the fullest node."""

    name: ClassVar[str] = "first-fit"

    def among(self, shared: SortedList, i: int) -> tuple[int, int]:
        """The one opened first (the smallest key)."""
        f, key = min(shared.islice(i), key=lambda fk: fk[1])
        return f, key


class WorstFit(BestFit):
    """Spread shares: a new device on the emptiest node, else the roomiest shared one."""

    name: ClassVar[str] = "worst-fit"

    def share(
        self, frag: Fragmentation, shared: SortedList, hist: Sequence[int], m: int
    ) -> ShareChoice | None:
        """A wholly free device of the node with the most of them, else the most room."""
        w = next((w for w in range(len(hist) - 1, 0, -1) if hist[w]), -1)
        if w >= 0:
            return ShareChoice(MILLI, -1, w)
        if shared and shared[-1][0] >= m:
            f, key = shared[shared.bisect_left((shared[-1][0], -1))]
            return ShareChoice(f, key, -1)
        return None


class Fgd:
    """Fragmentation gradient descent: the least increase of expected fragmentation."""

    name: ClassVar[str] = "fgd"
    picks_buckets: ClassVar[bool] = True

    def share(
        self, frag: Fragmentation, shared: SortedList, hist: Sequence[int], m: int
    ) -> ShareChoice | None:
        """The option of least ΔF (module docstring), ties as stated there."""
        h, t = frag.h, frag.t
        best: tuple[float, int, int, int] | None = None
        i = _first_fitting(shared, m)
        n = len(shared)
        while i < n:
            f, key = shared[i]
            opt = (round(h[f - m] - h[f], 9), 0, f, key)
            if best is None or opt < best:
                best = opt
            i = shared.bisect_right((f, sys.maxsize))  # the next distinct free share
        base = h[MILLI - m]
        for w in range(1, len(hist)):
            if hist[w]:
                opt = (round(base + t[w - 1] - t[w], 9), 1, w, -1)
                if best is None or opt < best:
                    best = opt
        if best is None:
            return None
        _, kind, x, key = best
        return ShareChoice(x, key, -1) if kind == 0 else ShareChoice(MILLI, -1, x)

    def bucket(self, frag: Fragmentation, hist: Sequence[int], k: int) -> int:
        """The node bucket ``W ≥ k`` of least ``T(W − k) − T(W)``."""
        t = frag.t
        best: tuple[float, int] | None = None
        for w in range(k, len(hist)):
            if hist[w]:
                opt = (round(t[w - k] - t[w], 9), w)
                if best is None or opt < best:
                    best = opt
        return best[1] if best is not None else -1


PLACEMENTS: Mapping[str, type[PlacementRule]] = {
    r.name: r for r in (BestFit, FirstFit, WorstFit, Fgd)
}


def placement_rule(name: str) -> PlacementRule:
    """The placement rule called ``name`` (the error lists the valid names)."""
    cls = PLACEMENTS.get(name)
    if cls is None:
        raise UnknownNameError("placement rule", name, PLACEMENTS)
    return cls()


def pool_requests(jobs: JobTable) -> list[dict[int, int]]:
    """The target workload of every pool: for each request (thousandths of a device) the
    number of ``jobs`` that would make it there (:class:`Fragmentation`)."""
    by_sig: dict[int, int] = {}
    for j in range(len(jobs)):
        sig = jobs.signature(j)
        by_sig[sig] = by_sig.get(sig, 0) + 1
    out: list[dict[int, int]] = [{} for _ in range(jobs.tables.n_pools)]
    for sig, n in sorted(by_sig.items()):
        for c in jobs.sig_candidates[sig]:
            req = out[c.pool]
            req[c.milli] = req.get(c.milli, 0) + n
    return out
