"""The report's map in a real browser (headless Chromium): an offline basemap under the sites,
axes that stay on the globe, and site labels inside the plot that do not overlap — for the
built-in national fleet (eight hubs in China), a fleet on two continents and a single site."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.report.html import render_page
from tests.conftest import run_cli
from tests.report.browser import open_report

pytestmark = pytest.mark.browser

#: The map as the tests read it: the traces' names and points, the axes, the plot area and
#: every label's box (client pixels).
MAP_STATE = """
const d = document.getElementById('map'), fl = d._fullLayout;
const box = (e) => {
  const r = e.getBoundingClientRect();
  return [r.left, r.top, r.right, r.bottom];
};
const sites = [...d.querySelectorAll('.scatterlayer .trace')].at(-1);
return {
  traces: d.data.map((t) => [t.name || null, t.x.filter((v) => v !== null).length]),
  x: fl.xaxis.range, y: fl.yaxis.range,
  plot: box(d.querySelector('.bglayer rect.bg')),
  // the labels: annotations, or else the text of the sites' trace
  labels: d.querySelector('.annotation')
    ? [...d.querySelectorAll('.annotation')].map((a) =>
      [a.textContent, box(a.querySelector('.annotation-text-g'))])
    : [...sites.querySelectorAll('.textpoint text')].map((e) => [e.textContent, box(e)]),
  markers: [...sites.querySelectorAll('path.point')].map(box),
  sites: d.data.at(-1).text,
  site_xy: [d.data.at(-1).x, d.data.at(-1).y],
};
"""


@pytest.fixture(scope="module")
def national_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in national scenario's report, over its first 6 hours, one policy."""
    scenario = yaml.safe_load(
        (files("suanli.scenarios") / "cn-hubs-2026.yaml").read_text(encoding="utf-8")
    )
    scenario["horizon"]["hours"] = 6
    work = tmp_path_factory.mktemp("national")
    path = work / "cn-hubs-6h.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    out = work / "report"
    res = run_cli("simulate", str(path), "-p", "fifo", "--out", str(out), "--no-plots")
    assert res.returncode == 0, res.stderr
    return out


def _document(page: Path) -> dict[str, Any]:
    """The report data document embedded in a report page."""
    m = re.search(r'id="suanli-data" data-encoding="gzip\+base64">([^<]*)<', page.read_text())
    assert m is not None
    return json.loads(gzip.decompress(base64.b64decode(m.group(1))))  # type: ignore[no-any-return]


def _with_sites(doc: dict[str, Any], sites: list[tuple[str, float, float]]) -> dict[str, Any]:
    """``doc`` with other sites (each copies the data of an existing one), no transfers."""
    d = copy.deepcopy(doc)
    old = d["sites"]
    new = []
    for k, (sid, lat, lon) in enumerate(sites):
        new.append({**old[k % len(old)], "id": sid, "name": sid.title(), "lat": lat, "lon": lon})
    d["sites"] = new
    pick = [k % len(old) for k in range(len(sites))]
    for p in d["policies"]:
        p["transfers"] = []
        was = p["metrics"]["sites"]
        p["metrics"]["sites"] = {s["id"]: was[old[k]["id"]] for s, k in zip(new, pick, strict=True)}
        for key, rows in p["series"].items():
            p["series"][key] = [rows[k] for k in pick]
    for key, rows in d["site_series"].items():
        d["site_series"][key] = [rows[k] for k in pick]
    return d


def _map_state(driver: Any, url: str) -> dict[str, Any]:
    open_report(driver, url)
    return driver.execute_script(MAP_STATE)  # type: ignore[no-any-return]


def _shot(driver: Any, path: Path) -> None:
    """A picture of the map alone."""
    el = driver.find_element("id", "map")
    driver.execute_script("arguments[0].scrollIntoView()", el)
    el.screenshot(str(path))


def _check_frame(state: dict[str, Any]) -> None:
    """Axes on the globe around every site; labels of every site inside the plot, apart."""
    (x0, x1), (y0, y1) = state["x"], state["y"]
    assert -180 <= x0 < x1 <= 180, state["x"]
    assert -90 <= y0 < y1 <= 90, state["y"]
    for lon, lat in zip(*state["site_xy"], strict=True):
        assert x0 < lon < x1 and y0 < lat < y1
    left, top, right, bottom = state["plot"]
    assert sorted(t for t, _ in state["labels"]) == sorted(state["sites"])
    for text, (a, b, c, d) in state["labels"]:
        assert c - a > 5 and d - b > 5, text  # drawn
        assert left - 0.5 <= a and c <= right + 0.5, (text, "sticks out sideways")
        assert top - 0.5 <= b and d <= bottom + 0.5, (text, "sticks out above or below")
    labels = state["labels"]
    for i, (t1, p) in enumerate(labels):
        for t2, q in labels[i + 1 :]:
            apart = p[2] <= q[0] or q[2] <= p[0] or p[3] <= q[1] or q[3] <= p[1]
            assert apart, (t1, t2, p, q)


def test_national_map_has_a_basemap_and_readable_labels(
    chromium: Any, national_report: Path, screenshot_dir: Path
) -> None:
    state = _map_state(chromium, (national_report / "index.html").as_uri())
    names = [n for n, _ in state["traces"]]
    points = dict(state["traces"])
    # outlines: land (filled, its edge the coast), country borders, China's provinces
    assert {"land", "coast", "borders", "provinces"} <= set(names)
    assert points["land"] > 500 and points["coast"] > 500
    assert points["borders"] > 50 and points["provinces"] > 300
    # under the sites (drawn first) and the sites last
    assert max(names.index(n) for n in ("land", "coast", "borders", "provinces")) < len(names) - 1
    assert names[-1] == "sites" and len(state["sites"]) == 8
    _check_frame(state)
    # no label hides a site: each box is clear of every marker (a circle in its box)
    for text, (a, b, c, d) in state["labels"]:
        for i, (ma, mb, mc, md) in enumerate(state["markers"]):
            cx, cy, r = (ma + mc) / 2, (mb + md) / 2, (mc - ma) / 2
            nx, ny = min(max(cx, a), c), min(max(cy, b), d)  # the box's point nearest the centre
            assert (nx - cx) ** 2 + (ny - cy) ** 2 >= (0.9 * r) ** 2, (text, state["sites"][i])
    # framed on the sites: China's hubs span about 104–119°E and 25–41°N
    (x0, x1), (y0, y1) = state["x"], state["y"]
    assert x1 - x0 < 40 and y1 - y0 < 40
    fetched = chromium.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert [u for u in fetched if not u.startswith(("data:", "blob:", "file:"))] == []
    assert [e for e in chromium.get_log("browser") if e["level"] == "SEVERE"] == []
    _shot(chromium, screenshot_dir / "map-national.png")


@pytest.mark.parametrize(
    "fleet",
    [
        pytest.param(
            [
                ("frankfurt", 50.1, 8.7),
                ("dublin", 53.35, -6.26),
                ("stockholm", 59.33, 18.07),
                ("madrid", 40.4, -3.7),
                ("virginia", 38.9, -77.4),
                ("oregon", 45.6, -121.2),
                ("texas", 32.8, -96.8),
                ("montreal", 45.5, -73.6),
            ],
            id="europe-north-america",
        ),
        pytest.param(
            [
                ("sydney", -33.9, 151.2),
                ("tromso", 69.6, 18.9),
                ("santiago", -33.4, -70.6),
                ("reykjavik", 64.1, -21.9),
                ("suva", -18.1, 178.4),
            ],
            id="world",
        ),
        pytest.param([("solo", 31.2, 121.5)], id="one-site"),
    ],
)
def test_map_of_other_fleets(
    chromium: Any,
    national_report: Path,
    tmp_path: Path,
    screenshot_dir: Path,
    fleet: list[tuple[str, float, float]],
) -> None:
    doc = _with_sites(_document(national_report / "index.html"), fleet)
    page = tmp_path / "index.html"
    page.write_text(render_page(doc), encoding="utf-8")
    state = _map_state(chromium, page.as_uri())
    assert dict(state["traces"])["coast"] > 50
    _check_frame(state)
    _shot(chromium, screenshot_dir / f"map-{fleet[0][0]}.png")
