"""The built-in national scenario cn-hubs-2026 and its batch-only variant."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from suanli.config import load_scenario, parse_scenario
from suanli.config.summary import summarize
from suanli.model.scenario import GeneratorSpec, Scenario
from suanli.scenarios import BATCH_ONLY, DEFAULT, builtin_names, builtin_text


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return load_scenario()


def test_eight_hubs_one_site_each(sc: Scenario) -> None:
    assert len(sc.sites) == 8
    assert len({s.hub for s in sc.sites}) == 8
    assert {s.id for s in sc.sites} == {
        "zhangjiakou",
        "wuhu",
        "shaoguan",
        "tianfu",
        "horinger",
        "guian",
        "qingyang",
        "zhongwei",
    }


def test_fleet_size_and_mix(sc: Scenario) -> None:
    total = sum(p.count for p in sc.pools)
    assert 50_000 <= total <= 100_000
    types = {p.accelerator for p in sc.pools}
    for needed in (
        "huawei_ascend_910c",
        "nvidia_h20",
        "nvidia_h200_sxm",
        "kunlunxin_p800",
        "hygon_k100_ai",
    ):
        assert needed in types
    assert any(t.startswith("huawei_ascend_910b") for t in types)
    assert types & {"nvidia_h100_sxm5", "nvidia_h800_sxm5"}
    h200 = sum(p.count for p in sc.pools if p.accelerator == "nvidia_h200_sxm")
    assert h200 < 0.05 * total  # a small pool


def test_time_of_use_respects_three_to_one(sc: Scenario) -> None:
    for s in sc.sites:
        prices = s.tariff.price.values
        assert max(prices) / min(prices) >= 3.0, s.id
        assert s.tariff.periods


def test_domestic_subsidies_in_gansu_guizhou_inner_mongolia(sc: Scenario) -> None:
    subsidised = {s.province for s in sc.sites if s.subsidies}
    assert subsidised == {"Gansu", "Guizhou", "Inner Mongolia"}
    for s in sc.sites:
        for sub in s.subsidies:
            assert sub.eligible == "domestic_accelerators"


def test_links_meet_20ms_target(sc: Scenario) -> None:
    n = len(sc.sites)
    assert len(sc.links) == n * (n - 1) // 2
    assert all(lk.latency_ms <= 20 for lk in sc.links)


def test_tenants_and_workload(sc: Scenario) -> None:
    assert len(sc.tenants) >= 4
    assert isinstance(sc.workload, GeneratorSpec)
    kinds = {c.kind for c in sc.workload.classes}
    assert {"pretrain", "finetune", "batch_inference", "evaluation", "video_generation"} <= kinds


def test_offered_load_keeps_the_fleet_busy_but_not_overloaded(sc: Scenario) -> None:
    load = summarize(sc).offered_load
    assert 0.5 < load < 1.0


def test_pools_fit_site_power(sc: Scenario) -> None:
    s = summarize(sc)
    assert not s.warnings
    for site in s.sites:
        assert site.idle_mw < site.capacity_mw


def test_every_assumption_is_sourced_or_labelled() -> None:
    data = yaml.safe_load(builtin_text("cn-hubs-2026"))
    sourced = [
        *data["sites"],
        *data["datasets"],
        *data["tenants"],
        *data["workload"]["generator"]["classes"],
    ]
    for s in data["sites"]:
        sourced += [s["tariff"], s["carbon"], s["location"], *s["pools"], *s.get("subsidies", [])]
    for c in data["workload"]["generator"]["classes"]:
        sourced += [c["gang"], c["hours_on_reference"]]
    sourced += data["links"]["explicit"] + [data["links"]["default"]]
    sourced += [*data["user_regions"], *data["services"]]
    for item in sourced:
        assert item.get("source"), f"no source on {item}"


def test_export_round_trips(sc: Scenario, tmp_path: Path) -> None:
    path = tmp_path / "my.yaml"
    path.write_text(builtin_text("cn-hubs-2026"))
    again = load_scenario(path)
    assert again.sites == sc.sites
    assert again.workload == sc.workload
    assert parse_scenario(builtin_text("cn-hubs-2026"), "x", tmp_path).tenants == sc.tenants


def test_batch_variant_is_the_default_without_its_services(sc: Scenario) -> None:
    assert BATCH_ONLY in builtin_names() and DEFAULT in builtin_names()
    assert sc.services and sc.user_regions
    batch = load_scenario(BATCH_ONLY)
    assert batch.name == BATCH_ONLY
    assert not batch.services and not batch.user_regions
    assert batch.sites == sc.sites
    assert batch.links == sc.links
    assert batch.tenants == sc.tenants
    assert batch.workload == sc.workload
    assert batch.hours == sc.hours
    full = yaml.safe_load(builtin_text(DEFAULT))
    cut = yaml.safe_load(builtin_text(BATCH_ONLY))
    assert cut == {k: v for k, v in full.items() if k not in ("user_regions", "services")} | {
        "name": BATCH_ONLY
    }


def test_batch_variant_exports_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "batch.yaml"
    path.write_text(builtin_text(BATCH_ONLY))
    again = load_scenario(path)
    assert again.name == BATCH_ONLY and not again.services
