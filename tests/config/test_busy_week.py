"""The built-in busy national week cn-hubs-2026-busy (issue 13): the default's batch week
with its arrival rates scaled, as ``suanli sweep --loads`` scales them, to a load at which
queues form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from suanli.config import load_scenario
from suanli.config.loader import read_scenario_text
from suanli.config.summary import scaled, summarize
from suanli.model.scenario import GeneratorSpec, Scenario
from suanli.scenarios import BATCH_ONLY, BUSY, BUSY_LOAD, DEFAULT, builtin_names, builtin_text
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def busy() -> Scenario:
    return load_scenario(BUSY)


@pytest.fixture(scope="module")
def batch() -> Scenario:
    return load_scenario(BATCH_ONLY)


def test_busy_week_is_built_in_and_listed() -> None:
    assert BUSY in builtin_names()
    r = run_cli("scenario", "list")
    assert r.returncode == 0, r.stderr
    assert BUSY in r.stdout.split()


def test_busy_week_offers_more_load_than_the_default(busy: Scenario) -> None:
    default = summarize(load_scenario(DEFAULT)).offered_load
    load = summarize(busy).offered_load
    assert load > default
    assert load >= 0.9 - 1e-6
    assert load == pytest.approx(BUSY_LOAD, rel=1e-5)


def test_busy_week_is_the_batch_week_with_scaled_rates(busy: Scenario, batch: Scenario) -> None:
    assert busy.name == BUSY
    assert not busy.services and not busy.user_regions
    assert busy.sites == batch.sites
    assert busy.links == batch.links
    assert busy.tenants == batch.tenants
    assert busy.hours == batch.hours
    assert isinstance(busy.workload, GeneratorSpec) and isinstance(batch.workload, GeneratorSpec)
    assert busy.workload.seed == batch.workload.seed
    # The rates are those of the sweep's scaling (the same code), rounded to 6 digits.
    want = scaled(batch, BUSY_LOAD).workload
    assert isinstance(want, GeneratorSpec)
    assert [c.name for c in busy.workload.classes] == [c.name for c in want.classes]
    for got, exp, old in zip(
        busy.workload.classes, want.classes, batch.workload.classes, strict=True
    ):
        assert got.jobs_per_day == pytest.approx(exp.jobs_per_day, rel=1e-5)
        assert got.jobs_per_day > old.jobs_per_day
        assert got.gang == old.gang and got.tenant == old.tenant


def test_busy_week_text_differs_from_the_batch_text_only_in_rates() -> None:
    cut = yaml.safe_load(builtin_text(BATCH_ONLY))
    busy = yaml.safe_load(read_scenario_text(BUSY)[0])
    assert busy["name"] == BUSY
    for c in busy["workload"]["generator"]["classes"]:
        c.pop("jobs_per_day")
    for c in cut["workload"]["generator"]["classes"]:
        c.pop("jobs_per_day")
    assert busy == cut | {"name": BUSY}


def test_busy_week_exports_as_a_file(busy: Scenario, tmp_path: Path) -> None:
    r = run_cli("scenario", "export", BUSY)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "busy.yaml"
    path.write_text(r.stdout)
    again = load_scenario(path)
    assert again.name == BUSY and not again.services
    assert again.workload == busy.workload


def test_validate_shows_the_busy_load() -> None:
    r = run_cli("validate", BUSY, "--output", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["scenario"] == BUSY
    assert doc["summary"]["offered_load"] == pytest.approx(BUSY_LOAD, rel=1e-5)
