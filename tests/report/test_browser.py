"""The HTML report in a real browser (headless Chromium): it draws offline, and the numbers
on the page — read from the DOM — are those of the report files."""

from __future__ import annotations

import csv
import http.server
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suanli.report.html import render_page
from tests.report.browser import open_report, screenshot, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(chromium: Any, tiny_report: Path) -> Iterator[Any]:
    """The tiny report, loaded and drawn; prints how long loading took."""
    took = open_report(chromium, (tiny_report / "index.html").as_uri())
    print(f"tiny report: {took:.2f} s to load and draw")
    yield chromium


def _metrics(report: Path) -> dict[str, Any]:
    return json.loads((report / "metrics.json").read_text())  # type: ignore[no-any-return]


def _get(d: Any, path: str) -> Any:
    for k in path.split("."):
        d = d[k]
    return d


def test_nothing_fetched_and_no_errors(page: Any) -> None:
    fetched = page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert [u for u in fetched if not u.startswith(("data:", "blob:", "file:"))] == []
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_summary_table_matches_metrics(page: Any, tiny_report: Path) -> None:
    m = _metrics(tiny_report)
    heads = page.execute_script(
        "return [...document.querySelectorAll('#summary-table thead th')].map(e => e.textContent)"
    )
    assert heads[0] == "metric" and sorted(heads[1:]) == sorted(m["policies"])
    cells = page.execute_script(
        "return [...document.querySelectorAll('#summary-table tbody td')].map(td => "
        "[td.parentElement.dataset.path, td.dataset.policy, td.dataset.value, td.textContent])"
    )
    from suanli.report.data import summary_rows

    rows = summary_rows(m["policies"])
    assert len(cells) == len(rows) * len(m["policies"])
    for path, policy, raw, text in cells:
        want = _get(m["policies"][policy], path)
        fmt = "{:" + next(f for _, p, f in rows if p == path) + "}"
        if want is None:
            assert (raw, text) == ("", "–")
            continue
        assert math.isclose(float(raw), want, rel_tol=1e-12, abs_tol=1e-12), (path, policy)
        assert text == fmt.format(want), (path, policy)


def test_map_has_one_marker_per_site(page: Any, tiny_report: Path) -> None:
    sites = page.execute_script(
        "return JSON.parse(JSON.stringify(document.getElementById('map').data.at(-1)))"
    )
    n_points = page.execute_script(
        "const t = document.querySelectorAll('#map .scatterlayer .trace');"
        "return t[t.length - 1].querySelectorAll('path.point').length"
    )
    labels = page.execute_script(
        "const t = document.querySelectorAll('#map .scatterlayer .trace');"
        "return [...t[t.length - 1].querySelectorAll('.textpoint text')].map(e => e.textContent)"
    )
    m = _metrics(tiny_report)
    first = next(iter(m["policies"].values()))
    assert n_points == len(first["sites"]) == len(sites["x"])
    assert sorted(labels) == sorted(first["sites"])
    colours = sites["marker"]["color"]
    assert colours == pytest.approx([first["sites"][s]["utilisation"] for s in sites["text"]])
    table = page.execute_script(
        "return [...document.querySelectorAll('#site-table tbody tr')].map(tr => "
        "[tr.dataset.site, tr.children[4].textContent])"
    )
    policy = page.execute_script("return document.getElementById('policy').value")
    mine = m["policies"][policy]["sites"]
    assert table == [[s, f"{mine[s]['utilisation']:.1%}"] for s in sites["text"]]


def test_map_hour_slider(page: Any, tiny_report: Path) -> None:
    page.execute_script(
        "const h = document.getElementById('map-hour'); h.value = '3';"
        "h.dispatchEvent(new Event('input'));"
    )
    got = page.execute_script(
        "return JSON.parse(JSON.stringify(document.getElementById('map').data.at(-1).marker.color))"
    )
    label = page.find_element("id", "map-hour-label").text
    page.execute_script(
        "const h = document.getElementById('map-hour'); h.value = '-1';"
        "h.dispatchEvent(new Event('input'));"
    )
    assert label.startswith("hour 3: 2026-03-02 03:00")
    policy = page.execute_script("return document.getElementById('policy').value")
    p = next(p for p in _page_data(tiny_report)["policies"] if p["name"] == policy)
    want = [row[3] if row[3] is not None else 0 for row in p["series"]["utilisation"]]
    assert got == pytest.approx(want)


def test_charts_have_a_trace_per_policy_and_site(page: Any, tiny_report: Path) -> None:
    m = _metrics(tiny_report)
    n_pol, n_sites = len(m["policies"]), len(next(iter(m["policies"].values()))["sites"])
    count = "document.querySelectorAll('#{} .scatterlayer .trace').length"
    assert page.execute_script("return " + count.format("cdf")) == n_pol
    legend = page.execute_script(
        "return [...document.querySelectorAll('#cdf .legendtext')].map(e => e.textContent)"
    )
    assert sorted(x.split(" ")[0] for x in legend) == sorted(m["policies"])
    # utilisation, power, price and carbon per site, plus a capacity line per site
    assert page.execute_script("return " + count.format("series")) == 5 * n_sites
    bars = page.execute_script(
        "return document.querySelectorAll('#fairness .barlayer .trace').length"
    )
    assert bars == 2 * n_pol


def _csv_rows(report: Path, policy: str) -> dict[str, dict[str, str]]:
    with (report / f"jobs-{policy}.csv").open() as fh:
        return {row["job"]: row for row in csv.DictReader(fh)}


def _table(page: Any) -> list[dict[str, str]]:
    return page.execute_script(  # type: ignore[no-any-return]
        "const keys = [...document.querySelectorAll('#jobs-table thead th')]"
        ".map(e => e.dataset.key);"
        "return [...document.querySelectorAll('#jobs-table tbody tr')].map(tr => "
        "Object.fromEntries([...tr.children].map((td, i) => [keys[i], td.textContent])))"
    )


def _type(page: Any, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = page.find_element("id", "jobs-search")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE, text)
    # the table notes the search it shows once it has filtered (after typing pauses)
    wait_for(page, f"document.getElementById('jobs-table').dataset.query === {json.dumps(text)}")


def test_jobs_table_search_and_values(page: Any, tiny_report: Path) -> None:
    policy = page.execute_script("return document.getElementById('policy').value")
    rows = _csv_rows(tiny_report, policy)
    first_page = _table(page)
    assert len(first_page) == min(50, len(rows))
    assert f"of {len(rows)} matching jobs" in page.find_element("id", "jobs-count").text
    job = sorted(rows)[len(rows) // 2]
    _type(page, job)
    shown = _table(page)
    assert [r["job"] for r in shown] == [job]
    want, got = rows[job], shown[0]
    assert got["tenant"] == want["tenant"] and got["site"] == want["site"]
    assert got["status"] == want["status"] and got["accelerator"] == want["accelerator"]
    for col, key in (("submit", "submit_h"), ("wait", "wait_h"), ("jct", "jct_h")):
        if want[key]:
            assert float(got[col]) == pytest.approx(float(want[key]), abs=6e-4), col
        else:
            assert got[col] == ""
    page.find_element("css selector", "#jobs-table tbody tr").click()
    detail = page.find_element("id", "job-detail").text
    assert job in detail and "submitted" in detail
    _type(page, "no-such-job-anywhere")
    assert _table(page) == []
    assert "0 of 0 matching jobs" in page.find_element("id", "jobs-count").text
    _type(page, "")
    assert len(_table(page)) == min(50, len(rows))


def test_status_filter_and_policy_switch(page: Any, tiny_report: Path) -> None:
    from selenium.webdriver.support.ui import Select

    m = _metrics(tiny_report)
    policies = list(m["policies"])
    policy = Select(page.find_element("id", "policy"))
    policy.select_by_value(policies[-1])
    wait_for(page, "document.querySelectorAll('#jobs-table tbody tr').length > 0")
    status = Select(page.find_element("id", "jobs-status"))
    status.select_by_visible_text("finished")
    finished = m["policies"][policies[-1]]["jobs"]["finished"]
    wait_for(page, f"document.getElementById('jobs-count').textContent.includes(' of {finished} ')")
    assert {r["status"] for r in _table(page)} == {"finished"}
    status.select_by_value("")
    policy.select_by_value(policies[0])


def test_screenshots(page: Any, screenshot_dir: Path) -> None:
    path = screenshot(page, screenshot_dir / "report-tiny.png")
    assert path.stat().st_size > 10_000


class _Server(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        body = self.server.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        kind = "application/json" if self.path.endswith(".json") else "text/html; charset=utf-8"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_live_page_polls_the_same_document(chromium: Any, tiny_report: Path) -> None:
    """The live dashboard's shape: the same page, fed by polling a URL for the document."""
    from suanli.report.html import document_bytes

    data = _page_data(tiny_report)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.files = {
        "/": render_page(data_url="/report-data.json", poll_s=0.3).encode(),
        "/report-data.json": document_bytes(data),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        open_report(chromium, f"http://127.0.0.1:{server.server_address[1]}/")
        first = data["policies"][0]
        cell = (
            'document.querySelector(\'#summary-table tr[data-path="jobs.finished"] '
            f'td[data-policy="{first["name"]}"]\').textContent'
        )
        assert (
            chromium.execute_script(f"return {cell}") == f"{first['metrics']['jobs']['finished']:,}"
        )
        first["metrics"]["jobs"]["finished"] = 123456
        server.files["/report-data.json"] = document_bytes(data)
        wait_for(chromium, f"{cell} === '123,456'", timeout=20)
        assert int(chromium.execute_script("return document.body.dataset.updates")) >= 2
    finally:
        server.shutdown()
        server.server_close()
        chromium.get("about:blank")


def _page_data(report: Path) -> dict[str, Any]:
    """The report data document embedded in ``report/index.html``."""
    import base64
    import gzip
    import re

    html = (report / "index.html").read_text()
    m = re.search(r'<script [^>]*id="suanli-data"[^>]*>([^<]*)</script>', html)
    assert m is not None
    return json.loads(gzip.decompress(base64.b64decode(m.group(1))))  # type: ignore[no-any-return]
