"""What the report page shows, read from the DOM in the browser (shared by the report's and
the dashboard's browser tests): an axis's tick labels as drawn (SVG text), whether a legend
runs into its chart's tool bar (Plotly's modebar), whether an element is on screen."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

#: A tick of a share axis: a percentage ("0%", "0.05%", "100%").
PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
#: A tick of a time axis: a plain number and a unit of time ("30 s", "2.5 min", "1,000 h").
DURATION = re.compile(r"^(\d[\d,]*(?:\.\d+)?) (s|min|h)$")
SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}


def ticks(driver: Any, chart: str, axis: str) -> list[str]:
    """The tick labels of axis ``axis`` ("x", "y", "y2", …) of the chart ``#chart``."""
    texts: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
        f"#{chart} .{axis}tick text",
    )
    return texts


def assert_share_ticks(texts: list[str]) -> None:
    """More than one tick, each a percentage within 0–100%, all different and increasing
    (not a row of "0%" for a share of a fraction of a percent)."""
    assert len(texts) >= 2, texts
    values = []
    for t in texts:
        m = PERCENT.match(t)
        assert m, f"{t!r} is not a percentage: {texts}"
        values.append(float(m.group(1)))
    assert all(0 <= v <= 100 for v in values), texts
    assert all(a < b for a, b in pairwise(values)), texts


def assert_time_ticks(texts: list[str]) -> None:
    """Ticks each with a unit of time (s, min or h) — no bare numbers, no SI prefixes such
    as "279μ" (micro-hours) or "2m" — all different and increasing."""
    assert texts, "no ticks"
    seconds = []
    for t in texts:
        m = DURATION.match(t)
        assert m, f"{t!r} is not a time with its unit: {texts}"
        seconds.append(float(m.group(1).replace(",", "")) * SECONDS[m.group(2)])
    assert all(a < b for a, b in pairwise(seconds)), texts


def legend_clashes(driver: Any) -> tuple[list[str], dict[str, Any]]:
    """The charts with a legend, and those whose legend's box intersects the box of the
    chart's modebar (with both boxes)."""
    boxes: dict[str, Any] = driver.execute_script(
        "const box = (e) => { const r = e.getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; };"
        "const out = {};"
        "for (const div of document.querySelectorAll('.js-plotly-plot')) {"
        "  const legend = div.querySelector('.legend'), bar = div.querySelector('.modebar');"
        "  if (legend && bar) out[div.id] = [box(legend), box(bar)];"
        "}"
        "return out;"
    )

    def meet(a: list[float], b: list[float]) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    clashes = {k: v for k, v in boxes.items() if meet(*v)}
    return sorted(boxes), clashes


def in_view(driver: Any, selector: str) -> bool:
    """Whether the element ``selector`` lies within the window's viewport from top to
    bottom (a wide table row may run past its right edge, inside its scroll box)."""
    return bool(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "if (!e) return false;"
            "const r = e.getBoundingClientRect();"
            "return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight;",
            selector,
        )
    )
