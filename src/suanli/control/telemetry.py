"""Prometheus metrics of one control plane (its own registry: no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _JobsByState(Collector):
    """``suanli_jobs{state}``, counted in the database when scraped."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fam = GaugeMetricFamily("suanli_jobs", "Jobs by state", labels=["state"])
        try:
            counts = self._counts()
        except Exception:  # a scrape must not fail because the database is busy
            counts = {}
        for state, n in sorted(counts.items()):
            fam.add_metric([state], n)
        yield fam


class Telemetry:
    """The metrics a control plane exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.submissions = Counter("suanli_submissions", "Jobs accepted over the API", registry=r)
        self.dispatches = Counter(
            "suanli_dispatches", "Dispatches to sites by outcome", ["site", "outcome"], registry=r
        )
        self.round_seconds = Histogram(
            "suanli_round_seconds",
            "Duration of a scheduling round (snapshot, policy, bookkeeping; not the write)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.site_reachable = Gauge(
            "suanli_site_reachable",
            "1 when the site's workload manager answers",
            ["site"],
            registry=r,
        )
        self.strays = Counter(
            "suanli_stray_site_jobs",
            "Site jobs carrying this installation's tag that matched no placed job "
            "(cancelled when active)",
            ["site"],
            registry=r,
        )
        self.transitions = Counter(
            "suanli_job_transitions", "Job state changes", ["state"], registry=r
        )
        self.policy_errors = Counter(
            "suanli_policy_errors",
            "Policy decisions that could not be carried out (a bug in the policy)",
            registry=r,
        )

    def watch_jobs(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export ``suanli_jobs{state}`` from ``counts`` at every scrape."""
        self.registry.register(_JobsByState(counts))
