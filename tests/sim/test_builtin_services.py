"""The national default's online inference services (issue 14, item 6): three services for
users in the eastern regions beside the batch week, and a short run of them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.core.serving_tables import build_serving_tables
from suanli.core.tables import build_tables
from suanli.experiment.run import run_policies
from suanli.model.scenario import Scenario


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return load_scenario()


def test_three_services_for_eastern_users(sc: Scenario) -> None:
    models = {s.id: s.model.id for s in sc.services}
    assert models == {
        "glm-chat": "glm-5",
        "r1-reasoning": "deepseek-v3",
        "qwen-small": "qwen2.5-7b",
    }
    regions = {r.id for r in sc.user_regions}
    assert regions == {"beijing", "shanghai", "hangzhou", "guangzhou", "chengdu"}
    tenants = {t.id for t in sc.tenants}
    for s in sc.services:
        assert s.tenant in tenants
        assert {r.region for r in s.regions} == regions
        types = {sh.accelerator for sh in s.shapes}
        assert any(t.startswith("nvidia_") for t in types), s.id
        assert any(t.startswith("huawei_ascend_") for t in types), s.id


def test_every_region_reaches_a_replica_and_chat_stays_near(sc: Scenario) -> None:
    tables = build_serving_tables(build_tables(sc))
    by_id = {t.service.id: t for t in tables.services}
    for t in tables.services:
        assert np.asarray(t.reach_pool).any(axis=1).all(), t.service.id
    west = {"horinger", "guian", "qingyang", "zhongwei"}
    sites = [s.id for s in sc.sites]
    reach = np.asarray(by_id["r1-reasoning"].reach)
    assert {sites[i] for i in np.flatnonzero(reach.any(axis=0))} & west
    for sid in ("glm-chat", "qwen-small"):
        assert all(r.max_latency_ms <= 10 for r in by_id[sid].service.regions)


def test_the_services_fit_the_fleet_at_their_peak(sc: Scenario) -> None:
    """Replicas for the horizon's peak (static-peak) are placed and meet every SLO over the
    first three hours (the reasoning service's peak is at night) within a point of their
    SLOs; the batch week is left out to keep the test short."""
    short = replace(sc, hours=3)
    (r,) = run_policies(short, [], ["backfill"], 2026, serving="static-peak")
    assert {o.service for o in r.services} == {"glm-chat", "r1-reasoning", "qwen-small"}
    devices = sum(p.count for p in sc.pools)
    held = sum(float(o.series[:, 4].max()) for o in r.services)
    assert 0.03 * devices < held < 0.25 * devices
    for o in r.services:
        assert o.requests.sum() > 0 and o.dropped.sum() == 0 and o.unplaced == 0
        # static-peak sizes by its own rule; over the week it meets 99.25-100% of the
        # requests (docs/benchmarks.md), over these three hours qwen-small 98.8%.
        assert o.attainment >= 0.98, o.service


def test_the_services_benchmark_runs_either_builtin_fleet() -> None:
    """benchmarks/services_bench.py --scenario: a built-in with services, and its batch-only
    variant derived the way cn-hubs-2026-batch is (the same fleet and jobs, no services)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "services_bench.py"
    spec = importlib.util.spec_from_file_location("services_bench", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cn = bench.scenario("cn-hubs-2026", None, batch=True)
    builtin = load_scenario("cn-hubs-2026-batch")
    assert cn.name == builtin.name == "cn-hubs-2026-batch" and not cn.services
    assert [(p.accelerator, p.count) for p in cn.pools] == [
        (p.accelerator, p.count) for p in builtin.pools
    ]
    eu = bench.scenario("eu-na-2026", 24)
    eu_batch = bench.scenario("eu-na-2026", 24, batch=True)
    assert eu.name == "eu-na-2026" and eu.hours == eu_batch.hours == 24
    assert [s.id for s in eu.services] == ["assistant", "coder", "search"]
    assert eu_batch.name == "eu-na-2026-batch" and not eu_batch.services
    assert [(p.accelerator, p.count) for p in eu_batch.pools] == [
        (p.accelerator, p.count) for p in eu.pools
    ]
