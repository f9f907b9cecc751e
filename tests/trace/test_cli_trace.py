"""``suanli trace convert|inspect|fleets`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_convert_then_inspect_with_plots(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    r = run_cli("trace", "convert", str(fixtures / "openb"), "--from", "openb", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "8 rows read, 4 jobs written" in r.stdout
    assert "skipped 1: CPU-only pod (num_gpu 0)" in r.stdout
    r = run_cli("trace", "inspect", str(out), "--out", str(tmp_path / "plots"), "--fleet", "own")
    assert r.returncode == 0, r.stderr
    assert "4 jobs · 3 tenants" in r.stdout
    assert "fractional 2 · type constraints 3" in r.stdout
    assert "fleet own (openb): 27 devices in 3 pools" in r.stdout
    for name in ("arrivals.png", "gang_sizes.png", "duration_cdf.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_bad_input_exits_2_without_traceback(fixtures: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("# format_version: 1\nid,tenant,submit_s,gang,profile\na,lab,0,0,x\n")
    r = run_cli("trace", "inspect", str(bad))
    assert r.returncode == 2
    assert "row 1, column gang: must be ≥ 1" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli(
        "trace",
        "convert",
        str(fixtures / "philly" / "philly.csv"),
        "--from",
        "philly",
        "--out",
        str(tmp_path / "x.csv"),
        "--strict",
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli(
        "trace",
        "convert",
        str(fixtures / "philly" / "philly.csv"),
        "--from",
        "nope",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert r.returncode == 2 and "valid trace sources" in r.stderr


def test_fleets_lists_named_fleets() -> None:
    r = run_cli("trace", "fleets")
    assert r.returncode == 0 and "philly-hetero" in r.stdout
