"""The command line as a user meets it."""

from __future__ import annotations

import csv
import io
import json

import yaml

from suanli.scenarios import builtin_text
from tests.conftest import run_cli


def test_validate_default_prints_summary() -> None:
    result = run_cli("validate")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "cn-hubs-2026 is valid" in out
    for site in ("zhangjiakou", "horinger", "zhongwei"):
        assert site in out
    assert "devices" in out and "tenants" in out and "Offered load" in out


def test_catalog_formats() -> None:
    table = run_cli("catalog")
    assert table.returncode == 0, table.stderr
    assert "huawei_ascend_910c" in table.stdout and "3A090" in table.stdout
    rows = json.loads(run_cli("catalog", "--output", "json").stdout)
    h100 = next(r for r in rows if r["id"] == "nvidia_h100_sxm5")
    assert h100["tpp"] == 15831.2 and h100["eccn_3a090"] == "3A090.a.1"
    assert h100["sources"]["compute"]
    reader = csv.DictReader(io.StringIO(run_cli("catalog", "--output", "csv").stdout))
    assert {r["id"] for r in reader} == {r["id"] for r in rows}


def test_catalog_vendor_filter_and_unknown_vendor() -> None:
    rows = json.loads(run_cli("catalog", "--vendor", "huawei", "--output", "json").stdout)
    assert rows and all(r["vendor"].startswith("Huawei") for r in rows)
    bad = run_cli("catalog", "--vendor", "intel")
    assert bad.returncode == 2
    assert "unknown vendor 'intel'" in bad.stderr and "NVIDIA" in bad.stderr


def test_bad_option_exits_2() -> None:
    result = run_cli("catalog", "--output", "xml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_scenario_export_and_show() -> None:
    exported = run_cli("scenario", "export", "cn-hubs-2026")
    assert exported.returncode == 0
    assert exported.stdout == builtin_text("cn-hubs-2026")
    assert yaml.safe_load(exported.stdout)["name"] == "cn-hubs-2026"
    shown = run_cli("scenario", "show", "cn-hubs-2026")
    assert shown.returncode == 0 and "horizon" in shown.stdout
    listed = run_cli("scenario", "list")
    assert "cn-hubs-2026" in listed.stdout
    unknown = run_cli("scenario", "export", "mars-2030")
    assert unknown.returncode == 2 and "no such scenario file" in unknown.stderr
