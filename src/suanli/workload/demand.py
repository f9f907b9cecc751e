"""Demand for online inference services: requests per second per service and user region
over time, with the requests' token lengths (DESIGN §3a).

Two shapes of demand, both from real data:

* a :class:`RateCurve` — the mean arrival rate in consecutive windows (ServeGen's
  10-minute windows), the windows' coefficient of variation of inter-arrival times
  (burstiness; 1 for Poisson arrivals) and the input and output length distributions;
  the curve repeats when a run is longer than it. Window 0 starts at midnight, local
  time in ``timezone``, so a curve lines up with its users' day wherever the fleet is;
* a :class:`RequestTrace` — individual requests (arrival, input and output tokens), as
  Azure's and Mooncake's hours give them; :func:`curve_of` turns one into a curve.

A :class:`Demand` holds curves and traces, each for one (service, region); the file
format that holds it is :mod:`suanli.workload.demand_file` (versioned).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class LengthDist:
    """Token lengths as a histogram: ``tokens[i]`` with probability ``probability[i]``
    (probabilities sum to 1, tokens ascending)."""

    tokens: tuple[int, ...]
    probability: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean length in tokens."""
        return float(np.dot(self.tokens, self.probability))

    @property
    def scv(self) -> float:
        """Squared coefficient of variation of the length."""
        m = self.mean
        if m <= 0:
            return 0.0
        second = float(np.dot(np.square(self.tokens, dtype=float), self.probability))
        return max(0.0, second / (m * m) - 1.0)

    def quantile(self, q: float) -> int:
        """Smallest length with cumulative probability ≥ ``q``."""
        cum = np.cumsum(self.probability)
        i = int(np.searchsorted(cum, q - 1e-12))
        return self.tokens[min(i, len(self.tokens) - 1)]

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
        """``n`` lengths drawn with ``rng``."""
        p = np.asarray(self.probability, dtype=float)
        return np.asarray(self.tokens, dtype=np.int64)[rng.choice(len(p), size=n, p=p / p.sum())]

    @staticmethod
    def of(values: Sequence[int] | npt.NDArray[np.int64]) -> LengthDist:
        """The empirical distribution of observed lengths."""
        toks, counts = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
        prob = counts / counts.sum()
        return LengthDist(tuple(int(t) for t in toks), tuple(float(p) for p in prob))


@dataclass(frozen=True, slots=True)
class RateCurve:
    """Demand of one service in one user region, window by window (see the module
    docstring). ``rate_rps[i]`` is the mean rate in window *i*, ``cv[i]`` the coefficient
    of variation of its inter-arrival times."""

    service: str
    region: str
    window_s: float
    rate_rps: tuple[float, ...]
    cv: tuple[float, ...]
    input_tokens: LengthDist
    output_tokens: LengthDist
    timezone: str = "UTC"
    source: str = ""

    @property
    def period_s(self) -> float:
        """Length of the curve before it repeats."""
        return self.window_s * len(self.rate_rps)

    @property
    def peak_rps(self) -> float:
        """The highest window's mean rate."""
        return max(self.rate_rps, default=0.0)

    def window(self, local_s: float) -> int:
        """Index of the window holding ``local_s`` seconds after local midnight of day 0
        (wrapping around)."""
        return math.floor(local_s / self.window_s) % len(self.rate_rps)


@dataclass(frozen=True, slots=True)
class RequestTrace:
    """Individual requests: arrival (seconds from the trace's start, ascending), input
    and output tokens."""

    arrival_s: npt.NDArray[np.float64]
    input_tokens: npt.NDArray[np.int64]
    output_tokens: npt.NDArray[np.int64]
    source: str = ""

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def span_s(self) -> float:
        """Seconds from the first to the last arrival."""
        return float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) else 0.0


def curve_of(
    trace: RequestTrace, service: str, region: str, window_s: float = 600.0, timezone: str = "UTC"
) -> RateCurve:
    """A rate curve of ``trace`` in windows of ``window_s`` from its first arrival (rate
    and inter-arrival CV per window; one length distribution for the whole trace).

    A partial last window — the trace ends inside it — gets its count over the part
    covered (its start to the last arrival) when that part is at least half a window;
    a shorter tail is left out, so the curve describes whole windows and repeats with
    the trace's span. A trace shorter than one window is one window. A window with
    fewer than three arrivals gets cv 1 (nothing to measure)."""
    t = trace.arrival_s - (trace.arrival_s[0] if len(trace) else 0.0)
    span = float(t[-1]) if len(t) else 0.0
    n = max(1, math.ceil(span / window_s - 1e-9))
    tail = span - (n - 1) * window_s
    durations = [window_s] * n
    if n > 1 and tail < window_s / 2:
        n -= 1
        durations.pop()
    elif n > 1:
        durations[-1] = tail
    idx = (t // window_s).astype(np.int64)
    idx[idx == n] = n - 1  # an arrival exactly at the end of the last window
    rates, cvs = [], []
    for w in range(n):
        a = t[idx == w]
        rates.append(len(a) / durations[w])
        gaps = np.diff(a)
        cvs.append(float(gaps.std() / gaps.mean()) if len(gaps) > 1 and gaps.mean() > 0 else 1.0)
    return RateCurve(
        service=service,
        region=region,
        window_s=window_s,
        rate_rps=tuple(rates),
        cv=tuple(cvs),
        input_tokens=LengthDist.of(trace.input_tokens),
        output_tokens=LengthDist.of(trace.output_tokens),
        timezone=timezone,
        source=trace.source,
    )


@dataclass(frozen=True, slots=True)
class ServiceTrace:
    """The requests of one service from one user region."""

    service: str
    region: str
    trace: RequestTrace


@dataclass(frozen=True, slots=True)
class Demand:
    """Everything a demand file holds: rate curves and request traces, each for one
    (service, region); at most one curve and one trace per pair."""

    curves: tuple[RateCurve, ...] = ()
    requests: tuple[ServiceTrace, ...] = ()

    def curve(self, service: str, region: str) -> RateCurve | None:
        """The curve of ``service`` in ``region``, if there is one."""
        return next((c for c in self.curves if (c.service, c.region) == (service, region)), None)

    def trace(self, service: str, region: str) -> RequestTrace | None:
        """The requests of ``service`` from ``region``, if there are some."""
        return next(
            (r.trace for r in self.requests if (r.service, r.region) == (service, region)), None
        )

    @property
    def services(self) -> tuple[str, ...]:
        """The services named, sorted."""
        return tuple(sorted({c.service for c in self.curves} | {r.service for r in self.requests}))
