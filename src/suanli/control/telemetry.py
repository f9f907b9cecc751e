"""Prometheus metrics of one control plane (its own registry: no global state).

Besides the loop's own counters (submissions, dispatches, rounds, transitions), the
registry carries what an operator needs to rebuild the live dashboard's views in Grafana
(``deploy/grafana/suanli-dashboard.json``; the table of metrics is in docs/serve.md).

**Sites.** At each sample of the live loop (every ``sample_s``,
:mod:`suanli.control.samples`) the gauges take the sample's values — facility power
``P_s`` (W), devices in all ``D_s``, up ``U_s``, held ``A_s`` and busy ``B_s``, the
utilisation ``B_s / D_s`` (0 for a site without devices), the tariff ``π_s``
(currency/kWh, gross) and the grid's carbon intensity ``g_s`` (g CO₂/kWh) — and the
counters add the interval since the site's previous sample *k−1*, holding that sample's
values over it (the dashboard's rule, :mod:`suanli.report.live_series`):

.. math::

    E_s \\mathrel{+}= P_{s,k-1}\\,\\Delta_k, \\qquad
    C_s \\mathrel{+}= c_{s,k-1}\\,\\Delta_k / 3600, \\qquad
    G_s \\mathrel{+}= P_{s,k-1}\\,g_{s,k-1}\\,\\Delta_k / 3.6 \\cdot 10^6,

with ``Δ_k = t_k − t_{k−1}`` in seconds of the control plane's clock (scenario seconds when
it runs scaled), ``E`` in joules, ``c`` the net cost rate (currency/h, subsidies deducted)
so ``C`` in the scenario's currency, and ``G`` in grams. An interval longer than
``max_gap_s`` (the loop stalled) or not positive adds nothing, as in the dashboard. A cost
increment below zero (only a negative tariff makes one) goes to the credit counter
instead, so that both stay counters: the net cost is ``cost − credit``. The counters start
at zero with the process; Prometheus' ``rate``/``increase`` handle the reset.

**Tenants.** ``suanli_tenant_jobs{tenant,state}`` (unfinished states) and
``suanli_tenant_devices{tenant}`` (devices held by placed jobs) are counted in the
database at each scrape, like ``suanli_jobs{state}``. A tenant once seen keeps its series
(at 0) so that a graph drops to zero instead of ending.

**Waits.** ``suanli_job_wait_seconds{tenant}`` observes, each time a job starts running,
the time since it was queued: since its submission, or since it was put back in the queue
(preempted, or its dispatch lost) by this process.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from suanli.store.records import SampleRecord, ServiceSampleRecord
from suanli.store.schema import PLACED_STATES, JobState

#: Unfinished job states, in their order of life (the states of ``suanli_tenant_jobs``).
ACTIVE_STATES: tuple[str, ...] = tuple(s.value for s in JobState if not s.final)
_PLACED = frozenset(s.value for s in PLACED_STATES)

#: Buckets of the wait histogram (seconds): a second to a week.
WAIT_BUCKETS: tuple[float, ...] = (
    1.0,
    5.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
    259200.0,
    604800.0,
)

#: Outcomes of ``suanli_dispatches_total`` (:mod:`suanli.control.book`).
DISPATCH_OUTCOMES: tuple[str, ...] = ("submitted", "rejected", "uncertain", "lost", "adopted")

#: Per tenant and unfinished state: the number of jobs and the devices they hold.
TenantCounts = Mapping[tuple[str, str], tuple[int, int]]


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


class _JobsByTenant(Collector):
    """``suanli_tenant_jobs{tenant,state}`` and ``suanli_tenant_devices{tenant}``, counted
    in the database when scraped (tenants seen before stay, at 0)."""

    def __init__(self, counts: Callable[[], TenantCounts]) -> None:
        self._counts = counts
        self._seen: set[str] = set()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "suanli_tenant_jobs",
            "Unfinished jobs per tenant and state (queued, dispatching, pending, running, unknown)",
            labels=["tenant", "state"],
        )
        devices = GaugeMetricFamily(
            "suanli_tenant_devices",
            "Devices held by a tenant's placed jobs (dispatching, pending, running, unknown)",
            labels=["tenant"],
        )
        try:
            counts = dict(self._counts())
        except Exception:  # a scrape must not fail because the database is busy
            yield jobs
            yield devices
            return
        self._seen.update(t for t, _ in counts)
        for tenant in sorted(self._seen):
            held = 0
            for state in ACTIVE_STATES:
                n, d = counts.get((tenant, state), (0, 0))
                jobs.add_metric([tenant, state], n)
                if state in _PLACED:
                    held += d
            devices.add_metric([tenant], held)
        yield jobs
        yield devices


def package_version() -> str:
    """The installed version of ``suanli`` (``"unknown"`` when it is not installed)."""
    try:
        return metadata.version("suanli")
    except metadata.PackageNotFoundError:
        return "unknown"


class Telemetry:
    """The metrics a control plane exports at ``/metrics`` (see the module docstring)."""

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
        self.job_wait_seconds = Histogram(
            "suanli_job_wait_seconds",
            "Time from a job's queueing (submission, or requeue) to its start at a site",
            ["tenant"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.build_info = Gauge(
            "suanli_build_info",
            "Always 1: the running suanli's version and Python",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(package_version(), platform.python_version()).set(1)
        self._site_gauges(r)
        self._service_gauges(r)
        self._last: dict[str, SampleRecord] = {}

    def _service_gauges(self, r: CollectorRegistry) -> None:
        svc = ["service"]
        self.service_replicas = Gauge(
            "suanli_service_replicas",
            "Replicas of an online inference service (ready: serving; starting: cold start)",
            ["service", "state"],
            registry=r,
        )
        self.service_devices = Gauge(
            "suanli_service_devices", "Devices held by a service's replicas", svc, registry=r
        )
        self.service_demand = Gauge(
            "suanli_service_demand_rps",
            "Requests/s offered to a service over the last serving tick",
            svc,
            registry=r,
        )
        self.service_capacity = Gauge(
            "suanli_service_capacity_rps",
            "Requests/s a service's ready replicas can serve within its SLO",
            svc,
            registry=r,
        )
        self.service_attainment = Gauge(
            "suanli_service_slo_attainment",
            "Share of a service's requests within its SLO over the last serving tick",
            svc,
            registry=r,
        )
        self.service_tokens = Gauge(
            "suanli_service_tokens_per_second",
            "Tokens (input and output) a service served per second over the last tick",
            svc,
            registry=r,
        )

    def _site_gauges(self, r: CollectorRegistry) -> None:
        site = ["site"]
        self.site_power = Gauge(
            "suanli_site_power_watts",
            "Estimated facility power of a site (PUE included; the power model's, at the "
            "last sample)",
            site,
            registry=r,
        )
        self.site_energy = Counter(
            "suanli_site_energy_joules",
            "Estimated facility energy of a site, integrated over the samples",
            site,
            registry=r,
        )
        self.site_cost = Counter(
            "suanli_site_energy_cost",
            "Net electricity cost of a site (subsidies deducted), in the currency of the "
            "label, integrated over the samples",
            ["site", "currency"],
            registry=r,
        )
        self.site_credit = Counter(
            "suanli_site_energy_credit",
            "Negative electricity cost of a site (only at a negative tariff): the net cost "
            "is cost - credit",
            ["site", "currency"],
            registry=r,
        )
        self.site_carbon = Counter(
            "suanli_site_carbon_grams",
            "Estimated CO2 emitted for a site's energy (grams), integrated over the samples",
            site,
            registry=r,
        )
        self.site_price = Gauge(
            "suanli_site_price_per_kwh",
            "Electricity tariff of a site now (gross, currency of the label per kWh)",
            ["site", "currency"],
            registry=r,
        )
        self.site_carbon_intensity = Gauge(
            "suanli_site_carbon_intensity_grams_per_kwh",
            "Carbon intensity of a site's grid now (g CO2 per kWh)",
            site,
            registry=r,
        )
        self.site_utilisation = Gauge(
            "suanli_site_utilisation_ratio",
            "Busy devices / devices of a site (0 without devices)",
            site,
            registry=r,
        )
        self.site_devices = Gauge("suanli_site_devices", "Devices of a site", site, registry=r)
        self.site_devices_up = Gauge(
            "suanli_site_devices_up",
            "Devices of a site while it is reachable (0 while it is not)",
            site,
            registry=r,
        )
        self.site_devices_allocated = Gauge(
            "suanli_site_devices_allocated",
            "Devices of a site held by suanli's placed jobs",
            site,
            registry=r,
        )
        self.site_devices_busy = Gauge(
            "suanli_site_devices_busy",
            "Devices of a site running suanli's jobs",
            site,
            registry=r,
        )

    def init_sites(self, sites: Sequence[str]) -> None:
        """Start the per-site counters of ``sites`` at 0 (every dispatch outcome, strays),
        so that their series exist before anything happens."""
        for site in sites:
            for outcome in DISPATCH_OUTCOMES:
                self.dispatches.labels(site, outcome)
            self.strays.labels(site)

    def watch_jobs(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export ``suanli_jobs{state}`` from ``counts`` at every scrape."""
        self.registry.register(_JobsByState(counts))

    def watch_tenants(self, counts: Callable[[], TenantCounts]) -> None:
        """Export ``suanli_tenant_jobs{tenant,state}`` and ``suanli_tenant_devices{tenant}``
        from ``counts`` (jobs and devices per tenant and unfinished state) at every scrape."""
        self.registry.register(_JobsByTenant(counts))

    def observe_wait(self, tenant: str, seconds: float) -> None:
        """A job of ``tenant`` started ``seconds`` after it was queued."""
        self.job_wait_seconds.labels(tenant).observe(max(0.0, seconds))

    def observe_services(self, samples: Sequence[ServiceSampleRecord]) -> None:
        """Set the service gauges to a serving tick's ``samples``."""
        for x in samples:
            svc = x.service
            self.service_replicas.labels(svc, "ready").set(x.ready)
            self.service_replicas.labels(svc, "starting").set(x.starting)
            self.service_devices.labels(svc).set(x.devices)
            self.service_demand.labels(svc).set(x.demand_rps)
            self.service_capacity.labels(svc).set(x.capacity_rps)
            self.service_attainment.labels(svc).set(x.attainment)
            self.service_tokens.labels(svc).set(x.tokens_per_s)

    def observe_sites(
        self, samples: Sequence[SampleRecord], *, currency: str, max_gap_s: float
    ) -> None:
        """Set the site gauges to ``samples`` and integrate the counters over the interval
        since each site's previous sample (see the module docstring)."""
        for x in samples:
            site = x.site
            power_w = x.power_mw * 1e6
            self.site_power.labels(site).set(power_w)
            self.site_price.labels(site, currency).set(x.price)
            self.site_carbon_intensity.labels(site).set(x.carbon * 1000.0)
            self.site_devices.labels(site).set(x.devices)
            self.site_devices_up.labels(site).set(x.up)
            self.site_devices_allocated.labels(site).set(x.allocated)
            self.site_devices_busy.labels(site).set(x.busy)
            self.site_utilisation.labels(site).set(x.busy / x.devices if x.devices else 0.0)
            energy = self.site_energy.labels(site)
            cost = self.site_cost.labels(site, currency)
            credit = self.site_credit.labels(site, currency)
            carbon = self.site_carbon.labels(site)
            prev, self._last[site] = self._last.get(site), x
            if prev is None:
                continue
            dt = x.at - prev.at
            if not 0.0 < dt <= max_gap_s:
                continue
            joules = prev.power_mw * 1e6 * dt
            energy.inc(joules)
            carbon.inc(joules / 3.6e6 * prev.carbon * 1000.0)
            money = prev.cost_per_h * dt / 3600.0
            if money >= 0.0:
                cost.inc(money)
            else:
                credit.inc(-money)
