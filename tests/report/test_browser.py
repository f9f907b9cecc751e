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
from tests.report.charts import (
    assert_share_ticks,
    assert_time_ticks,
    in_view,
    legend_clashes,
    ticks,
)

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
        "[td.parentElement.dataset.path, td.dataset.policy, td.dataset.value, "
        "td.querySelector('.v').textContent])"
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


def _change(x: float) -> str:
    """A relative change as the summary table writes it (summary.js ``R.change``)."""
    p = abs(x) * 100
    text = f"{p:.0f}" if p >= 9.95 else f"{p:.1f}" if p >= 0.05 else "<0.1"
    return ("+" if x > 0 else "−" if x < 0 else "") + text + "%"


def test_headline_best_cells_and_baseline(page: Any, tiny_report: Path) -> None:
    """The headline's sentences, the best value of each metric marked, the change against a
    chosen baseline, and the page opening on suanli."""
    from selenium.webdriver.support.ui import Select

    from suanli.report.headline import percent

    m = _metrics(tiny_report)["policies"]
    h = _page_data(tiny_report)["headline"]
    assert page.execute_script("return document.getElementById('policy').value") == "suanli"
    lead = page.execute_script("return document.querySelector('#headline .lead').textContent")
    assert lead == h["text"] and "key metrics" in lead
    lines = page.execute_script(
        "return [...document.querySelectorAll('#headline li[data-metric]')]"
        ".map(li => [li.dataset.metric, li.textContent])"
    )
    assert lines == [[x["id"], x["text"]] for x in h["metrics"]]
    # the tiny run: every job finds free devices; the cost-aware policies pay less
    texts = dict(lines)
    cheapest = min(p["cost"]["net"] for p in m.values())
    winners = [p for p, v in m.items() if math.isclose(v["cost"]["net"], cheapest, rel_tol=1e-3)]
    assert sorted(winners) == ["greedy-cost", "suanli"]
    assert texts["cost"].startswith(
        f"greedy-cost and suanli share the lowest net energy cost: {cheapest:,.0f} CNY, "
    )
    gain = (m["fifo"]["cost"]["net"] - cheapest) / m["fifo"]["cost"]["net"]
    assert f"{percent(gain)} lower than fifo and backfill" in texts["cost"]
    notes = page.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#headline li[data-note]')]"
        ".map(li => [li.dataset.note, li.textContent]))"
    )
    assert notes["no-queueing"].startswith("No job queued: under every policy every job started")
    best = (
        "return [...document.querySelectorAll('#summary-table tr[data-path=\"{}\"] td.best')]"
        ".map(td => td.dataset.policy)"
    )
    assert sorted(page.execute_script(best.format("cost.net"))) == winners
    assert page.execute_script(best.format("jct_h.mean")) == []  # all the same: none marked
    # the change against the baseline, fifo by default, then suanli
    cell = (
        'document.querySelector(\'#summary-table tr[data-path="cost.net"] '
        'td[data-policy="{}"] .delta\')'
    )

    def mark(policy: str) -> list[str] | None:
        js = f"const e = {cell.format(policy)}; return e && [e.textContent, e.className]"
        return page.execute_script(js)  # type: ignore[no-any-return]

    net = {p: v["cost"]["net"] for p, v in m.items()}
    assert mark("fifo") is None
    assert mark("greedy-cost") == [
        _change((net["greedy-cost"] - net["fifo"]) / net["fifo"]),
        "delta better",
    ]
    Select(page.find_element("id", "baseline")).select_by_value("suanli")
    wait_for(page, cell.format("suanli") + " === null")
    assert mark("fifo") == [_change((net["fifo"] - net["suanli"]) / net["suanli"]), "delta worse"]
    Select(page.find_element("id", "baseline")).select_by_value("fifo")


def test_every_metric_is_defined_on_the_page(page: Any) -> None:
    """Each summary row's label has its definition as a tooltip, and the glossary under the
    table lists every term (suanli.report.glossary)."""
    from suanli.report.glossary import TERMS, glossary_data, term_of

    rows = page.execute_script(
        "return [...document.querySelectorAll('#summary-table tbody tr')].map(tr => {"
        "const t = tr.querySelector('th .term'); return [tr.dataset.path, t && t.title]; })"
    )
    defs = {x["id"]: x for x in glossary_data()}
    for path, title in rows:
        term = term_of(path)
        assert term is not None and title == f"{term.term}: {defs[term.id]['definition']}", path
    listed = page.execute_script(
        "return [...document.querySelectorAll('#glossary dt')].map(e => e.textContent)"
    )
    assert listed == [t.term for t in TERMS]
    rho = page.execute_script(
        "return document.querySelector('#summary-table "
        'tr[data-path="fairness.max_tenant_mean_rho"] th .term\').title'
    )
    assert rho.startswith("worst-tenant fairness (max tenant mean ρ): ")


def test_map_has_one_marker_per_site(page: Any, tiny_report: Path) -> None:
    sites = page.execute_script(
        "return JSON.parse(JSON.stringify(document.getElementById('map').data.at(-1)))"
    )
    n_points = page.execute_script(
        "const t = document.querySelectorAll('#map .scatterlayer .trace');"
        "return t[t.length - 1].querySelectorAll('path.point').length"
    )
    labels = page.execute_script(  # placed by map.js, drawn as annotations
        "return [...document.querySelectorAll('#map .annotation')].map(e => e.textContent)"
    )
    m = _metrics(tiny_report)
    first = next(iter(m["policies"].values()))
    assert n_points == len(first["sites"]) == len(sites["x"])
    assert sorted(labels) == sorted(first["sites"])
    policy = page.execute_script("return document.getElementById('policy').value")
    mine = m["policies"][policy]["sites"]  # the map shows the selected policy
    colours = sites["marker"]["color"]
    assert colours == pytest.approx([mine[s]["utilisation"] for s in sites["text"]])
    table = page.execute_script(
        "return [...document.querySelectorAll('#site-table tbody tr')].map(tr => "
        "[tr.dataset.site, tr.children[4].textContent])"
    )
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


def _small(report: Path) -> dict[str, Any]:
    """The tiny report's document as a big fleet would show it: utilisation ÷ 100 (a
    fraction of a percent) and job times ÷ 500 (seconds)."""
    data = _page_data(report)
    for p in data["policies"]:
        p["series"]["utilisation"] = [
            [None if v is None else v / 100 for v in row] for row in p["series"]["utilisation"]
        ]
        p["jct_cdf"]["jct_h"] = [v / 500 for v in p["jct_cdf"]["jct_h"]]
        for t in p["metrics"]["tenants"].values():
            if t["mean_jct_h"] is not None:
                t["mean_jct_h"] /= 500
    return data


def test_axes_read_as_percentages_and_times(
    chromium: Any, tiny_report: Path, tmp_path: Path
) -> None:
    """Utilisation ticks are distinct percentages, JCT ticks times with their unit (not
    "0%, 0%, 0%" nor "279μ"): for the tiny report and for a fleet busy at a fraction of a
    percent with jobs of seconds."""
    small = tmp_path / "small.html"
    small.write_text(render_page(_small(tiny_report)))
    try:
        for url in ((tiny_report / "index.html").as_uri(), small.as_uri()):
            open_report(chromium, url)
            assert_share_ticks(ticks(chromium, "series", "y"))
            assert_time_ticks(ticks(chromium, "cdf", "x"))
            assert_time_ticks(ticks(chromium, "fairness", "y2"))
        assert ticks(chromium, "cdf", "x")[0].endswith(" s")  # seconds for jobs of seconds
    finally:
        chromium.get("about:blank")


def test_legends_clear_the_modebar(chromium: Any, tiny_report: Path) -> None:
    """No legend runs into its chart's tool bar, on a wide window or a narrower one."""
    size = chromium.get_window_size()
    try:
        open_report(chromium, (tiny_report / "index.html").as_uri())
        for width in (1400, 1100):
            chromium.set_window_size(width, size["height"])
            wait_for(  # Plotly redraws the charts a little after a resize
                chromium,
                f"document.getElementById('fairness').offsetWidth < {width} && "
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".every(d => Math.abs(d._fullLayout.width - d.clientWidth) < 1)",
            )
            charts, clashes = legend_clashes(chromium)
            assert {"series", "cdf", "fairness"} <= set(charts), charts
            assert clashes == {}, (width, clashes)
    finally:
        chromium.set_window_size(size["width"], size["height"])
        chromium.get("about:blank")


def test_deep_link_scrolls_to_the_job(chromium: Any, tiny_report: Path) -> None:
    """``#job=ID`` selects the job's row and scrolls it into view, on opening the page and
    when the address changes later."""
    rows = sorted(_csv_rows(tiny_report, "backfill"))
    selected = "#jobs-table tbody tr.selected"
    try:
        for i, job in enumerate((rows[-1], rows[0], rows[len(rows) // 2])):
            if i == 0:
                open_report(chromium, f"{(tiny_report / 'index.html').as_uri()}#job={job}")
            else:
                chromium.execute_script(
                    "window.scrollTo(0, 0); location.hash = arguments[0]", f"#job={job}"
                )
            wait_for(
                chromium,
                f"document.querySelector('{selected}')?.cells[0].textContent === '{job}'",
            )
            wait_for(chromium, "document.getElementById('job-detail').textContent.length > 0")
            assert job in chromium.find_element("id", "job-detail").text
            assert in_view(chromium, selected), job
    finally:
        chromium.get("about:blank")
