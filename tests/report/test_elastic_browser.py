"""The elastic section of the HTML report in headless Chromium: shown with the figures of
metrics.json and the most resized job's size over time when a run resized a job; hidden in
a report without elastic jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from suanli.config import load_scenario
from suanli.report.writer import write_report
from tests.report.browser import open_report
from tests.report.test_elastic_report import FLEET, _grower_run

pytestmark = pytest.mark.browser


def test_the_elastic_section_shows_the_resized_job(
    chromium: Any, tmp_path: Path, tiny_report: Path
) -> None:
    _, r = _grower_run(load_scenario(str(FLEET)))
    out = tmp_path / "elastic"
    write_report(out, [r], plots=False)
    m = json.loads((out / "metrics.json").read_text())["policies"]["suanli"]
    open_report(chromium, (out / "index.html").as_uri())
    js = chromium.execute_script
    assert js("return document.getElementById('elastic-section').hidden") is False
    assert js("return document.getElementById('nav-elastic').hidden") is False
    row = js(
        "return [...document.querySelectorAll('#elastic-table tbody td')].map(e => e.textContent)"
    )
    assert row[:4] == ["suanli", "1", "1", "1"]
    assert row[-1] == f"{m['elastic']['efficiency_vs_gang']:.3f}"
    sizes = js(
        "return [...document.querySelectorAll('#size-table tbody tr')]"
        ".map(tr => tr.dataset.devices)"
    )
    assert sizes == [str(int(s["devices"])) for s in m["device_hours_by_size"]] == ["4", "8"]
    trace = js("return JSON.parse(JSON.stringify(document.getElementById('job-size').data[0]))")
    assert trace["y"] == [4, 4, 8, 8, 0]  # grown at 900 s, finished
    assert trace["x"][1:3] == [0.25, 0.25]
    restart = js("return JSON.parse(JSON.stringify(document.getElementById('job-size').data[1]))")
    assert restart["x"] == [0.25, 930 / 3600, 930 / 3600]  # held from 900 s, computing at 930 s
    assert "job 1" in js("return document.getElementById('job-size-note').textContent").lower()
    severe = [e for e in chromium.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    open_report(chromium, (tiny_report / "index.html").as_uri())
    assert js("return document.getElementById('elastic-section').hidden") is True
