"""The second built-in scenario, eu-na-2026 (issue 13): a fleet in Europe and North America,
its time zones, currencies, vendors, residency, deferrable work and online services; a short
run through the command line, twice with one seed (byte-identical) and once with another."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from suanli.config import load_scenario, parse_scenario
from suanli.config.summary import summarize
from suanli.core.serving_tables import build_serving_tables
from suanli.core.tables import build_tables
from suanli.model.scenario import GeneratorSpec, Scenario
from suanli.scenarios import EU_NA, builtin_names, builtin_text
from tests.conftest import run_cli

EU = {"frankfurt", "dublin", "madrid", "lulea"}
NA = {"ashburn", "san-jose", "montreal"}


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return load_scenario(EU_NA)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return yaml.safe_load(builtin_text(EU_NA))


def test_registered_beside_the_national_default() -> None:
    assert EU_NA == "eu-na-2026"
    assert builtin_names() == [
        "cn-hubs-2026",
        "cn-hubs-2026-batch",
        "cn-hubs-2026-busy",
        "eu-na-2026",
    ]


def test_sites_in_several_time_zones_and_currencies(sc: Scenario, data: dict[str, Any]) -> None:
    assert {s.id for s in sc.sites} == EU | NA
    zones = {s["id"]: s["timezone"] for s in data["sites"]}
    assert len(set(zones.values())) == 7
    assert zones["ashburn"] == "America/New_York" and zones["san-jose"] == "America/Los_Angeles"
    assert {s["tariff"]["currency"] for s in data["sites"]} == {"EUR", "SEK", "USD", "CAD"}
    assert sc.currency == "EUR"
    rates = data["exchange_rates"]
    by_id = {s.id: s for s in sc.sites}
    # flat tariffs: converted once, into the reporting currency
    assert by_id["lulea"].tariff.price.values == pytest.approx([1.0 * rates["SEK"]] * sc.hours)
    assert by_id["montreal"].tariff.price.values == pytest.approx([0.06 * rates["CAD"]] * sc.hours)
    for sid in ("lulea", "montreal", "ashburn", "san-jose"):
        assert "converted from" in by_id[sid].tariff.source, sid
    assert "converted from" not in by_id["frankfurt"].tariff.source
    for s in sc.sites:
        assert s.tariff.currency == "EUR"


def test_time_of_use_follows_each_sites_local_clock(sc: Scenario) -> None:
    """Horizon hours are UTC from Monday 2026-03-02; US clocks go forward on Sunday 03-08."""
    by_id = {s.id: s for s in sc.sites}
    ash = by_id["ashburn"].tariff
    # Ashburn's off-peak is 00-07 local: 05-12 UTC on Monday (EST); on Sunday the clocks go
    # forward at 02:00 EST (07 UTC), so 00-07 local is 05-11 UTC, six hours
    assert ash.periods[4] != "off_peak" and ash.periods[5] == "off_peak"
    assert ash.periods[11] == "off_peak" and ash.periods[12] != "off_peak"
    sunday = 6 * 24
    assert ash.periods[sunday + 4] != "off_peak" and ash.periods[sunday + 5] == "off_peak"
    assert ash.periods[sunday + 10] == "off_peak" and ash.periods[sunday + 11] != "off_peak"
    assert ash.periods[:24].count("off_peak") == 7
    assert ash.periods[sunday:].count("off_peak") == 6
    # weekday on-peak 14-20 local: 19-01 UTC on Monday; the local weekend (from Saturday
    # 05 UTC) has none, though Friday's on-peak runs into Saturday 00 UTC
    assert ash.periods[19] == "on_peak" and ash.periods[5 * 24] == "on_peak"
    assert "on_peak" not in ash.periods[5 * 24 + 1 :]
    sj = by_id["san-jose"].tariff  # peak 16-21 local every day: 00-05 UTC in PST, 23-04 in PDT
    assert sj.periods[24] == "peak" and sj.periods[23] != "peak"
    assert sj.periods[sunday + 23] == "peak"
    fra = by_id["frankfurt"].tariff  # evening peak 17-21 CET = 16-20 UTC
    assert fra.periods[16] == "evening_peak" and fra.periods[15] != "evening_peak"
    mad = by_id["madrid"].tariff  # 6.1TD-like: weekends in the valley all day
    assert set(mad.periods[5 * 24 : 7 * 24]) == {"valley", "weekend_valley"}
    assert mad.periods[9] == "peak"  # 10:00 in Madrid, Monday


def test_mixed_vendors_and_generations(sc: Scenario) -> None:
    vendors = {sc.catalog[p.accelerator].vendor for p in sc.pools}
    assert vendors == {"NVIDIA", "AMD"}
    types = {p.accelerator for p in sc.pools}
    assert {"nvidia_h100_sxm5", "nvidia_h200_sxm", "nvidia_b200_hgx", "amd_mi300x"} <= types
    total = sum(p.count for p in sc.pools)
    assert 10_000 <= total <= 40_000


def test_carbon_differs_by_grid_and_power_fits(sc: Scenario) -> None:
    carbon = {s.id: s.carbon.kg_per_kwh.values[0] for s in sc.sites}
    assert carbon["lulea"] < 0.05 and carbon["montreal"] < 0.05  # hydro
    assert carbon["frankfurt"] > 0.4 and carbon["ashburn"] > 0.4
    s = summarize(sc)
    assert not s.warnings
    for site in s.sites:
        assert site.idle_mw < site.capacity_mw
    assert 0.4 < s.offered_load < 0.9


def test_eu_data_stays_in_the_eu_and_deferrable_work(sc: Scenario) -> None:
    ds = {d.id: d for d in sc.datasets}
    assert set(ds["eu-user-data"].allowed_sites or ()) == EU
    assert ds["quebec-health"].allowed_sites == ()
    assert isinstance(sc.workload, GeneratorSpec)
    classes = {c.name: c for c in sc.workload.classes}
    assert {c.name for c in sc.workload.classes if c.deferrable} >= {
        "eu-batch-inference",
        "platform-batch-inference",
        "evaluation",
    }
    assert all(classes[n].deadline_hours for n in classes if classes[n].deferrable)
    assert "eu-user-data" in classes["eu-batch-inference"].datasets


def test_services_reach_users_on_their_own_continent(sc: Scenario) -> None:
    assert {s.id for s in sc.services} == {"assistant", "coder", "search"}
    zones = {r.id: r.timezone for r in sc.user_regions}
    assert len(set(zones.values())) == len(zones) == 6
    tables = build_serving_tables(build_tables(sc))
    sites = [s.id for s in sc.sites]
    eu_users = {"london", "paris", "madrid"}
    for t in tables.services:
        reach = np.asarray(t.reach)
        assert np.asarray(t.reach_pool).any(axis=1).all(), t.service.id
        for i, r in enumerate(t.service.regions):
            reached = {sites[j] for j in np.flatnonzero(reach[i])}
            assert reached <= (EU if r.region in eu_users else NA), (t.service.id, r.region)
        # an inline daily shape runs on each region's local clock
        offset = {r.region: d.offset_s for r, d in zip(t.service.regions, t.demand, strict=True)}
        assert (offset["paris"] - offset["london"]) % 86_400 == 3_600
        assert (offset["london"] - offset["new-york"]) % 86_400 == 5 * 3_600
        assert (offset["new-york"] - offset["bay-area"]) % 86_400 == 3 * 3_600


def test_every_figure_is_sourced_or_labelled(data: dict[str, Any]) -> None:
    sourced = [
        *data["sites"],
        *data["datasets"],
        *data["tenants"],
        *data["workload"]["generator"]["classes"],
        *data["user_regions"],
        *data["services"],
        data["workload"]["generator"],
    ]
    for s in data["sites"]:
        sourced += [s["tariff"], s["carbon"], s["location"], *s["pools"]]
    for c in data["workload"]["generator"]["classes"]:
        sourced += [c["gang"], c["hours_on_reference"]]
    sourced += data["links"]["explicit"] + [data["links"]["default"]]
    for item in sourced:
        assert item.get("source"), f"no source on {item}"
    assert "exchange_rates" in data["sources"]


@pytest.mark.shared_data
def test_carbon_constants_are_the_published_annual_means(
    sc: Scenario,
    data: dict[str, Any],
    shared_data: Path,
) -> None:
    path = shared_data / "energy" / "electricitymaps-hourly" / "mean_stats.csv"
    with path.open(encoding="utf-8-sig") as fh:
        means = {row["zonecode"]: float(row["2022"]) for row in csv.DictReader(fh)}
    for s in data["sites"]:
        assert s["carbon"]["kg_per_kwh"] == pytest.approx(means[s["grid_region"]] / 1000, abs=5e-5)


@pytest.mark.shared_data
def test_hourly_series_recipe_loads(shared_data: Path, tmp_path: Path) -> None:
    """The recipe in the file's header: a 2023 week with Electricity Maps' hourly series for
    Madrid and San Jose instead of their annual means."""
    folder = shared_data / "energy" / "electricitymaps-hourly" / "downloaded_carbon_data"
    data = yaml.safe_load(builtin_text(EU_NA))
    data["horizon"] = {"start": "2023-03-06T00:00:00+00:00", "hours": 48}
    zone = {"madrid": "ES", "san-jose": "US-CAL-CISO"}
    for s in data["sites"]:
        if s["id"] in zone:
            s["carbon"] = {
                "series": {
                    "path": str(folder / f"{zone[s['id']]}_2023_hourly.csv"),
                    "time_column": "Datetime (UTC)",
                    "value_column": "Carbon Intensity gCO₂eq/kWh (LCA)",
                    "scale": 0.001,
                },
                "source": "Electricity Maps hourly 2023",
            }
    sc = parse_scenario(yaml.safe_dump(data, allow_unicode=True), "recipe", tmp_path)
    with (folder / "ES_2023_hourly.csv").open(encoding="utf-8-sig") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Datetime (UTC)"].startswith("2023-03-06")]
    madrid = next(s for s in sc.sites if s.id == "madrid").carbon.kg_per_kwh.values
    expected = [float(r["Carbon Intensity gCO₂eq/kWh (LCA)"]) / 1000 for r in rows]
    assert list(madrid[:24]) == pytest.approx(expected)
    assert len(set(madrid)) > 10


def _short_copy(tmp_path: Path, hours: int) -> Path:
    """The built-in as `suanli scenario export` writes it, with a shorter horizon."""
    exported = run_cli("scenario", "export", EU_NA)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == builtin_text(EU_NA)
    text = exported.stdout.replace("\n  hours: 168\n", f"\n  hours: {hours}\n", 1)
    assert text != exported.stdout
    path = tmp_path / "eu-na-short.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_lists_validates_and_simulates_deterministically(tmp_path: Path) -> None:
    listed = run_cli("scenario", "list")
    assert listed.returncode == 0 and EU_NA in listed.stdout.split()
    valid = run_cli("validate", EU_NA)
    assert valid.returncode == 0, valid.stderr
    assert "eu-na-2026 is valid" in valid.stdout and "lulea" in valid.stdout
    path = _short_copy(tmp_path, 12)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, "7"), (b, "7"), (c, "8")):
        res = run_cli(
            "simulate", str(path), "-p", "suanli", "--seed", seed, "--out", str(out), "--no-plots"
        )
        assert res.returncode == 0, res.stderr
    names = {p.name for p in a.iterdir()}
    assert {"metrics.json", "jobs-suanli.csv", "sites-suanli.csv", "services.csv"} <= names
    for name in sorted(names - {"timing.json"}):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "jobs-suanli.csv").read_bytes() != (c / "jobs-suanli.csv").read_bytes()
    m = json.loads((a / "metrics.json").read_text())
    assert m["currency"] == "EUR" and m["scenario"] == EU_NA
    pol = m["policies"]["suanli"]
    assert pol["jobs"]["finished"] > 0 and pol["cost"]["net"] > 0
    with (a / "jobs-suanli.csv").open() as fh:
        jobs = list(csv.DictReader(fh))
    placed = [j for j in jobs if j["site"]]
    assert {j["site"] for j in placed} & EU and {j["site"] for j in placed} & NA
    for j in placed:  # the classes on eu-user-data, us-user-logs and quebec-health
        if j["tenant"] == "frontier-lab" and j["kind"] in ("finetune", "batch_inference"):
            assert j["site"] in EU, j
        if j["tenant"] == "platform" and j["kind"] in ("finetune", "batch_inference"):
            assert j["site"] in {"ashburn", "san-jose"}, j
        if j["tenant"] == "universities" and j["profile"] == "llm-finetune":
            assert j["site"] == "montreal", j
    with (a / "services.csv").open() as fh:
        services = {r["service"] for r in csv.DictReader(fh)}
    assert services == {"assistant", "coder", "search"}
