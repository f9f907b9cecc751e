"""Tiny scenarios and jobs for simulator tests, built in code so numbers are easy to follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from suanli.config import parse_scenario
from suanli.model.job import Job, JobKind
from suanli.model.scenario import Scenario

H100 = "nvidia_h100_sxm5"
ASCEND = "huawei_ascend_910b2"


def site(
    sid: str,
    pools: list[tuple[str, int]],
    *,
    cap_mw: float = 10.0,
    price: float = 0.5,
    carbon: float = 0.5,
    pue: float = 1.0,
    lat: float = 30.0,
    lon: float = 110.0,
    **extra: Any,
) -> dict[str, Any]:
    """A site dict for a scenario file."""
    return {
        "id": sid,
        "name": sid,
        "location": {"lat": lat, "lon": lon},
        "grid_region": "test",
        "pue": pue,
        "power_capacity_mw": cap_mw,
        "tariff": {"base_per_kwh": price},
        "carbon": {"kg_per_kwh": carbon},
        "pools": [{"accelerator": a, "count": n} for a, n in pools],
        **extra,
    }


def scenario(
    sites: list[dict[str, Any]],
    *,
    hours: int = 48,
    tenants: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Scenario:
    """A validated scenario from site dicts (idle power 0 by default: easy energy sums)."""
    data: dict[str, Any] = {
        "name": "test",
        "horizon": {"start": "2026-03-02T00:00:00+08:00", "hours": hours},
        "sites": sites,
        "links": {"default": {"bandwidth_gbps": 100, "latency_ms": 0, "cost_per_gb": 0.01}},
        "tenants": tenants or [{"id": "t", "name": "T"}],
        "catalog": {"overrides": {H100: {"idle_w": 0.0}, ASCEND: {"idle_w": 0.0}}},
        "profiles": {
            "unit": {
                "kind": "pretrain",
                "precisions": ["bf16"],
                "flops_per_byte": 1.0e6,
                "memory_gb": 1.0,
                "power_factor": 1.0,
            }
        },
        "efficiency": [
            {"stack": "cuda", "compute": 1.0, "memory": 1.0},
            {"stack": "cann", "compute": 1.0, "memory": 1.0},
        ],
        **extra,
    }
    return parse_scenario(yaml.safe_dump(data), "test", Path("."))


def job(
    jid: str,
    submit_s: float,
    gang: int,
    seconds_on_h100: float,
    **fields: Any,
) -> Job:
    """A job whose work takes ``seconds_on_h100`` on ``gang`` H100s (profile ``unit``:
    compute-bound at 989.4 TFLOPS per device)."""
    work = seconds_on_h100 * gang * 0.9894
    return Job(
        id=jid,
        tenant=fields.pop("tenant", "t"),
        kind=JobKind.PRETRAIN,
        profile="unit",
        submit_s=submit_s,
        gang=gang,
        work_pflop=work,
        **fields,
    )
