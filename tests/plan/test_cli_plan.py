"""``suanli plan`` as a user meets it."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from tests.conftest import run_cli

Writer = Callable[..., Path]


def test_plan_writes_table_and_files(write_plan: Writer, tmp_path: Path) -> None:
    path = write_plan()
    out = tmp_path / "out"
    result = run_cli(
        "plan",
        str(path.parent / "tiny.yaml"),
        "--demand",
        str(path),
        "--out",
        str(out),
        "--exact",
        "1",
        "--horizon",
        "2y",
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "plan tiny-plan over tiny" in text and "optimal" in text
    assert "Purchases" in text and "Demand classes" in text
    assert "Binding constraints" in text and "export cap on nvidia_h100_sxm5" in text
    names = {p.name for p in out.iterdir()}
    assert {"plan.json", "plan.csv", "plan-scenario.yaml", "map.png", "index.html"} <= names
    check = run_cli("validate", str(out / "plan-scenario.yaml"))
    assert check.returncode == 0, check.stderr


def test_bad_input_exits_2_with_the_place(write_plan: Writer) -> None:
    path = write_plan(supply=[{"accelerators": ["nvidia_h300"], "kind": "ban"}])
    result = run_cli("plan", "--demand", str(path))
    assert result.returncode == 2
    assert "unknown accelerator 'nvidia_h300'" in result.stderr
    assert f"{path}:" in result.stderr and "Traceback" not in result.stderr


def test_infeasible_plan_is_explained(write_plan: Writer) -> None:
    path = write_plan(budget={"amount": 1.0e6})
    result = run_cli("plan", "--demand", str(path), "--exact", "0")
    assert result.returncode == 2
    assert "no plan meets every constraint" in result.stderr
    assert "budget of 1.0 M CNY would have to grow" in result.stderr


def test_compare_files(write_plan: Writer, tmp_path: Path) -> None:
    base = write_plan()
    more = write_plan(
        f"extends: {base.name}\nname: more-h100\nsupply:\n"
        "  - {accelerators: [nvidia_h100_sxm5], kind: export_cap, scale: 4}\n",
        name="more.yaml",
    )
    out = tmp_path / "cmp"
    result = run_cli(
        "plan", "--compare", str(base), str(more), "--out", str(out), "--exact", "0", "--no-plots"
    )
    assert result.returncode == 0, result.stderr
    assert "Plans compared" in result.stdout
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [r["plan"] for r in rows] == ["tiny-plan", "more-h100"]
    assert float(rows[1]["total_cost"]) <= float(rows[0]["total_cost"])
    assert (out / "more-h100" / "plan-scenario.yaml").is_file()
    assert (out / "index.html").is_file() and (out / "more-h100" / "index.html").is_file()
    assert f"open {out / 'index.html'}" in result.stdout


def test_bad_horizon(write_plan: Writer) -> None:
    result = run_cli("plan", "--demand", str(write_plan()), "--horizon", "soon")
    assert result.returncode == 2 and "not a horizon" in result.stderr


def test_max_compute_within_a_budget(write_plan: Writer) -> None:
    path = write_plan(budget={"amount": 4.0e7, "covers": "tco", "source": "test"})
    result = run_cli("plan", "--demand", str(path), "--objective", "max-compute", "--exact", "1")
    assert result.returncode == 0, result.stderr
    assert "max-compute" in result.stdout
    assert "PFLOP/s of delivered compute" in result.stdout
