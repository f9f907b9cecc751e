"""The plan page and the comparison page in a real browser (headless Chromium): they draw
offline, and the numbers on them — read from the DOM — are those of plan.json and
compare.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from suanli.plan import fmt
from suanli.plan.html import render_plan_page
from suanli.plan.page_data import HEADLINE
from suanli.plan.summary import cell
from tests.plan.conftest import embedded_document
from tests.report.browser import open_report, screenshot, wait_for

pytestmark = pytest.mark.browser

NAMES = ["tiny-plan", "more-h100"]


def _json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _show(driver: Any, page: Path) -> Any:
    """``page`` in the browser, loaded and drawn (loaded again only when another is shown)."""
    if driver.current_url != page.as_uri():
        driver.get_log("browser")  # forget what pages of earlier tests logged
        took = open_report(driver, page.as_uri())
        print(f"{page.parent.name}/{page.name}: {took:.2f} s to load and draw")
    return driver


def _js(driver: Any, script: str) -> Any:
    return driver.execute_script(f"return {script}")


def _headline(driver: Any) -> list[list[str]]:
    return _js(  # type: ignore[no-any-return]
        driver,
        "[...document.querySelectorAll('#headline .card')].map(c => "
        "[c.dataset.path, c.dataset.value, c.querySelector('.value').textContent])",
    )


def _pool_rows(driver: Any) -> list[dict[str, str]]:
    return _js(  # type: ignore[no-any-return]
        driver,
        "[...document.querySelectorAll('#pool-table tbody tr')].map(tr => Object.fromEntries("
        "[...tr.children].map(td => [td.dataset.key, [td.dataset.value, td.textContent]])))",
    )


def _map_labels(driver: Any) -> list[str]:
    return _js(  # type: ignore[no-any-return]
        driver,
        "[...document.querySelectorAll('#map .scatterlayer .trace .textpoint text')]"
        ".map(e => e.textContent)",
    )


def _check_plan_shown(driver: Any, record: dict[str, Any], row: dict[str, Any]) -> None:
    """The headline, map, plan table and binding constraints show ``record`` (plan.json)."""
    cur = record["currency"]
    entry = {"plan": record, "summary": row}
    shown = _headline(driver)
    assert [p for p, _, _ in shown] == [path for _, path, _ in HEADLINE]
    for (path, raw, text), (_, _, kind) in zip(shown, HEADLINE, strict=True):
        want: Any = entry
        for key in path.split("."):
            want = want[key]
        assert float(raw) == want, path
        assert text == cell(want, kind, cur), path
    total = next(t for p, _, t in _headline(driver) if p == "plan.totals.total_cost")
    assert total == fmt.money(record["totals"]["total_cost"], cur)
    rows = _pool_rows(driver)
    assert len(rows) == len(record["pools"])
    for got, pool in zip(rows, record["pools"], strict=True):
        assert got["site"][0] == pool["site"] and got["accelerator"][0] == pool["accelerator"]
        for key in ("existing", "added", "retired", "total", "capex", "energy_mwh", "peak_mw"):
            assert float(got[key][0]) == pool[key], key
        assert got["added"][1] == f"{pool['added']:,}" and got["total"][1] == f"{pool['total']:,}"
        assert got["capex"][1] == fmt.money(pool["capex"], cur)
        assert got["peak_mw"][1] == f"{pool['peak_mw']:.2f}"
    points = _js(driver, "document.querySelectorAll('#map .scatterlayer .trace path.point').length")
    assert points == len(record["sites"])
    assert _map_labels(driver) == [s["site"] for s in record["sites"]]
    sizes = _js(driver, "document.getElementById('map').data[0].marker.size")
    devices = [s["devices"] for s in record["sites"]]
    order = range(len(devices))
    assert sorted(order, key=sizes.__getitem__) == sorted(order, key=devices.__getitem__)
    binding = _js(
        driver, "[...document.querySelectorAll('#binding li:not(.none)')].map(e => e.textContent)"
    )
    assert binding == [s["sentence"] for s in record["shadow_prices"] if s["family"] != "demand"]


def _offline_and_quiet(driver: Any) -> None:
    """Nothing was fetched from the network, and nothing logged a warning or an error."""
    fetched = _js(driver, "performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith(("data:", "blob:", "file:"))] == []
    logs = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert logs == []


def test_plan_page_shows_plan_json(chromium: Any, compared: Path) -> None:
    page = _show(chromium, compared / "tiny-plan" / "index.html")
    assert _js(page, "document.getElementById('comparison').hidden") is True
    assert _js(page, "document.getElementById('plan-choice').hidden") is True
    record = _json(compared / "tiny-plan" / "plan.json")
    row = _json(compared / "compare.json")[0]
    _check_plan_shown(page, record, row)
    colours = _js(page, "document.getElementById('map').data[0].marker.color")
    for site, colour in zip(record["sites"], colours, strict=True):
        pools = [p for p in record["pools"] if p["site"] == site["site"]]
        domestic = sum(p["total"] for p in pools if p["domestic"])
        assert colour == pytest.approx(domestic / site["devices"])


def test_plan_table_sorts(chromium: Any, compared: Path) -> None:
    page = _show(chromium, compared / "tiny-plan" / "index.html")
    record = _json(compared / "tiny-plan" / "plan.json")
    header = "#pool-table thead th[data-key=capex]"
    page.find_element("css selector", header).click()
    wait_for(page, "document.getElementById('pool-table').dataset.sort === 'capex asc'")
    capex = [float(r["capex"][0]) for r in _pool_rows(page)]
    assert capex == sorted(p["capex"] for p in record["pools"])
    page.find_element("css selector", header).click()
    wait_for(page, "document.getElementById('pool-table').dataset.sort === 'capex desc'")
    assert [float(r["capex"][0]) for r in _pool_rows(page)] == sorted(capex, reverse=True)
    page.find_element("id", "pools-changed").click()
    changed = [p for p in record["pools"] if p["added"] or p["retired"]]
    assert len(_pool_rows(page)) == len(changed) < len(record["pools"])
    page.find_element("id", "pools-changed").click()
    assert len(_pool_rows(page)) == len(record["pools"])


def test_plan_page_offline(chromium: Any, compared: Path, screenshot_dir: Path) -> None:
    page = _show(chromium, compared / "tiny-plan" / "index.html")
    _offline_and_quiet(page)
    page.execute_script("window.scrollTo(0, 0)")
    path = screenshot(page, screenshot_dir / "plan-tiny.png")
    assert path.stat().st_size > 10_000


def test_comparison_page_has_a_column_per_plan(chromium: Any, compared: Path) -> None:
    page = _show(chromium, compared / "index.html")
    assert _js(page, "document.getElementById('comparison').hidden") is False
    rows = _json(compared / "compare.json")
    heads = _js(
        page, "[...document.querySelectorAll('#compare-table thead th')].map(e => e.textContent)"
    )
    assert heads == ["", *NAMES]
    cells = _js(
        page,
        "[...document.querySelectorAll('#compare-table tbody td')].map(td => "
        "[td.parentElement.dataset.key, td.dataset.plan, td.dataset.value, td.textContent])",
    )
    doc = embedded_document(compared / "index.html")
    lines = {line["key"]: line["format"] for line in doc["comparison_rows"]}
    assert len(cells) == len(lines) * len(NAMES)
    by_name = {r["plan"]: r for r in rows}
    for key, plan, raw, text in cells:
        want = by_name[plan][key]
        assert float(raw) == want and text == cell(want, lines[key], "CNY"), (key, plan)
    vendors = _js(page, "document.getElementById('compare-vendors').data.map(t => t.name)")
    assert vendors == sorted(k[4:] for k in rows[0] if k.startswith("new_") and k != "new_devices")
    for trace in _js(page, "document.getElementById('compare-vendors').data.map(t => [t.x, t.y])"):
        assert trace[0] == NAMES
    bars = _js(page, "document.querySelectorAll('#compare-cost .barlayer .point').length")
    assert bars == 2 * len(NAMES)  # capex and opex per plan


def test_comparison_selector_shows_each_plan(chromium: Any, compared: Path) -> None:
    from selenium.webdriver.support.ui import Select

    page = _show(chromium, compared / "index.html")
    rows = _json(compared / "compare.json")
    choice = Select(page.find_element("id", "plan"))
    assert [o.text for o in choice.options] == NAMES
    for i, name in reversed(list(enumerate(NAMES))):
        choice.select_by_value(name)
        selected = "document.querySelector('#compare-table thead th.selected')"
        wait_for(page, f"{selected} && {selected}.textContent === {json.dumps(name)}")
        _check_plan_shown(page, _json(compared / name / "plan.json"), rows[i])


def test_comparison_page_offline(chromium: Any, compared: Path, screenshot_dir: Path) -> None:
    page = _show(chromium, compared / "index.html")
    _offline_and_quiet(page)
    page.execute_script("window.scrollTo(0, 0)")
    path = screenshot(page, screenshot_dir / "plan-compare.png")
    assert path.stat().st_size > 10_000


def test_another_document_is_refused(chromium: Any, compared: Path, tmp_path: Path) -> None:
    doc = embedded_document(compared / "tiny-plan" / "index.html")
    page = tmp_path / "index.html"
    page.write_text(render_plan_page({**doc, "version": 2}), "utf-8")
    chromium.get(page.as_uri())
    wait_for(chromium, "document.body.dataset.error")
    message = chromium.find_element("id", "error").text
    assert message == "The plan could not be shown: unsupported plan data: suanli-plan-data v2"
    chromium.get_log("browser")  # the page logged nothing else; drop what the failure logged
