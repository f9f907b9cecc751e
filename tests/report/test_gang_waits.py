"""Waiting by gang size (issue 13): ``wait_by_gang`` in metrics.json — per non-empty bucket
``1``, ``2-8``, ``9-32``, ``33-128``, ``129-512``, ``513+`` the jobs that started and their
mean and p95 wait — computed by hand on a tiny FIFO run, and the report's table of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from suanli.policy.registry import make_policy
from suanli.report.data import report_data
from suanli.report.html import render_page
from suanli.report.metrics import GANG_BUCKETS, compute_metrics, wait_by_gang
from suanli.report.writer import write_report
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.report.browser import open_report
from tests.sim.helpers import H100, job, scenario, site

HOUR = 3600.0


def _fifo_run() -> SimResult:
    """16 H100 (two nodes of 8), FIFO. A (16 devices, 1 h) takes both nodes at 0; B (1) at
    0 s, C (2) at 600 s and D (8) at 1,200 s wait for it and start at 1 h together (3 on one
    node, 8 on the other): waits 0 (A), 3,600 s (B), 3,000 s (C), 2,400 s (D)."""
    sc = scenario([site("a", [(H100, 16)])], hours=4)
    jobs = [
        job("A", 0.0, 16, HOUR),
        job("B", 0.0, 1, HOUR),
        job("C", 600.0, 2, HOUR),
        job("D", 1200.0, 8, HOUR),
    ]
    return Simulator(sc, jobs, make_policy("fifo"), verify=True).run()


def test_buckets_labels_and_bounds() -> None:
    assert [b[0] for b in GANG_BUCKETS] == ["1", "2-8", "9-32", "33-128", "129-512", "513+"]
    gang = np.array([1, 2, 8, 9, 32, 33, 128, 129, 512, 513, 4096])
    got = wait_by_gang(gang, np.arange(gang.size) * HOUR)
    assert [(b["gangs"], b["jobs"]) for b in got] == [
        ("1", 1),
        ("2-8", 2),
        ("9-32", 2),
        ("33-128", 2),
        ("129-512", 2),
        ("513+", 2),
    ]
    # 513+: waits 9 h and 10 h → mean 9.5, p95 = 9 + 0.95 × 1 (linear interpolation)
    assert got[-1]["mean_wait_h"] == pytest.approx(9.5)
    assert got[-1]["p95_wait_h"] == pytest.approx(9.95)
    assert wait_by_gang(np.array([], dtype=int), np.array([])) == []


def test_fifo_run_waits_by_gang_by_hand() -> None:
    r = _fifo_run()
    assert r.first_start.tolist() == pytest.approx([0.0, HOUR, HOUR, HOUR])
    m = compute_metrics(r)
    got = m["wait_by_gang"]
    assert [b["gangs"] for b in got] == ["1", "2-8", "9-32"]  # empty buckets left out
    one, small, mid = got
    assert one == {
        "gangs": "1",
        "jobs": 1,
        "mean_wait_h": pytest.approx(1.0),
        "p95_wait_h": pytest.approx(1.0),
    }
    assert small["jobs"] == 2
    assert small["mean_wait_h"] == pytest.approx((3000 + 2400) / 2 / HOUR)  # 0.75 h
    assert small["p95_wait_h"] == pytest.approx((2400 + 0.95 * 600) / HOUR)  # 0.825 h
    assert mid == {"gangs": "9-32", "jobs": 1, "mean_wait_h": 0.0, "p95_wait_h": 0.0}
    # the buckets cover exactly the started jobs of queueing_delay_h
    n = sum(b["jobs"] for b in got)
    mean = sum(b["jobs"] * b["mean_wait_h"] for b in got) / n
    assert mean == pytest.approx(m["queueing_delay_h"]["mean"])


def test_metrics_json_and_page_carry_the_table(tmp_path: Path) -> None:
    r = _fifo_run()
    write_report(tmp_path, [r], plots=False)
    m = json.loads((tmp_path / "metrics.json").read_text())["policies"]["fifo"]
    assert [b["gangs"] for b in m["wait_by_gang"]] == ["1", "2-8", "9-32"]
    assert set(m["wait_by_gang"][0]) == {"gangs", "jobs", "mean_wait_h", "p95_wait_h"}
    data = report_data([r])
    assert data["policies"][0]["metrics"]["wait_by_gang"] == m["wait_by_gang"]
    assert "wait-by-gang" in {t["id"] for t in data["glossary"]}
    page = render_page(data)
    assert 'id="waits-section"' in page and "R.drawGangWaits" in page
    assert 'id="time-table"' in page and "R.drawGangTimes" in page


@pytest.mark.browser
def test_the_page_shows_waits_by_gang(chromium: Any, tmp_path: Path) -> None:
    r = _fifo_run()
    write_report(tmp_path, [r], plots=False)
    open_report(chromium, (tmp_path / "index.html").as_uri())
    js = chromium.execute_script
    assert js("return document.getElementById('waits-section').hidden") is False
    assert js("return document.getElementById('nav-waits').hidden") is False
    rows = js(
        "return [...document.querySelectorAll('#wait-table tbody tr')]"
        ".map(tr => [...tr.children].map(td => td.textContent))"
    )
    assert rows == [["1", "1.00", "1.00"], ["2-8", "0.75", "0.82"], ["9-32", "0.00", "0.00"]]
    # time in system beside it: the JCTs, B 2 h, C and D 1.83 h and 1.67 h, A 1 h
    assert js("return document.getElementById('time-in-system').hidden") is False
    times = js(
        "return [...document.querySelectorAll('#time-table tbody tr')]"
        ".map(tr => [...tr.children].map(td => [td.textContent, td.title]))"
    )
    m = compute_metrics(r)["time_in_system_by_gang"]
    assert [b["mean_h"] for b in m] == pytest.approx([2.0, 1.75, 1.0])
    assert times == [
        [
            [b["gangs"], ""],
            [f"{b['mean_h']:.2f}", f"{b['finished']} of {b['jobs']} jobs finished"],
            [f"{b['p95_h']:.2f}", f"{b['finished']} of {b['jobs']} jobs finished"],
        ]
        for b in m
    ]
    severe = [e for e in chromium.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_time_in_system_by_gang_by_hand() -> None:
    """Every job that arrived and can run, finished or not: ``min(finish, end) − submit``.
    On a 2-hour run a job of 16 devices for 3 h started at 0 is cut at the end (2 h in the
    system, unfinished); the one-device job behind it waits for it and never starts (2 h);
    a job no pool can run (an accelerator type the fleet lacks) is left out."""
    sc = scenario([site("a", [(H100, 16)])], hours=2)
    jobs = [
        job("big", 0.0, 16, 3 * HOUR),
        job("small", 0.0, 1, HOUR),
        job("never", 0.0, 1, HOUR, accepted_types=("huawei_ascend_910c",)),
    ]
    r = Simulator(sc, jobs, make_policy("fifo"), verify=True).run()
    m = compute_metrics(r)
    assert m["jobs"]["never_startable"] == 1
    got = {b["gangs"]: b for b in m["time_in_system_by_gang"]}
    assert got == {
        "1": {"gangs": "1", "jobs": 1, "finished": 0, "mean_h": 2.0, "p95_h": 2.0},
        "9-32": {"gangs": "9-32", "jobs": 1, "finished": 0, "mean_h": 2.0, "p95_h": 2.0},
    }
    # on the run of four jobs above, all finished: the JCTs (waits + one hour each)
    fin = compute_metrics(_fifo_run())["time_in_system_by_gang"]
    assert [(b["gangs"], b["jobs"], b["finished"]) for b in fin] == [
        ("1", 1, 1),
        ("2-8", 2, 2),
        ("9-32", 1, 1),
    ]
    assert fin[1]["mean_h"] == pytest.approx(1.0 + (3000 + 2400) / 2 / HOUR)
