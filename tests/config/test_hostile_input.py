"""Hostile scenario files (issue 19, F3): each gets a clear error and exit 2, never a traceback,
a hang or an allocation sized by the attacker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suanli.cli import app, scenario  # noqa: F401  (registers the commands)
from suanli.config import load_scenario
from suanli.config.yaml_lines import ALIAS_BUDGET, MAX_BYTES, load_yaml
from suanli.errors import InputError
from suanli.scenarios import builtin_text

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.yaml"


def problems(text: str, tmp_path: Path) -> str:
    """Validate ``text`` as a scenario file through the CLI; the message of its exit-2 error."""
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert time.monotonic() - started < 30, "took more than 30 s"
    assert isinstance(result.exception, InputError), (result.exception, result.output)
    return str(result.exception)


def test_deep_nesting(tmp_path: Path) -> None:
    assert "nested" in problems("x: " + "[" * 5000 + "]" * 5000 + "\n", tmp_path)
    assert "nested" in problems(
        "x:" + "".join(f"\n{' ' * i}- " for i in range(0, 600, 2)), tmp_path
    )


def test_an_alias_inside_itself(tmp_path: Path) -> None:
    assert "refers to the mapping or list that contains it" in problems("a: &x [1, *x]\n", tmp_path)


def test_an_alias_bomb(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    message = problems("\n".join(lines) + "\n", tmp_path)
    assert f"more than {ALIAS_BUDGET:,}" in message and "scenario.yaml:" in message


def test_small_aliases_still_work() -> None:
    data, _ = load_yaml("t: &t {base_per_kwh: 0.5}\nu: *t\nv: *t\n", "s")
    assert data["u"] == data["v"] == {"base_per_kwh": 0.5}


def test_a_huge_number(tmp_path: Path) -> None:
    assert "digits" in problems(f"name: {'9' * 5000}\n", tmp_path)


def test_a_duplicated_key(tmp_path: Path) -> None:
    text = TINY.read_text().replace("name: tiny\n", "name: tiny\nname: other\n")
    message = problems(text, tmp_path)
    assert "'name' appears twice" in message and ":3:" in message


def test_on_and_yes_as_keys_stay_text() -> None:
    data, _ = load_yaml("on: 1\nyes: 2\nflag: yes\n", "s")
    assert data == {"on": 1, "yes": 2, "flag": True}


def test_infinite_capacity(tmp_path: Path) -> None:
    text = TINY.read_text().replace("power_capacity_mw: 1.0", "power_capacity_mw: .inf", 1)
    message = problems(text, tmp_path)
    assert "sites[0].power_capacity_mw" in message and "finite" in message


def test_a_billion_jobs_a_day(tmp_path: Path) -> None:
    text = TINY.read_text().replace("jobs_per_day: 24", "jobs_per_day: 1e9")
    message = problems(text, tmp_path)
    assert "workload.generator.classes" in message and "GiB" in message


def test_a_file_too_large(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as f:
        f.write("# " + "x" * 1024 + "\n")
        f.truncate(MAX_BYTES + 10)
    with pytest.raises(InputError, match="bytes"):
        load_scenario(big)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Zürich\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_scenario(path)


def test_the_built_in_scenario_still_loads() -> None:
    assert load_yaml(builtin_text("cn-hubs-2026"), "b")[0]["name"] == "cn-hubs-2026"


def test_a_pool_too_large(tmp_path: Path) -> None:
    text = TINY.read_text().replace("count: 64}", "count: 100000000000000000000}")
    assert "sites[0].pools[0].count" in problems(text, tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("gang: {choice: [1, 2, 4, 8]}", "gang: {choice: [1, 1e300]}", "gang"),
        ("median: 1, mean: 2", "median: 1, mean: 1e12", "hours_on_reference"),
    ],
)
def test_job_classes_are_bounded(old: str, new: str, field: str, tmp_path: Path) -> None:
    """A gang of 1e300 was cast to a negative int64 and simulated as nonsense."""
    message = problems(TINY.read_text().replace(old, new), tmp_path)
    assert "workload.generator.classes[0]" in message and field in message
