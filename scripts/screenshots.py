#!/usr/bin/env python3
"""Screenshots of the HTML report for the README (docs/img/report-*.png).

Runs ``suanli simulate`` on the built-in national scenario (about a minute) — or takes an
existing report directory with ``--report`` — opens its ``index.html`` in headless
Chromium (Debian's ``chromium`` and ``chromium-driver``, as in the browser tests), and saves
one picture per part of the page, reduced to 256 colours to keep them small.

    .venv/bin/python scripts/screenshots.py [--report DIR] [--out docs/img] [--width 1280] [--page]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.report.browser import (  # noqa: E402 (needs the repository on the path)
    open_report,
    start_chromium,
    unavailable_reason,
    wait_for,
)

#: Picture name → CSS selector of the part of the page it shows.
PARTS = {
    "report-headline.png": "#headline, #summary-table",
    "report-summary-map.png": "#summary, #sites",
    "report-map.png": "#sites",
    "report-series.png": "#over-time",
    "report-jct-fairness.png": "#jct, #fairness-section",
    "report-jobs.png": "#jobs",
}


def shrink(path: Path) -> None:
    """Re-save a PNG with a 256-colour palette (a third of the size, same look for charts)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    small.save(path, optimize=True)


def fit_page(driver: object, width: int, settle_s: float = 0.5) -> None:
    """Make the window as tall as the page (so one screenshot holds all of it), at the top."""
    height = driver.execute_script(  # type: ignore[attr-defined]
        "return document.documentElement.scrollHeight"
    )
    driver.set_window_size(width, height + 40)  # type: ignore[attr-defined]
    driver.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    time.sleep(settle_s)  # let Plotly resize to the window


def crop_to(driver: object, selectors: str, path: Path) -> None:
    """Screenshot the page and crop it to the box around the elements ``selectors``."""
    from PIL import Image

    box = driver.execute_script(  # type: ignore[attr-defined]
        "const r = [...document.querySelectorAll(arguments[0])]"
        ".map(e => e.getBoundingClientRect());"
        "return [Math.min(...r.map(b => b.left)), Math.min(...r.map(b => b.top)) + scrollY,"
        " Math.max(...r.map(b => b.right)), Math.max(...r.map(b => b.bottom)) + scrollY];",
        selectors,
    )
    full = path.with_suffix(".full.png")
    driver.save_screenshot(str(full))  # type: ignore[attr-defined]
    with Image.open(full) as im:
        left, top, right, bottom = (round(v) for v in box)
        box = (
            max(0, left - 12),
            max(0, top - 8),
            min(im.width, right + 12),
            min(im.height, bottom + 8),
        )
        im.crop(box).save(path)
    full.unlink()
    shrink(path)


def main() -> int:
    """Make the pictures; print where they are and how long the page took to load."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--report", type=Path, help="an existing report directory")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    ap.add_argument("--width", type=int, default=1280, help="window width in CSS pixels")
    ap.add_argument(
        "--page", action="store_true", help="also the whole page as report-page-WIDTH.png"
    )
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="suanli-shots-"))
    try:
        report = args.report.resolve() if args.report else None
        if report is None:
            report = work / "report"
            suanli = Path(sys.executable).with_name("suanli")
            subprocess.run(
                [str(suanli), "simulate", "--out", str(report), "--no-plots"], check=True
            )
        page = report / "index.html"
        print(f"page: {page} ({page.stat().st_size / 1e6:.2f} MB)")
        driver = start_chromium(work / "profile", width=args.width, height=900)
        try:
            took = open_report(driver, page.as_uri())
            print(f"loaded and drawn in {took:.2f} s")
            driver.find_element("id", "jobs-search").send_keys("frontier-lab")
            time.sleep(0.4)
            driver.find_element("css selector", "#jobs-table thead th[data-key=jct]").click()
            driver.find_element("css selector", "#jobs-table thead th[data-key=jct]").click()
            driver.find_element("css selector", "#jobs-table tbody tr:nth-child(2)").click()
            wait_for(driver, "!document.getElementById('job-detail').hidden")
            fit_page(driver, args.width)
            args.out.mkdir(parents=True, exist_ok=True)
            if args.page:
                whole = args.out / f"report-page-{args.width}.png"
                driver.save_screenshot(str(whole))
                shrink(whole)
                print(f"{whole} ({whole.stat().st_size / 1e3:.0f} kB)")
            for name, selectors in PARTS.items():
                crop_to(driver, selectors, args.out / name)
                print(f"{args.out / name} ({(args.out / name).stat().st_size / 1e3:.0f} kB)")
        finally:
            driver.quit()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
