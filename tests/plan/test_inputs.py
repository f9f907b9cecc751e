"""Bad planning inputs get clear errors naming the file, line, field and fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from suanli.errors import InputError, SuanliError
from suanli.plan.load import load_planning
from suanli.plan.run import parse_horizon, run_plan
from suanli.plan.solve import SolveOptions

Writer = Callable[..., Path]


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_planning(path)
    return [str(p) for p in info.value.problems]


def test_tiny_plan_loads(write_plan: Writer) -> None:
    planning = load_planning(write_plan())
    assert planning.file.name == "tiny-plan"
    assert planning.scenario.scenario.name == "tiny"
    assert [c.name for c in planning.file.classes] == ["train", "serve-east"]


def test_demand_for_a_stack_no_accelerator_offers(write_plan: Writer) -> None:
    path = write_plan(
        classes=[
            {
                "name": "x",
                "profile": "dl-training",
                "demand": {"pflops": 1},
                "accepted_stacks": ["tpu"],
            }
        ]
    )
    [msg] = _problems(path)
    assert "no accelerator in the catalog offers software stack 'tpu'" in msg
    assert msg.startswith(f"{path}:") and "classes[0].accepted_stacks" in msg


def test_demand_for_a_stack_outside_fleet_and_candidates(write_plan: Writer) -> None:
    path = write_plan(
        classes=[
            {
                "name": "x",
                "profile": "dl-training",
                "demand": {"pflops": 1},
                "accepted_stacks": ["musa"],
            }
        ]
    )
    [msg] = _problems(path)
    assert "no pool in the fleet and no candidate offers stack musa" in msg
    assert "add a candidate accelerator of that stack" in msg


def test_cap_on_an_unknown_type(write_plan: Writer) -> None:
    path = write_plan(supply=[{"accelerators": ["nvidia_h300"], "kind": "export_cap", "units": 5}])
    [msg] = _problems(path)
    assert "supply[0].accelerators: unknown accelerator 'nvidia_h300'" in msg
    assert "did you mean" in msg


def test_unknown_field_has_a_line_number(write_plan: Writer) -> None:
    path = write_plan("name: x\nscenario: tiny.yaml\nbudjet: 5\nclasses: []\n")
    [msg] = _problems(path)
    assert msg.startswith(f"{path}:3: budjet: unknown field 'budjet'")


def test_candidate_without_a_price(write_plan: Writer) -> None:
    path = write_plan(candidates=["nvidia_h20", "cambricon_mlu590"])
    [msg] = _problems(path)
    assert "candidate cambricon_mlu590 has no price" in msg
    assert "prices:" in msg


def test_candidate_lacking_specs(write_plan: Writer) -> None:
    path = write_plan(candidates=["amd_mi308x"])
    msgs = _problems(path)
    assert any("amd_mi308x lacks" in m and "catalog.overrides" in m for m in msgs)


def test_currency_without_rate(write_plan: Writer) -> None:
    path = write_plan(currency_rates=None)
    assert any("no rate to turn USD into CNY" in m for m in _problems(path))


def test_unknown_site_profile_tenant(write_plan: Writer) -> None:
    path = write_plan(
        sites={"north": {"max_expansion_mw": 1}},
        classes=[
            {
                "name": "x",
                "profile": "dl-trainin",
                "demand": {"pflops": 1},
                "users_near": "esat",
                "max_latency_ms": 5,
                "jobs": {
                    "tenant": "nobody",
                    "gang": {"fixed": 1},
                    "hours_on_reference": {"fixed": 1},
                },
            }
        ],
    )
    text = "\n".join(_problems(path))
    assert "unknown site 'north'" in text
    assert "unknown profile 'dl-trainin'" in text and "did you mean 'dl-training'" in text
    assert "unknown site 'esat'" in text
    assert "unknown tenant 'nobody'" in text


def test_class_no_accelerator_can_run(write_plan: Writer) -> None:
    path = write_plan(
        classes=[
            {
                "name": "x",
                "profile": "dl-training",
                "demand": {"pflops": 1},
                "accepted_types": ["huawei_ascend_910b2"],
                "users_near": "east",
                "max_latency_ms": 1,
            }
        ]
    )
    [msg] = _problems(path)
    assert "classes[0]: class x: no accelerator in the fleet or among the candidates" in msg
    assert "add a candidate that can" in msg


def test_extends_and_scale(write_plan: Writer, tmp_path: Path) -> None:
    base = write_plan()
    child = write_plan(
        f"extends: {base.name}\nname: child\nsupply:\n"
        "  - {accelerators: [nvidia_h100_sxm5], kind: export_cap, scale: 2}\n",
        name="child.yaml",
    )
    planning = load_planning(child)
    [rule] = [r for r in planning.file.supply if r.accelerators == ["nvidia_h100_sxm5"]]
    assert rule.units == 128 and planning.file.name == "child"
    assert planning.chain == (str(base), str(child))
    bad = write_plan(
        f"extends: {base.name}\nsupply:\n  - {{accelerators: [nvidia_h20], kind: ban, scale: 2}}\n",
        name="bad.yaml",
    )
    [msg] = _problems(bad)
    assert f"{bad}:3: supply[0]: no ban rule on nvidia_h20 in the base file" in msg


def test_extends_cycle(write_plan: Writer) -> None:
    write_plan("extends: b.yaml\n", name="a.yaml")
    b = write_plan("extends: a.yaml\n", name="b.yaml")
    assert "cycle" in _problems(b)[0]


def test_max_compute_needs_a_budget(write_plan: Writer) -> None:
    with pytest.raises(SuanliError, match="max-compute needs a budget"):
        run_plan(write_plan(), objective="max-compute", options=SolveOptions(exact_shadow=0))


def test_horizon_parsing() -> None:
    assert parse_horizon("3y") == 3 and parse_horizon("18m") == 1.5 and parse_horizon("2.5") == 2.5
    with pytest.raises(InputError, match="not a horizon"):
        parse_horizon("soon")


def test_missing_planning_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such planning file"):
        load_planning(tmp_path / "nope.yaml")
