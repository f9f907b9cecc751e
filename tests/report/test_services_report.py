"""The report's services section (issue 14): metrics.json's ``services``, services.csv, the
plots, the page's section and its document — present for a run with services, absent for
one without; the apportioning by accelerator type on a hand-made outcome."""

from __future__ import annotations

import base64
import csv
import gzip
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.experiment.run import run_policies, scenario_workload
from suanli.report.services import pool_shares, service_metrics
from suanli.report.writer import write_report
from suanli.sim.result import SimResult
from tests.conftest import REPO_ROOT
from tests.report.browser import open_report, screenshot, wait_for
from tests.report.charts import legend_clashes

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "tiny-services.yaml"
POLICIES = ("backfill", "suanli")


@pytest.fixture(scope="module")
def results() -> list[SimResult]:
    """tiny-services for its first 6 hours, two batch policies, serving policy suanli."""
    sc = replace(load_scenario(FIXTURE), hours=6)
    sc2, jobs = scenario_workload(sc, 1)
    return run_policies(sc2, jobs, list(POLICIES), 1, serving="suanli")


@pytest.fixture(scope="module")
def report(results: list[SimResult], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("services-report") / "report"
    write_report(out, results)
    return out


def _metrics(report: Path) -> dict[str, Any]:
    return json.loads((report / "metrics.json").read_text())  # type: ignore[no-any-return]


def _document(page: Path) -> dict[str, Any]:
    m = re.search(r'id="suanli-data" data-encoding="gzip\+base64">([^<]*)<', page.read_text())
    assert m is not None
    return json.loads(gzip.decompress(base64.b64decode(m.group(1))))  # type: ignore[no-any-return]


def test_metrics_per_service(report: Path, results: list[SimResult]) -> None:
    m = _metrics(report)
    for r in results:
        svc = m["policies"][r.policy]["services"]
        (o,) = r.services
        s = svc["chat"]
        assert s["serving_policy"] == "suanli"
        assert 0.0 <= s["attainment"] <= 1.0
        assert s["attainment"] == pytest.approx(o.attainment, rel=1e-8)
        assert s["requests"] == pytest.approx(float(o.requests.sum()), rel=1e-8)
        assert s["requests"] > 0 and s["tokens"] > 0 and s["dropped"] >= 0
        assert s["cold_starts"] == o.cold_starts and s["unplaced"] == o.unplaced
        assert s["device_hours"] == pytest.approx(float(o.device_s.sum()) / 3600, rel=1e-8)
        for k in ("energy_kwh", "cost", "carbon_kg", "device_hours"):
            assert s["per_mtok"][k] > 0, k
        assert s["per_mtok"]["cost"] == pytest.approx(o.per_mtok(o.cost), rel=1e-8)
        (region,) = s["regions"].values()
        assert 0.0 <= region["attainment"] <= 1.0
        assert region["requests"] == pytest.approx(s["requests"], rel=1e-8)
        # by site and by accelerator type: the service's figures, shared out
        for by in ("sites", "accelerators"):
            assert s[by], by
            for k in ("device_hours", "tokens", "energy_kwh", "cost", "carbon_kg"):
                total = sum(g[k] for g in s[by].values())
                assert total == pytest.approx(s[k], rel=1e-6), (by, k)
            for g in s[by].values():
                assert all(v > 0 for v in g["per_mtok"].values())
        assert set(s["accelerators"]) == {"nvidia_h100_sxm5"}
        # one accelerator type: its figures per million tokens are the service's
        h100 = s["accelerators"]["nvidia_h100_sxm5"]["per_mtok"]
        for k in ("energy_kwh", "cost", "carbon_kg"):
            assert h100[k] == pytest.approx(s["per_mtok"][k], rel=1e-6)


def test_services_csv(report: Path) -> None:
    m = _metrics(report)
    with (report / "services.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["policy"], r["service"], r["region"]) for r in rows] == [
        (p, "chat", "shanghai") for p in POLICIES
    ]
    for row in rows:
        region = m["policies"][row["policy"]]["services"]["chat"]["regions"]["shanghai"]
        assert row["serving_policy"] == "suanli"
        for k in ("requests", "on_time", "dropped", "tokens", "attainment"):
            assert float(row[k]) == pytest.approx(region[k], rel=1e-5, abs=1e-9), k


def test_plots_and_page(report: Path) -> None:
    for p in POLICIES:
        assert (report / f"services-{p}.png").stat().st_size > 10_000
    assert (report / "services-cost-carbon.png").stat().st_size > 10_000
    page = (report / "index.html").read_text()
    assert 'id="services-section"' in page and "R.drawServices" in page
    doc = _document(report / "index.html")
    for pol in doc["policies"]:
        (svc,) = pol["services"]
        n = len(svc["time"])
        assert svc["id"] == "chat" and n == 72  # 6 h of 5-minute ticks
        for k in ("demand", "capacity", "ready", "devices", "attainment"):
            assert len(svc[k]) == n, k
        assert list(svc["ready_by_site"]) == ["east"]
        assert svc["ready_by_site"]["east"] == svc["ready"]
        assert svc["time"][0] == "2026-03-02 00:00" and svc["time"][1] == "2026-03-02 00:05"
        assert pol["metrics"]["services"]["chat"]["attainment"] > 0.9
    (note,) = [n for n in doc["headline"]["notes"] if n["id"] == "services"]
    att = doc["policies"][0]["metrics"]["services"]["chat"]["attainment"]
    assert f"chat answered {100 * att:.2f}% of its requests within its SLO" in note["text"]
    assert "serving policy suanli" in note["text"] and "per million tokens" in note["text"]


def test_same_run_same_bytes(results: list[SimResult], tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_report(a, results, plots=False)
    write_report(b, results, plots=False)
    for name in ("metrics.json", "services.csv", "index.html"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_no_services_no_section(tiny_report: Path) -> None:
    """A run without services keeps its report as it was: no services anywhere."""
    assert not (tiny_report / "services.csv").exists()
    assert not list(tiny_report.glob("services-*.png"))
    for m in _metrics(tiny_report)["policies"].values():
        assert "services" not in m
    doc = _document(tiny_report / "index.html")
    for pol in doc["policies"]:
        assert "services" not in pol
    assert all(n["id"] != "services" for n in doc["headline"]["notes"])


def test_apportioned_by_capacity_and_price(results: list[SimResult]) -> None:
    """Replicas on both sites: tokens follow the ready capacity, energy the device-hours,
    cost the price as well (west is cheaper per kWh than east's daytime tariff)."""
    r = results[1]
    (o,) = r.services
    n = o.series.shape[0]
    east = np.full(n, 3)
    west = np.where(np.arange(n) < n // 2, 1, 0)
    fake = replace(o, device_s=np.array([3.0, 0.5]) * n * 300.0, ready_by_pool={0: east, 1: west})
    mu = np.array([7.0, 7.0])
    sh = pool_shares(r, fake, mu)
    for k, total in (
        ("tokens", float(o.tokens.sum())),
        ("energy_kwh", o.energy_kwh),
        ("cost", o.cost),
        ("carbon_kg", o.carbon_kg),
    ):
        assert float(sh[k].sum()) == pytest.approx(total, rel=1e-9), k
    demand = o.series[:, 1]
    want_west = float((demand * west / (east + west)).sum() / demand.sum())
    assert sh["tokens"][1] / sh["tokens"].sum() == pytest.approx(want_west, rel=1e-9)
    # energy ∝ device-hours × TDP × PUE (east PUE 1.25, west 1.2; same TDP)
    w = np.array([3.0 * 1.25, 0.5 * 1.2])
    assert sh["energy_kwh"] / sh["energy_kwh"].sum() == pytest.approx(w / w.sum())
    # cost and carbon: that weight × the price (intensity) over the ticks with replicas
    # ready — east's night valley tariff 0.65 × 0.5 against west's flat 0.45 per kWh in
    # these 6 hours; carbon 0.6 against 0.5 kg/kWh
    for k, rate in (("cost", [0.325, 0.45]), ("carbon_kg", [0.6, 0.5])):
        wk = w * np.array(rate)
        assert sh[k] / sh[k].sum() == pytest.approx(wk / wk.sum()), k
    assert service_metrics(r)["chat"]["sites"].keys() == {"east"}


@pytest.mark.browser
def test_section_in_the_browser(
    chromium: Any, report: Path, tiny_report: Path, screenshot_dir: Path
) -> None:
    """The section draws: its table has a row per policy and service with the metrics'
    values, the charts their traces, no legend meets a modebar; the tiny report hides it."""
    m = _metrics(report)
    try:
        open_report(chromium, (report / "index.html").as_uri())
        assert [e for e in chromium.get_log("browser") if e["level"] == "SEVERE"] == []
        assert chromium.execute_script(
            "return !document.getElementById('services-section').hidden"
            " && !document.getElementById('nav-services').hidden"
        )
        rows = chromium.execute_script(
            "return [...document.querySelectorAll('#service-table tbody tr')]"
            ".map(r => [...r.children].map(c => c.textContent))"
        )
        assert [r[:3] for r in rows] == [[p, "chat", "suanli"] for p in POLICIES]
        for row in rows:
            att = m["policies"][row[0]]["services"]["chat"]["attainment"]
            assert row[3] == f"{100 * att:.2f}%"
        traces = chromium.execute_script(
            "return ['service-demand', 'service-replicas', 'service-cost']"
            ".map(id => document.getElementById(id).data.length)"
        )
        assert traces == [3, 1, 2 * len(POLICIES)]
        wait_for(chromium, "document.querySelectorAll('#service-cost .legend').length > 0")
        charts, clashes = legend_clashes(chromium)
        assert {"service-demand", "service-replicas", "service-cost"} <= set(charts)
        assert clashes == {}
        chromium.execute_script("document.getElementById('services-section').scrollIntoView()")
        screenshot(chromium, screenshot_dir / "report-services.png", full_page=False)
        open_report(chromium, (tiny_report / "index.html").as_uri())
        assert chromium.execute_script(
            "return document.getElementById('services-section').hidden"
            " && document.getElementById('nav-services').hidden"
        )
    finally:
        chromium.get("about:blank")
