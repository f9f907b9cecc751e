"""``/metrics`` for Grafana: the series of sites, tenants, waits and online inference
services, and the dashboard's queries (deploy/grafana) naming only metrics the control
plane exports."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from suanli.control.service import LoopSettings
from suanli.control.telemetry import Telemetry
from suanli.store.records import SampleRecord, ServiceSampleRecord
from tests.api.conftest import Api, running_api
from tests.api.test_dashboard import sampled, services_api

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "suanli-dashboard.json"
JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "gang": 8, "command": "sleep 1"}

#: (sample name, labels) → value
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Scraped:
    """What the workload left in ``/metrics``, and the jobs' states as the API tells them."""

    samples: Samples
    states: dict[int, tuple[str, str]]  # job id → (tenant, state)
    currency: str

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample ``name{labels}`` (KeyError if absent)."""
        return self.samples[(name, frozenset(labels.items()))]

    def matching(self, name: str, **labels: str) -> list[float]:
        """The values of every sample ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return [v for (n, ls), v in self.samples.items() if n == name and want <= ls]

    @property
    def names(self) -> set[str]:
        """Every sample name in the scrape (``_total``, ``_bucket``, … included)."""
        return {n for n, _ in self.samples}


def parse(text: str) -> Samples:
    """Prometheus' text format as samples."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _poll(what: str, cond: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def metrics_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("metrics") / "metrics.db"
    # jobs run a minute (longer than the tests) and sites are sampled every 0.2 s
    yield from running_api(str(db), 60.0, LoopSettings(poll_s=0.1, grace_s=0.2, sample_s=0.2))


@pytest.fixture(scope="module")
def scraped(metrics_api: Api) -> Scraped:
    """Two of lab's jobs fill both sites (8 devices each); one of uni's waits."""
    api = metrics_api
    c = api.client

    def state(job_id: int, who: dict[str, str]) -> str:
        return str(c.get(f"/v1/jobs/{job_id}", headers=who).json()["state"])

    lab = [c.post("/v1/jobs", json=JOB, headers=api.lab).json()["id"] for _ in range(2)]
    _poll("lab's jobs running", lambda: all(state(i, api.lab) == "running" for i in lab))
    uni = c.post("/v1/jobs", json=JOB, headers=api.uni).json()["id"]
    _poll(
        "uni's job considered",
        lambda: c.get(f"/v1/jobs/{uni}/why", headers=api.uni).json().get("reason"),
    )

    def ready() -> Samples | None:
        s = parse(c.get("/metrics").text)
        busy = sum(v for (n, _), v in s.items() if n == "suanli_site_devices_busy")
        energy = [v for (n, _), v in s.items() if n == "suanli_site_energy_joules_total"]
        return s if busy == 16 and len(energy) == 2 and min(energy) > 0 else None

    samples = _poll("a sample of both sites busy, and energy", ready)
    states = {i: ("lab", state(i, api.lab)) for i in lab} | {uni: ("uni", state(uni, api.uni))}
    return Scraped(samples, states, api.services.scenario.currency)


def test_site_series(scraped: Scraped) -> None:
    m = scraped
    for site, intensity_g, price in (("east", 600.0, 0.65), ("west", 500.0, 0.45)):
        power = m.value("suanli_site_power_watts", site=site)
        assert power > 0
        assert m.value("suanli_site_devices", site=site) == 8
        assert m.value("suanli_site_devices_up", site=site) == 8
        assert m.value("suanli_site_devices_allocated", site=site) == 8
        assert m.value("suanli_site_devices_busy", site=site) == 8
        util = m.value("suanli_site_utilisation_ratio", site=site)
        assert 0.0 <= util <= 1.0 and util == pytest.approx(1.0)
        assert m.value("suanli_site_reachable", site=site) == 1
        assert m.value("suanli_site_carbon_intensity_grams_per_kwh", site=site) == pytest.approx(
            intensity_g
        )
        assert m.value("suanli_site_price_per_kwh", site=site, currency=m.currency) == (
            pytest.approx(price)
        )
        # the counters integrate the same power: their ratios are the site's constant rates
        kwh = m.value("suanli_site_energy_joules_total", site=site) / 3.6e6
        assert kwh > 0
        carbon = m.value("suanli_site_carbon_grams_total", site=site)
        assert carbon / kwh == pytest.approx(intensity_g)
        cost = m.value("suanli_site_energy_cost_total", site=site, currency=m.currency)
        assert cost / kwh == pytest.approx(price)
        assert m.value("suanli_site_energy_credit_total", site=site, currency=m.currency) == 0
        assert m.value("suanli_dispatches_total", site=site, outcome="submitted") >= 1
        assert m.value("suanli_dispatches_total", site=site, outcome="rejected") == 0


def test_tenant_series(scraped: Scraped) -> None:
    m = scraped
    assert sorted(s for _, s in m.states.values()) == ["queued", "running", "running"]
    for tenant in ("lab", "uni"):
        for state in ("queued", "running"):
            want = sum(1 for t, s in m.states.values() if (t, s) == (tenant, state))
            assert m.value("suanli_tenant_jobs", tenant=tenant, state=state) == want
    assert m.value("suanli_tenant_devices", tenant="lab") == 16
    assert m.value("suanli_tenant_devices", tenant="uni") == 0
    # a wait observed per start: lab's two jobs, none of uni's
    assert m.value("suanli_job_wait_seconds_count", tenant="lab") >= 2
    assert m.value("suanli_job_wait_seconds_bucket", tenant="lab", le="+Inf") >= 2
    assert 0 <= m.value("suanli_job_wait_seconds_sum", tenant="lab") < 60
    assert not m.matching("suanli_job_wait_seconds_count", tenant="uni")
    assert m.value("suanli_jobs", state="running") == 2


def test_build_info_and_loop_series(scraped: Scraped) -> None:
    m = scraped
    (info,) = [(dict(ls), v) for (n, ls), v in m.samples.items() if n == "suanli_build_info"]
    assert info[1] == 1 and info[0]["python"]
    assert info[0]["version"] == metadata.version("suanli")
    assert m.value("suanli_submissions_total") == 3
    assert m.value("suanli_round_seconds_count") > 0
    assert m.value("suanli_policy_errors_total") == 0


@pytest.fixture(scope="module")
def services_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server running lab's service chat and uni's search (dashboard-services.yaml)."""
    db = tmp_path_factory.mktemp("service-metrics") / "metrics.db"
    yield from services_api(str(db), LoopSettings(poll_s=0.1, grace_s=0.2, sample_s=0.5))


SERVICE_GAUGES = (
    "suanli_service_replicas",
    "suanli_service_devices",
    "suanli_service_demand_rps",
    "suanli_service_capacity_rps",
    "suanli_service_slo_attainment",
    "suanli_service_tokens_per_second",
)


def test_service_gauges(services_metrics: Api) -> None:
    """Every serving tick sets the service gauges to the tick's sample: the scrape and the
    newest sample the loop wrote of each service agree, for both services."""
    api = services_metrics
    sampled(api, 2)
    store = api.services.control.service_store

    def gauges(s: Samples, sid: str) -> tuple[float, ...]:
        def one(name: str, **labels: str) -> float:
            return s[(name, frozenset({"service": sid, **labels}.items()))]

        return (
            one("suanli_service_replicas", state="ready"),
            one("suanli_service_replicas", state="starting"),
            one("suanli_service_devices"),
            one("suanli_service_demand_rps"),
            one("suanli_service_capacity_rps"),
            one("suanli_service_slo_attainment"),
            one("suanli_service_tokens_per_second"),
        )

    def of(x: ServiceSampleRecord) -> tuple[float, ...]:
        return (
            x.ready, x.starting, x.devices, x.demand_rps, x.capacity_rps, x.attainment,
            x.tokens_per_s,
        )  # fmt: skip

    def agree() -> Samples | None:
        s = parse(api.client.get("/metrics").text)
        newest = {x.service: x for x in store.samples(0.0)}
        try:
            same = all(gauges(s, sid) == pytest.approx(of(newest[sid])) for sid in newest)
        except KeyError:
            return None
        return s if same and set(newest) == {"chat", "search"} else None

    s = _poll("the gauges at the newest samples", agree)
    families = {
        f.name: f.type for f in text_string_to_metric_families(api.client.get("/metrics").text)
    }
    for name in SERVICE_GAUGES:
        assert families.get(name) == "gauge", name
    for sid, rps in (("chat", 20.0), ("search", 5.0)):
        ready, starting, devices, demand, capacity, attainment, tokens = gauges(s, sid)
        assert ready + starting >= 1 and devices >= ready + starting  # a device each at least
        assert demand == pytest.approx(rps)  # the scenario's flat demand
        assert capacity >= 0 and 0.0 <= attainment <= 1.0 and tokens >= 0
        view = api.services.control.service_view(sid)
        assert view is not None and len(view.replicas) >= 1


def test_site_counters_integrate_the_previous_sample() -> None:
    tel = Telemetry()

    def at(t: float, mw: float, cost_per_h: float) -> SampleRecord:
        return SampleRecord(
            at=t, site="s", devices=4, up=4, allocated=2, busy=1, power_mw=mw,
            price=0.5, cost_per_h=cost_per_h, carbon=0.4,
        )  # fmt: skip

    def get(name: str, **labels: str) -> float | None:
        return tel.registry.get_sample_value(name, {"site": "s", **labels})

    def feed(x: SampleRecord) -> None:
        tel.observe_sites([x], currency="EUR", max_gap_s=100.0)

    feed(at(1000.0, 2.0, 1000.0))  # the first sample: gauges, no interval yet
    assert get("suanli_site_power_watts") == 2e6 and get("suanli_site_energy_joules_total") == 0
    assert get("suanli_site_utilisation_ratio") == 0.25
    feed(at(1036.0, 4.0, -500.0))  # 36 s at 2 MW and 1000 EUR/h
    assert get("suanli_site_energy_joules_total") == pytest.approx(72e6)
    assert get("suanli_site_energy_cost_total", currency="EUR") == pytest.approx(10.0)
    assert get("suanli_site_carbon_grams_total") == pytest.approx(20.0 * 400.0)  # 20 kWh
    feed(at(1072.0, 1.0, 0.0))  # 36 s at 4 MW and -500 EUR/h: a credit
    assert get("suanli_site_energy_joules_total") == pytest.approx(72e6 + 144e6)
    assert get("suanli_site_energy_cost_total", currency="EUR") == pytest.approx(10.0)
    assert get("suanli_site_energy_credit_total", currency="EUR") == pytest.approx(5.0)
    feed(at(1500.0, 1.0, 0.0))  # a gap longer than max_gap_s: nothing
    feed(at(1400.0, 1.0, 0.0))  # time going back: nothing
    assert get("suanli_site_energy_joules_total") == pytest.approx(216e6)
    assert get("suanli_site_power_watts") == 1e6


# -- the Grafana dashboard ---------------------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The ``suanli_`` metric names a PromQL expression reads (quoted strings dropped)."""
    return {n for n in _NAME.findall(_STRING.sub('""', expr)) if n.startswith("suanli_")}


def queries(node: object) -> list[str]:
    """Every panel query (``expr``) and template variable query in a dashboard."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                out.append(v)
            elif k in ("query", "definition") and isinstance(v, str) and "(" in v:
                out.append(v)  # a variable's label_values(...) (not a datasource's type)
            else:
                out.extend(queries(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(queries(v))
    return out


def missing(exprs: list[str], exported: set[str]) -> dict[str, set[str]]:
    """Per query, the metric names it reads that the scrape lacks."""
    gone = {e: metric_names(e) - exported for e in exprs}
    return {e: names for e, names in gone.items() if names}


def test_metric_names_of_promql() -> None:
    expr = (
        "histogram_quantile(0.9, sum by (le, tenant) (rate(suanli_job_wait_seconds_bucket"
        '{tenant=~"suanli_not_a_metric"}[$__rate_interval]))) / 3.6e6 + suanli_x:y'
    )
    assert metric_names(expr) == {"suanli_job_wait_seconds_bucket", "suanli_x:y"}
    exported = {"suanli_job_wait_seconds_bucket", "suanli_site_power_watts"}
    assert missing(["rate(suanli_site_power_watts_total[5m])", expr], exported) == {
        "rate(suanli_site_power_watts_total[5m])": {"suanli_site_power_watts_total"},
        expr: {"suanli_x:y"},
    }


def test_dashboard_reads_only_exported_metrics(scraped: Scraped) -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["schemaVersion"] >= 36 and dash["uid"] and dash["title"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels:
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
    exprs = queries(dash)
    used = set().union(*(metric_names(e) for e in exprs))
    # the service gauges have samples only while a service is served (this server serves
    # none): test_service_gauges scrapes them from one that does
    assert missing(exprs, scraped.names | set(SERVICE_GAUGES)) == {}
    for name in (  # the views the dashboard must have
        "suanli_site_power_watts",
        "suanli_site_energy_joules_total",
        "suanli_site_energy_cost_total",
        "suanli_site_carbon_grams_total",
        "suanli_site_utilisation_ratio",
        "suanli_tenant_jobs",
        "suanli_job_wait_seconds_bucket",
        "suanli_dispatches_total",
        "suanli_round_seconds_bucket",
        "suanli_site_reachable",
        "suanli_build_info",
        *SERVICE_GAUGES,
    ):
        assert name in used, name
