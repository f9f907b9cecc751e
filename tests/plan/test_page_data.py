"""The plan data document and the plan page built from it (no browser needed): the numbers
are plan.json's and compare.json's, and the page is self-contained and deterministic."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from suanli.plan.compare import write_comparison
from suanli.plan.html import render_plan_page
from suanli.plan.page_data import FORMAT, HEADLINE, VERSION, comparison_document, plan_document
from suanli.plan.run import PlanRun, run_plan
from suanli.plan.solve import SolveOptions
from suanli.plan.summary import cell, comparison_lines
from suanli.report.html import document_bytes
from tests.plan.conftest import embedded_document

NAMES = ["tiny-plan", "more-h100"]


def _json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _get(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for key in path.split("."):
        value = value[key]
    return value


@pytest.fixture(scope="module")
def runs(plan_pair: tuple[Path, Path]) -> list[PlanRun]:
    return [run_plan(path, options=SolveOptions(exact_shadow=1)) for path in plan_pair]


def test_plan_page_holds_plan_json(compared: Path) -> None:
    for name in NAMES:
        doc = embedded_document(compared / name / "index.html")
        assert (doc["format"], doc["version"], doc["kind"]) == (FORMAT, VERSION, "plan")
        assert doc["title"] == f"plan {name}" and doc["currency"] == "CNY"
        [entry] = doc["plans"]
        record = _json(compared / name / "plan.json")
        assert entry["name"] == name and entry["page"] is None
        assert entry["plan"] == record
        assert entry["binding"] == [
            sp["sentence"] for sp in record["shadow_prices"] if sp["family"] != "demand"
        ]
        assert doc["vendors"] == sorted({p["vendor"] for p in record["pools"]})


def test_headline_paths_name_plan_json_totals(compared: Path) -> None:
    doc = embedded_document(compared / "tiny-plan" / "index.html")
    [entry] = doc["plans"]
    record = _json(compared / "tiny-plan" / "plan.json")
    assert [(h["label"], h["path"], h["format"]) for h in doc["headline"]] == list(HEADLINE)
    for h in doc["headline"]:
        value = _get(entry, h["path"])
        if h["path"].startswith("plan.totals."):
            assert value == record["totals"][h["path"].rsplit(".", 1)[1]]
        cell(value, h["format"], doc["currency"])  # a known format
    s = entry["summary"]
    assert s["peak_mw"] == pytest.approx(sum(x["peak_mw"] for x in record["sites"]))
    assert s["carbon_kt"] == pytest.approx(record["totals"]["carbon_t"] / 1e3)


def test_domestic_share_per_site(compared: Path) -> None:
    [entry] = embedded_document(compared / "tiny-plan" / "index.html")["plans"]
    for site in entry["plan"]["sites"]:
        pools = [p for p in entry["plan"]["pools"] if p["site"] == site["site"]]
        total = sum(p["total"] for p in pools)
        assert total == site["devices"]
        domestic = sum(p["total"] for p in pools if p["domestic"])
        assert entry["domestic_share"][site["site"]] == pytest.approx(domestic / total)


def test_comparison_page_holds_compare_json(compared: Path) -> None:
    doc = embedded_document(compared / "index.html")
    assert doc["kind"] == "comparison" and doc["title"] == "plans compared: tiny-plan · more-h100"
    rows = _json(compared / "compare.json")
    assert [e["name"] for e in doc["plans"]] == NAMES
    for entry, row in zip(doc["plans"], rows, strict=True):
        assert entry["summary"] == row
        assert entry["plan"] == _json(compared / entry["name"] / "plan.json")
        assert (compared / entry["page"]).is_file()
    want = [
        {"label": a, "key": b, "format": c} for a, b, c in comparison_lines(rows[0])
    ]  # the lines `suanli plan --compare` prints
    assert doc["comparison_rows"] == want
    assert {"new NVIDIA", "new Huawei/HiSilicon"} <= {r["label"] for r in want}


def test_pages_are_deterministic(runs: list[PlanRun], tmp_path: Path) -> None:
    pages = []
    for attempt in ("a", "b"):
        out = tmp_path / attempt
        write_comparison(runs, out, plots=False)
        pages.append([(out / p).read_bytes() for p in ("index.html", "tiny-plan/index.html")])
    assert pages[0] == pages[1]


def test_page_is_self_contained(runs: list[PlanRun]) -> None:
    page = render_plan_page(plan_document(runs[0].plan))
    lowered = page.lower()
    assert "<script src" not in lowered and "<link" not in lowered and "@import" not in lowered
    assert 'id="plotly-js"' in page and 'id="suanli-plan-data"' in page
    assert page.count("</script>") == 3  # plotly.js, the document, the page's scripts


def test_cell_formats() -> None:
    assert cell(64874951.757881, "money", "CNY") == "64.9 M CNY"
    assert cell(2.9e10, "money", "CNY") == "29.00 bn CNY"
    assert cell(0.513514, "pct", "CNY") == "51%"
    assert cell(106808, "int", "CNY") == "106,808"
    assert cell(1823.253021, "num", "CNY") == "1,823.3"
    with pytest.raises(ValueError, match="unknown format 'usd'; valid: money, int, pct, num"):
        cell(1.0, "usd", "CNY")


def test_a_document_needs_a_plan() -> None:
    with pytest.raises(ValueError, match="at least one plan"):
        comparison_document([])


def test_a_figure_that_is_not_finite_is_null(runs: list[PlanRun]) -> None:
    plan = dataclasses.replace(runs[0].plan, mip_gap=math.inf)
    doc = plan_document(plan)
    assert doc["plans"][0]["plan"]["mip_gap"] is None
    json.loads(document_bytes(doc))  # valid JSON, as the browser reads it
