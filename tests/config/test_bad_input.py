"""Bad scenarios: one clear message per problem, naming file, line and field; exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.config import load_scenario
from suanli.errors import InputError
from tests.conftest import run_cli

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.yaml"


def tiny() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TINY.read_text())
    return data


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_scenario(path)
    return [str(p) for p in info.value.problems]


def test_tiny_fixture_is_valid() -> None:
    sc = load_scenario(TINY)
    assert [s.id for s in sc.sites] == ["east", "west"]


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return mutate


CASES = [
    (
        "unknown accelerator",
        _set(("sites", 0, "pools", 0, "accelerator"), "nvidia_h300"),
        "sites[0].pools[0].accelerator",
        "unknown accelerator 'nvidia_h300'",
    ),
    (
        "negative capacity",
        _set(("sites", 1, "power_capacity_mw"), -5),
        "sites[1].power_capacity_mw",
        "greater than 0",
    ),
    (
        "pool larger than power allows",
        _set(("sites", 0, "power_capacity_mw"), 0.02),
        "sites[0].power_capacity_mw",
        "draw up to",
    ),
    (
        "pool not whole nodes",
        _set(("sites", 0, "pools", 0, "count"), 60),
        "sites[0].pools[0].count",
        "whole number of 8-device nodes",
    ),
    (
        "unknown field",
        _set(("sites", 0, "pue_target"), 1.2),
        "sites[0].pue_target",
        "unknown field 'pue_target'",
    ),
    ("missing field", lambda d: d["sites"][0].pop("pue"), "sites[0].pue", "required field"),
    (
        "unknown tenant in class",
        _set(("workload", "generator", "classes", 0, "tenant"), "nobody"),
        "workload.generator.classes[0].tenant",
        "unknown tenant 'nobody'",
    ),
    (
        "link to unknown site",
        _set(
            ("links", "explicit"),
            [{"between": ["east", "north"], "bandwidth_gbps": 10, "latency_ms": 5}],
        ),
        "links.explicit[0].between",
        "unknown site 'north'",
    ),
    (
        "overlapping TOU periods",
        _set(("sites", 0, "tariff", "time_of_use", 1, "hours"), ["07-09"]),
        "sites[0].tariff.time_of_use",
        "overlap",
    ),
    (
        "bad series path",
        _set(
            ("sites", 1, "carbon"),
            {"series": {"path": "nowhere.csv", "time_column": "t", "value_column": "v"}},
        ),
        "sites[1].carbon",
        "does not exist",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "field", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_named(
    tmp_path: Path, name: str, mutate: Callable[[dict[str, Any]], None], field: str, message: str
) -> None:
    data = tiny()
    mutate(data)
    path = write(tmp_path, data)
    problems = problems_of(path)
    hits = [p for p in problems if field in p and message in p]
    assert hits, problems
    assert all(str(path) in p for p in problems)
    assert all("—" in p for p in hits), "every problem says how to fix it"


def test_line_numbers_point_at_the_field(tmp_path: Path) -> None:
    text = TINY.read_text().replace(
        "accelerator: nvidia_h100_sxm5, count: 64", "accelerator: nvidia_h300, count: 64"
    )
    path = write(tmp_path, text)
    [problem] = problems_of(path)
    line_no = next(i for i, line in enumerate(text.splitlines(), 1) if "nvidia_h300" in line)
    assert f"{path}:{line_no}:" in problem
    assert "did you mean 'nvidia_h100_sxm5'" in problem or "valid:" in problem


def test_tariff_series_with_gaps(tmp_path: Path) -> None:
    rows = ["time,price"] + [
        f"2026-03-02T{h:02d}:00:00+08:00,0.5" for h in range(24) if h not in (5, 6)
    ]
    (tmp_path / "prices.csv").write_text("\n".join(rows) + "\n")
    data = tiny()
    data["sites"][1]["tariff"] = {
        "series": {"path": "prices.csv", "time_column": "time", "value_column": "price"}
    }
    [problem] = problems_of(write(tmp_path, data))
    assert "sites[1].tariff" in problem
    assert "no value for 2 of the 24 horizon hours" in problem
    assert "2026-03-02T05:00:00+08:00" in problem


def test_tariff_series_that_covers_the_horizon_is_used(tmp_path: Path) -> None:
    rows = ["time,price"] + [f"2026-03-01 {h:02d}:30:00,{0.1 * (h % 5 + 1):.1f}" for h in range(24)]
    rows += [f"2026-03-02 {h:02d}:30:00,{0.1 * (h % 5 + 1):.1f}" for h in range(24)]
    (tmp_path / "prices.csv").write_text("\n".join(rows) + "\n")
    data = tiny()
    data["sites"][1]["tariff"] = {
        "series": {
            "path": "prices.csv",
            "time_column": "time",
            "value_column": "price",
            "timezone": "Asia/Shanghai",
        }
    }
    sc = load_scenario(write(tmp_path, data))
    prices = sc.sites[1].tariff.price.values
    assert len(prices) == 24
    assert prices[:6] == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5, 0.1))


def test_series_with_non_numeric_value(tmp_path: Path) -> None:
    rows = ["time,kg"] + [
        f"2026-03-02T{h:02d}:00:00+08:00,{'x' if h == 3 else 0.5}" for h in range(24)
    ]
    (tmp_path / "co2.csv").write_text("\n".join(rows) + "\n")
    data = tiny()
    data["sites"][0]["carbon"] = {
        "series": {"path": "co2.csv", "time_column": "time", "value_column": "kg"}
    }
    [problem] = problems_of(write(tmp_path, data))
    assert "co2.csv line 5" in problem and "not a number" in problem


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    data = tiny()
    data["sites"][0]["pools"][0]["accelerator"] = "nope"
    data["tenants"].append({"id": "lab", "name": "again"})
    data["links"]["explicit"] = [
        {"between": ["east", "east"], "bandwidth_gbps": 1, "latency_ms": 1}
    ]
    problems = problems_of(write(tmp_path, data))
    assert len(problems) >= 3


def test_wrong_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nsites: [\n  - id: a\n")
    [problem] = problems_of(path)
    assert "not valid YAML" in problem and f"{path}:" in problem


@pytest.mark.parametrize(
    "content",
    ["- just\n- a list\n", "name: x\n"],
    ids=["not a mapping", "missing everything"],
)
def test_cli_exits_2_without_traceback(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, content)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr


def test_cli_unknown_accelerator(tmp_path: Path) -> None:
    data = tiny()
    data["sites"][0]["pools"][0]["accelerator"] = "nvidia_h300"
    path = write(tmp_path, data)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "sites[0].pools[0].accelerator: unknown accelerator 'nvidia_h300'" in result.stderr


def test_cli_missing_file() -> None:
    result = run_cli("validate", "no/such/file.yaml")
    assert result.returncode == 2
    words = " ".join(result.stderr.split())  # the console wraps long lines
    assert "no such scenario file" in words
    assert "suanli scenario export" in words


@pytest.mark.parametrize(
    ("policies", "field", "what"),
    [
        ({"suanli": {"patience": 5}}, "policies.suanli.patience", "less than or equal to 1"),
        (
            {"serving/suanli": {"max_utilisation": 1.5}},
            "policies.serving/suanli.max_utilisation",
            "less than or equal to 1",
        ),
        ({"suanli": {"no_such_knob": 1}}, "policies.suanli.no_such_knob", "Extra inputs"),
        ({"nosuch": {}}, "policies.nosuch", "unknown policy 'nosuch'; valid policies: backfill"),
        ({"serving/nosuch": {}}, "policies.serving/nosuch", "unknown serving policy 'nosuch'"),
    ],
    ids=["out of range", "serving out of range", "unknown parameter", "unknown", "serving"],
)
def test_cli_validate_checks_policy_parameters(
    tmp_path: Path, policies: dict[str, Any], field: str, what: str
) -> None:
    """`suanli validate` checks the `policies:` block as a run would (before, a bad value
    passed validation and failed only when simulated)."""
    data = tiny()
    data["policies"] = policies
    path = write(tmp_path, data)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    words = " ".join(result.stderr.split())  # the console wraps long lines
    assert f"{path}: {field}: " in words and what in words
    result = run_cli("validate", str(path), "--output", "json")
    assert result.returncode == 2
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["where"] == str(path) and problem["field"] == field
    assert what in problem["what"]
