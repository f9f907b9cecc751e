"""The report's headline, summary marks and glossary (no browser needed): which policy is
best on each key metric and by how much, in words and numbers; ties, one-policy runs,
missing values, lower- and higher-is-better metrics; the notes on reading the numbers; the
glossary that docs/metrics.md and the page share; the last hour's power in the site CSVs."""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path
from typing import Any

import pytest

from suanli.config import load_scenario
from suanli.experiment.run import default_seed, run_policies, scenario_workload
from suanli.perf.power import idle_site_power_mw
from suanli.report.data import SHARING_ROWS, SUMMARY_ROWS, report_data
from suanli.report.files import write_sites_csv
from suanli.report.glossary import TERMS, glossary_data, markdown_table, plain, term_of
from suanli.report.headline import (
    KEY_METRICS,
    SitePower,
    best_policies,
    gain,
    headline,
    percent,
    row_marks,
    shown,
)
from suanli.report.metrics import compute_metrics
from tests.conftest import REPO_ROOT
from tests.report.conftest import TINY

NAN = float("nan")


def _metrics(
    jct: float,
    *,
    p99: float = 10.0,
    wait: float = 0.5,
    finished: int = 100,
    submitted: int = 110,
    cost: float = 1000.0,
    energy: float = 50.0,
    carbon: float = 30.0,
    rho: float = 1.5,
    utilisation: float = 0.5,
    peaks: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A policy's entry of metrics.json with the fields the headline reads."""
    return {
        "jobs": {"submitted": submitted, "finished": finished, "unfinished": submitted - finished},
        "jct_h": {"mean": jct, "p50": jct / 2, "p99": p99},
        "queueing_delay_h": {"mean": wait, "p50": 0.0, "p99": wait * 5},
        "utilisation": utilisation,
        "energy_mwh": energy,
        "cost": {"gross": cost * 1.1, "subsidy": cost * 0.1, "net": cost},
        "carbon_t": carbon,
        "fairness": {"mean_rho": rho, "max_tenant_mean_rho": rho},
        "sites": {s: {"peak_power_mw": pk} for s, pk in (peaks or {}).items()},
    }


def _by_id(h: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in h["metrics"]}


def _notes(h: dict[str, Any]) -> dict[str, str]:
    return {n["id"]: n["text"] for n in h["notes"]}


def test_best_policy_and_its_gain_over_each_other_policy() -> None:
    per = {
        "fifo": _metrics(2.85, cost=1683.0, finished=90, rho=3.0),
        "backfill": _metrics(1.96, cost=1200.0, finished=95, rho=2.0),
        "suanli": _metrics(1.57, cost=1100.0, finished=100, rho=1.2),
    }
    h = headline(per, currency="CNY")
    m = _by_id(h)
    assert m["jct"]["text"] == (
        "suanli has the shortest average JCT: 1.57 h, 45% shorter than fifo (2.85 h), "
        "20% shorter than backfill (1.96 h)."
    )
    assert m["jct"]["best"] == ["suanli"] and m["jct"]["value"] == 1.57
    assert [v["policy"] for v in m["jct"]["versus"]] == ["fifo", "backfill"]
    assert m["jct"]["versus"][0]["gain"] == pytest.approx((2.85 - 1.57) / 2.85)
    # higher is better: jobs finished
    assert m["finished"]["text"] == (
        "suanli has the most jobs finished: 100 jobs, 11% more than fifo (90 jobs), "
        "5.3% more than backfill (95 jobs)."
    )
    assert m["cost"]["text"].startswith("suanli has the lowest net energy cost: 1,100 CNY, 35% ")
    assert m["fairness"]["text"].startswith(
        "suanli has the best worst-tenant fairness (max tenant mean ρ): 1.20, 60% lower than fifo"
    )
    assert h["wins"]["suanli"] == 4 and h["text"].startswith("suanli is best on 4 of 8 key metrics")
    assert (h["open_on"], h["baseline"]) == ("suanli", "fifo")
    assert h["policies"] == 3


def test_ties_share_the_best_and_all_tied_has_none() -> None:
    per = {
        "fifo": _metrics(2.0, cost=100.0),
        "backfill": _metrics(1.0, cost=100.0),
        "greedy-cost": _metrics(1.0004, cost=100.0),  # within the tolerance of 1.0 h
    }
    m = _by_id(headline(per))
    assert m["jct"]["best"] == ["backfill", "greedy-cost"]
    assert m["jct"]["text"] == (
        "backfill and greedy-cost share the shortest average JCT: 1.00 h, "
        "50% shorter than fifo (2.00 h)."
    )
    assert m["cost"]["best"] == [] and m["cost"]["all_tied"]
    assert m["cost"]["text"] == "All 3 policies have the same net energy cost: 100."
    # counts tie only when equal
    assert best_policies({"a": 73458.0, "b": 73457.0}, "higher", "jobs.finished") == ["a"]


def test_one_policy_has_nothing_to_compare() -> None:
    h = headline({"fifo": _metrics(1.5)}, currency="CNY")
    assert h["text"] == "Only fifo ran, so there is nothing to compare it with."
    assert (h["open_on"], h["baseline"], h["wins"]) == ("fifo", "fifo", {"fifo": 0})
    m = _by_id(h)
    assert m["jct"]["text"] == "fifo's average JCT: 1.50 h."
    assert all(not x["best"] and not x["versus"] for x in h["metrics"])
    assert "finished-differ" not in _notes(h)


def test_missing_and_zero_values() -> None:
    per = {
        "fifo": _metrics(NAN, p99=NAN, rho=NAN, finished=0, wait=0.0),
        "backfill": _metrics(2.0, finished=10, wait=0.0),
        "suanli": _metrics(1.0, finished=12, wait=0.0),
    }
    m = _by_id(headline(per))
    assert m["jct"]["missing"] == ["fifo"]
    assert m["jct"]["text"] == (
        "suanli has the shortest average JCT: 1.00 h, 50% shorter than backfill (2.00 h). "
        "No value for fifo (no job finished)."
    )
    # a gain relative to 0 is not a number: the values are given instead
    assert m["finished"]["versus"][0] == {"policy": "fifo", "value": 0.0, "gain": None}
    assert "against fifo (0 jobs)" in m["finished"]["text"]
    assert gain(5.0, 0.0, "higher") is None and gain(0.0, 2.0, "lower") == 1.0
    # the zero waits tie
    assert m["queueing"]["all_tied"] and m["queueing"]["best"] == []
    # no value anywhere
    none = _by_id(headline({"a": _metrics(NAN), "b": _metrics(NAN)}))
    assert none["jct"]["text"] == "No policy has a value for average JCT (no job finished)."
    assert none["jct"]["best"] == [] and none["jct"]["value"] is None


def test_opens_on_suanli_else_the_most_wins() -> None:
    per = {"fifo": _metrics(3.0, cost=10.0), "greedy-cost": _metrics(1.0, cost=5.0)}
    h = headline(per)
    assert (h["open_on"], h["baseline"]) == ("greedy-cost", "fifo")
    per = {"backfill": _metrics(3.0, cost=5.0), "las": _metrics(2.0, cost=10.0, energy=10.0)}
    h = headline(per)
    assert (h["open_on"], h["baseline"]) == ("las", "backfill")
    per["suanli"] = _metrics(9.0, cost=90.0, energy=90.0, carbon=90.0, rho=9.0, p99=90.0)
    assert headline(per)["open_on"] == "suanli"


def test_note_when_nothing_queued_says_why() -> None:
    per = {"fifo": _metrics(2.0, wait=0.0), "suanli": _metrics(1.0, wait=0.5 / 3600)}
    text = _notes(headline(per, offered_load=0.62))["no-queueing"]
    assert text.startswith(
        "Almost nothing queued: under fifo every job started as soon as it was submitted; "
        "under suanli jobs waited 0.5 s on average."
    )
    assert "offer a load of 0.62" in text and "62% of the device-time" in text
    assert "differ not in when jobs start but in where they run" in text
    per = {"fifo": _metrics(2.0, wait=0.0)}
    assert _notes(headline(per))["no-queueing"] == (
        "No job queued: under fifo every job started as soon as it was submitted."
    )
    per = {"fifo": _metrics(2.0, wait=1.2), "suanli": _metrics(1.0, wait=0.0)}
    text = _notes(headline(per, offered_load=0.9))["no-queueing"]
    assert "under suanli every job started as soon as it was submitted" in text
    assert "At the same load (0.90), jobs waited 1.20 h under fifo" in text
    assert "no-queueing" not in _notes(headline({"fifo": _metrics(2.0, wait=1.0)}))


def test_note_when_the_fastest_policy_has_lower_utilisation() -> None:
    per = {
        "fifo": _metrics(2.87, utilisation=0.35, finished=72253, energy=2888.0),
        "suanli": _metrics(1.57, utilisation=0.203, finished=73458, energy=1965.0),
    }
    text = _notes(headline(per))["utilisation"]
    assert text.startswith(
        "A lower utilisation is better here: suanli has the shortest average JCT (1.57 h) "
        "while its devices were busy 20.3% of the time, against 35.0% under fifo. "
        "It finished more jobs with less energy."
    )
    assert "the same work on faster devices takes fewer busy device-hours" in text
    per["suanli"]["utilisation"] = 0.4  # higher: nothing to explain
    assert "utilisation" not in _notes(headline(per))


def test_notes_on_power_against_capacity() -> None:
    sites = [SitePower("east", 1.0, 1.2), SitePower("west", 2.0, 1.5)]
    per = {
        "fifo": _metrics(2.0, peaks={"east": 1.0, "west": 1.0}),
        "suanli": _metrics(1.0, peaks={"east": 1.05, "west": 1.0}),
    }
    notes = _notes(headline(per, sites=sites))
    assert notes["peak-above-capacity"].startswith(
        "The peak facility power (the highest hourly mean) is above the site's power capacity "
        "at east (capacity 1.00 MW) under suanli (1.05 MW)."
    )
    assert "idle power of every device" in notes["peak-above-capacity"]
    assert notes["oversubscribed"].startswith(
        "Every device at full TDP would draw more than the site's power capacity at east "
        "(1.2 MW against 1.0 MW)"
    )
    per["suanli"]["sites"]["east"]["peak_power_mw"] = 1.0 + 1e-9  # rounding: at capacity
    assert "peak-above-capacity" not in _notes(headline(per, sites=sites))


def test_note_when_policies_finished_different_numbers() -> None:
    per = {"fifo": _metrics(2.0, finished=90), "suanli": _metrics(1.0, finished=100)}
    text = _notes(headline(per))["finished-differ"]
    assert "(fifo 90, suanli 100 of 110 submitted)" in text
    per["suanli"]["jobs"]["finished"] = 90
    assert "finished-differ" not in _notes(headline(per))


def test_formatting_helpers() -> None:
    assert [percent(x) for x in (0.45, 0.0996, 0.045, 0.0004)] == ["45%", "10%", "4.5%", "<0.1%"]
    assert shown(0.451, ",.0f") == "0.451" and shown(1965.2, ",.0f") == "1,965"
    assert shown(5.0, ",.0f") == "5" and shown(-0.0, ".2f") == "0.00"
    assert shown(0.357, ".1%") == "35.7%"


def test_summary_row_marks() -> None:
    per = {"fifo": _metrics(2.0, utilisation=0.4), "suanli": _metrics(1.0, utilisation=0.2)}
    assert row_marks("jct_h.mean", ".2f", per) == {"better": "lower", "best": ["suanli"]}
    assert row_marks("jobs.finished", ",.0f", per) == {"better": "higher", "best": []}
    assert row_marks("utilisation", ".1%", per) == {"better": None, "best": []}
    # values that look the same in the table: nothing to mark
    per["fifo"]["energy_mwh"], per["suanli"]["energy_mwh"] = 0.451, 0.449
    assert row_marks("energy_mwh", ",.0f", per)["best"] == []
    assert row_marks("energy_mwh", ",.3f", per)["best"] == ["suanli"]


def _docs_table(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^\| metric \| definition \|\n(?:^\|.*\|\n)+", text, re.M)
    assert m is not None, f"{path} has no table of metrics"
    return m.group(0)


def test_docs_metrics_table_is_the_glossary() -> None:
    """docs/metrics.md and the page define the metrics alike: the table is generated from
    suanli.report.glossary (python -m suanli.report.glossary prints it)."""
    assert _docs_table(REPO_ROOT / "docs" / "metrics.md") == markdown_table()


def test_every_summary_row_and_key_metric_is_defined() -> None:
    for _, path, _ in SUMMARY_ROWS + SHARING_ROWS:
        assert term_of(path) is not None, path
    for k in KEY_METRICS:
        assert term_of(k.path) is not None, k.path
    assert len({t.id for t in TERMS}) == len(TERMS)
    for want in ("worst-tenant", "unallocated", "fragmented", "jct", "queueing", "cost"):
        assert want in {t.id for t in TERMS}
    g = {x["id"]: x for x in glossary_data()}
    assert "`" not in g["jct"]["definition"] and "finish − submit" in g["jct"]["definition"]
    assert plain("see [docs](a.md#b), **F** `x`") == "see docs, F x"


def test_document_carries_headline_glossary_and_marks() -> None:
    sc = load_scenario(str(TINY))
    sc, jobs = scenario_workload(sc, default_seed(sc))
    results = run_policies(sc, jobs, ["fifo", "greedy-cost"], default_seed(sc))
    data = report_data(results)
    per = {r.policy: compute_metrics(r) for r in results}
    h = data["headline"]
    assert h["open_on"] == "greedy-cost" and h["baseline"] == "fifo"
    assert [m["id"] for m in h["metrics"]] == [k.id for k in KEY_METRICS]
    cost = next(m for m in h["metrics"] if m["id"] == "cost")
    assert cost["best"] == ["greedy-cost"]
    assert cost["text"].startswith("greedy-cost has the lowest net energy cost: ")
    assert cost["value"] == pytest.approx(per["greedy-cost"]["cost"]["net"])
    assert 0 < h["offered_load"] < 1 and "no-queueing" in _notes(h)
    assert data["glossary"] == glossary_data()
    rows = {r["path"]: r for r in data["summary_rows"]}
    assert rows["cost.net"]["best"] == ["greedy-cost"] and rows["cost.net"]["better"] == "lower"
    assert rows["utilisation"]["better"] is None and rows["jct_h.mean"]["term"] == "jct"
    one = report_data(results[:1])["headline"]
    assert one["text"] == "Only fifo ran, so there is nothing to compare it with."


def test_last_hour_power_in_site_csv(tmp_path: Path) -> None:
    """A drained run ends inside an hour: that hour's power is its energy over the part the
    run covers, not over a whole hour (it read low before)."""
    sc = load_scenario(str(TINY))
    sc, jobs = scenario_workload(sc, default_seed(sc))
    (r,) = run_policies(sc, jobs, ["fifo"], default_seed(sc), drain=True)
    assert r.end_s % 3600 != 0
    write_sites_csv(tmp_path / "sites.csv", r)
    with (tmp_path / "sites.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    metrics = compute_metrics(r)
    for site in sc.sites:
        mine = [row for row in rows if row["site"] == site.id]
        last = mine[-1]
        cover = (r.end_s - int(last["hour"]) * 3600) / 3600
        assert 0 < cover < 1
        power, energy = float(last["power_mw"]), float(last["energy_mwh"])
        assert power * cover == pytest.approx(energy, rel=1e-5)
        # every device draws at least its idle power all the time (no power saving here)
        idle = idle_site_power_mw(site, sc.catalog)
        assert all(float(row["power_mw"]) >= idle * (1 - 1e-5) for row in mine), site.id
        peak = max(float(row["power_mw"]) for row in mine)
        assert metrics["sites"][site.id]["peak_power_mw"] == pytest.approx(peak, rel=1e-5)
    # the report's series agree
    series = report_data([r])["policies"][0]["series"]["power_mw"]
    for s, site in enumerate(sc.sites):
        powers = [float(row["power_mw"]) for row in rows if row["site"] == site.id]
        assert series[s] == pytest.approx(powers, rel=1e-5)


def test_headline_tolerates_a_copy_of_metrics_json(tmp_path: Path) -> None:
    """metrics.json has null where the metrics had NaN: the headline reads both alike."""
    per = {"fifo": _metrics(NAN), "suanli": _metrics(1.0)}
    nulls = copy.deepcopy(per)
    nulls["fifo"]["jct_h"]["mean"] = None
    assert headline(per) == headline(nulls)
