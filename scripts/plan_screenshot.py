#!/usr/bin/env python3
"""Screenshot of the plan comparison page for docs/planning.md (docs/planning/page-compare.png).

Runs ``suanli plan --compare`` (the default four-way comparison, about a minute) — or takes
the folder of an existing comparison with ``--compare`` — opens its ``index.html`` in
headless Chromium (Debian's ``chromium`` and ``chromium-driver``, as in the browser tests),
and saves the top of the page (the plans compared, their charts, the first plan's totals and
map), reduced to 256 colours with ``screenshots.shrink``.

    .venv/bin/python scripts/plan_screenshot.py [--compare DIR] [--out FILE.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from screenshots import crop_to, fit_page  # noqa: E402 (needs scripts/ on the path)
from tests.report.browser import open_report, start_chromium, unavailable_reason  # noqa: E402

#: The parts of the page the picture shows.
PARTS = "header, nav, #comparison, #totals, #sites"


def main() -> int:
    """Make the picture; print where it is, its size and how long the page took to draw."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--compare", type=Path, help="the --out folder of a `suanli plan --compare`")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "planning" / "page-compare.png")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        print(f"plan_screenshot: {reason}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="suanli-plan-shot-"))
    try:
        folder = args.compare
        if folder is None:
            folder = work / "compare"
            suanli = Path(sys.executable).with_name("suanli")
            cmd = [str(suanli), "plan", "--compare", "--out", str(folder), "--no-plots"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        page = folder / "index.html"
        driver = start_chromium(work / "profile", width=1280, height=900)
        try:
            print(f"{page}: drawn in {open_report(driver, page.as_uri()):.2f} s")
            fit_page(driver, 1280)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            crop_to(driver, PARTS, args.out)
            print(f"{args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")
        finally:
            driver.quit()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
