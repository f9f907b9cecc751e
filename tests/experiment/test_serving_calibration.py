"""Calibration of the serving model against published deployments (docs/serving.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.errors import InputError
from suanli.experiment.serving_calibration import (
    calibrate,
    calibration_markdown,
    read_measurements,
    tpot_target,
)
from tests.conftest import REPO_ROOT, run_cli

DOCS = REPO_ROOT / "docs" / "serving.md"
START, END = "<!-- calibration-table:start -->", "<!-- calibration-table:end -->"
HEADER = (
    "system,model,accelerator,devices,phase,tokens_per_s_per_device,latency_target,notes,source\n"
)


def _measurements(shared_data: Path) -> Path:
    return shared_data / "inference" / "serving-measurements.csv"


@pytest.mark.shared_data
def test_every_row_within_25_percent(shared_data: Path) -> None:
    rows = calibrate(_measurements(shared_data))
    assert len(rows) == 7
    assert {r.stack for r in rows} == {"cuda", "cann"}
    for r in rows:
        assert 0.75 <= r.ratio <= 1.25, (r.system, r.phase, r.latency_target, r.ratio)


@pytest.mark.shared_data
def test_docs_table_is_the_command_output(shared_data: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    block = text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert block == calibration_markdown(calibrate(_measurements(shared_data)))
    r = run_cli(
        "catalog",
        "serving",
        "--measurements",
        str(_measurements(shared_data)),
        "--output",
        "markdown",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == block


def test_tpot_from_latency_column() -> None:
    assert tpot_target("TPOT < 50 ms") == pytest.approx(0.05)
    assert tpot_target("20-22 output tokens/s per user") == pytest.approx(1 / 21)
    assert tpot_target("") is None


def test_bad_csv_names_file_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text(
        HEADER + "S,DeepSeek-V3,nvidia_h100_sxm5,8,prefill,lots,,,src\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as exc:
        read_measurements(bad)
    msg = str(exc.value)
    assert str(bad) in msg and "row 1" in msg and "tokens_per_s_per_device" in msg
    assert exc.value.problems[0].line == 2


def test_missing_column_and_unknown_deployment(tmp_path: Path) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text("system,model\nS,M\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        read_measurements(bad)
    other = tmp_path / "o.csv"
    other.write_text(
        HEADER + "S,DeepSeek-V3,nvidia_h20,8,decode,100,TPOT < 50 ms,,src\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match="no deployment"):
        calibrate(other)


def test_cli_missing_file_exits_2_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    r = run_cli("catalog", "serving", "--measurements", str(missing))
    assert r.returncode == 2
    assert "nope.csv" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_cli_models_lists_builtin_models() -> None:
    r = run_cli("catalog", "models", "--output", "json")
    assert r.returncode == 0, r.stderr
    import json

    rows = {m["id"]: m for m in json.loads(r.stdout)}
    assert rows["deepseek-v3"]["weights_gb"] == 671
    assert rows["deepseek-v3"]["min_replica"]["nvidia_h100_sxm5"] == 16
