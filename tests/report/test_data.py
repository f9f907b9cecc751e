"""The report data document and the page built from it (no browser needed)."""

from __future__ import annotations

import base64
import csv
import gzip
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from suanli.cli.simulate import summary_table
from suanli.config import load_scenario
from suanli.experiment.run import default_seed, run_policies, scenario_workload
from suanli.report.data import (
    FORMAT,
    SHARING_ROWS,
    SUMMARY_ROWS,
    VERSION,
    report_data,
    summary_rows,
)
from suanli.report.files import write_jobs_csv
from suanli.report.html import document_bytes, render_page
from suanli.report.metrics import compute_metrics
from suanli.sim.result import SimResult
from tests.report.conftest import TINY


@pytest.fixture(scope="module")
def results() -> list[SimResult]:
    sc = load_scenario(str(TINY))
    sc, jobs = scenario_workload(sc, default_seed(sc))
    return run_policies(sc, jobs, ["fifo", "greedy-cost"], default_seed(sc))


@pytest.fixture(scope="module")
def data(results: list[SimResult]) -> dict[str, Any]:
    return report_data(results)


def test_summary_rows_are_the_console_table(results: list[SimResult]) -> None:
    """The console table has the report's summary rows (energy and carbon in a unit chosen by
    size there), sharing rows only when a job shares a device."""
    metrics = {"scenario": "s", "seed": 0, "currency": "CNY", "placement": "best-fit"}
    pols = {r.policy: compute_metrics(r) for r in results}
    table = summary_table({**metrics, "policies": pols})
    labels = [bare(str(c)) for c in table.columns[0].cells]
    assert labels == [bare(a) for a, _, _ in SUMMARY_ROWS]
    assert labels == [bare(a) for a, _, _ in summary_rows(pols)]
    pols["fifo"]["sharing"]["share_jobs"] = 3
    table = summary_table({**metrics, "policies": pols})
    labels = [bare(str(c)) for c in table.columns[0].cells]
    assert labels == [bare(a) for a, _, _ in SUMMARY_ROWS + SHARING_ROWS]


def bare(label: str) -> str:
    """A row's label without its unit: ``energy (MWh)`` → ``energy``."""
    return label.split(" (")[0]


def test_document_shape(data: dict[str, Any], results: list[SimResult]) -> None:
    assert (data["format"], data["version"], data["kind"]) == (FORMAT, VERSION, "simulation")
    sc = results[0].scenario
    assert [s["id"] for s in data["sites"]] == [s.id for s in sc.sites]
    assert [s["devices"] for s in data["sites"]] == [s.devices for s in sc.sites]
    hours = len(data["time"])
    assert hours == sc.hours and data["time"][0] == "2026-03-02 00:00"
    for key in ("price", "carbon_kg_per_kwh"):
        assert np.shape(data["site_series"][key]) == (len(sc.sites), hours)
    n_jobs = len(data["jobs"]["id"])
    assert all(len(v) == n_jobs for k, v in data["jobs"].items() if k not in ("kinds", "profiles"))
    for p in data["policies"]:
        for key in ("utilisation", "allocated_share", "power_mw"):
            assert np.shape(p["series"][key]) == (len(sc.sites), hours)
        lists = ("statuses", "reasons")
        assert all(len(v) == n_jobs for k, v in p["jobs"].items() if k not in lists)
        cdf = p["jct_cdf"]
        assert cdf["fraction"][-1] == 1.0 and np.all(np.diff(cdf["jct_h"]) >= 0)
        assert len(cdf["jct_h"]) <= 400
        moved = sum(t["tb"] for t in p["transfers"])
        assert moved == pytest.approx(p["metrics"]["data"]["moved_tb"])
    json.loads(document_bytes(data))  # no NaN, JSON as the browser reads it


def test_jobs_agree_with_jobs_csv(
    data: dict[str, Any], results: list[SimResult], tmp_path: Path
) -> None:
    J = data["jobs"]
    for p, r in zip(data["policies"], results, strict=True):
        write_jobs_csv(tmp_path / "jobs.csv", r)
        with (tmp_path / "jobs.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        P = p["jobs"]
        assert [row["job"] for row in rows] == J["id"]
        for i, row in enumerate(rows):
            assert P["statuses"][P["status"][i]] == row["status"]
            site = P["site"][i]
            assert (data["sites"][site]["id"] if site >= 0 else "") == row["site"]
            acc = P["accelerator"][i]
            assert (data["accelerators"][acc] if acc >= 0 else "") == row["accelerator"]
            for col, key in (("wait_s", "wait_h"), ("jct_s", "jct_h")):
                got = P[col][i]
                if row[key]:
                    assert got / 3600 == pytest.approx(float(row[key]), rel=1e-5, abs=1e-4)
                else:
                    assert got is None
            if row["status"] == "waiting":
                assert P["reasons"][P["reason"][i]] == row["reason"]


def test_placements_cover_preempted_jobs() -> None:
    """A scenario with node failures: preempted jobs list each stretch and why it ended."""
    sc = load_scenario(str(TINY))
    sc, jobs = scenario_workload(sc, 3)
    from dataclasses import replace

    from suanli.model.scenario import Failure

    sc = replace(sc, failures=(Failure(site="east", start_s=6 * 3600.0, duration_s=4 * 3600.0),))
    (r,) = run_policies(sc, jobs, ["fifo"], 3)
    d = report_data([r])
    pl = d["policies"][0]["placements"]
    P = d["policies"][0]["jobs"]
    preempted = [i for i, n in enumerate(P["preemptions"]) if n > 0]
    assert preempted, "the failure should preempt some job"
    for i in preempted:
        mine = [k for k, j in enumerate(pl["job"]) if j == i]
        assert len(mine) == P["preemptions"][i] + (P["status"][i] != 2)
        assert "node failure" in [pl["ends"][pl["end"][k]] for k in mine if pl["end"][k] >= 0]


def _payload(page: str, element_id: str) -> bytes:
    m = re.search(rf'<script [^>]*id="{element_id}"[^>]*>([^<]*)</script>', page)
    assert m is not None, element_id
    return gzip.decompress(base64.b64decode(m.group(1)))


def test_page_is_self_contained_and_deterministic(
    data: dict[str, Any], results: list[SimResult]
) -> None:
    page = render_page(data)
    assert page == render_page(report_data(results))
    assert json.loads(_payload(page, "suanli-data")) == json.loads(document_bytes(data))
    assert _payload(page, "plotly-js").startswith(b"/**\n* plotly.js v")
    outside = re.sub(r"<script type=\"application/octet-stream\"[^>]*>[^<]*</script>", "", page)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", outside)
    assert "@import" not in outside and "url(" not in outside


def test_live_page_names_its_data_url() -> None:
    page = render_page(data_url="/api/report?x=1&y=2", poll_s=5)
    assert '<meta name="suanli-data-url" content="/api/report?x=1&amp;y=2">' in page
    assert '<meta name="suanli-poll-s" content="5">' in page
    assert 'id="suanli-data"' not in page and 'id="plotly-js"' in page
    with pytest.raises(ValueError, match="exactly one"):
        render_page()
