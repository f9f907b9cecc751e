#!/usr/bin/env python3
"""Screenshots of the live dashboard for the README (docs/img/dashboard-*.png).

Starts ``suanli serve --dry-run`` on the built-in national scenario (a temporary SQLite
database; in-memory sites whose jobs "run" ``--run-seconds``), gives each of its tenants a
token, submits a mix of work from all of them for ``--minutes`` while the loop samples the
sites every 2 s, then opens the dashboard in headless Chromium (as the browser tests do),
signs in with the admin token, opens one job's page and saves one picture per part.

    .venv/bin/python scripts/dashboard_screenshots.py [--minutes 2] [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.screenshots import crop_to, fit_page  # noqa: E402 (needs the repository on the path)
from tests.report.browser import start_chromium, unavailable_reason, wait_for  # noqa: E402

ADMIN = "dashboard-screenshot-admin-0123456789"
PARTS = {
    "dashboard-summary-queues.png": "#summary, #queues-section",
    "dashboard-sites.png": "#sites, #over-time",
    "dashboard-decisions.png": "#decisions-section",
    "dashboard-jobs.png": "#jobs",
}
#: (tenant, profile, gangs to draw from, share of the submissions)
MIX = (
    ("frontier-lab", "llm-finetune", (64, 128, 256), 0.2),
    ("internet-platform", "llm-batch-inference", (8, 16, 32), 0.35),
    ("video-studio", "video-generation", (8, 16), 0.25),
    ("universities", "dl-training", (1, 2, 4, 8), 0.2),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--run-seconds", type=float, default=45.0)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        sys.exit(f"cannot take screenshots: {reason}")
    tmp = Path(tempfile.mkdtemp(prefix="suanli-dash-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable, "-m", "suanli", "serve", "--dry-run",
        "--dry-run-seconds", str(args.run_seconds), "--db", str(tmp / "dash.db"),
        "--port", str(port), "--policy", "suanli", "--sample-seconds", "2",
        "--dashboard-poll-seconds", "2", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "SUANLI_ADMIN_TOKEN": ADMIN}
    proc = subprocess.Popen(argv, env=env, stdout=(tmp / "serve.log").open("wb"))
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        tokens = {
            t: httpx.post(f"{url}/v1/tenants/{t}/tokens", json={}, headers=admin).json()["token"]
            for t, *_ in MIX
        }
        rng = np.random.default_rng(2026)
        shares = np.array([m[3] for m in MIX])
        end = time.monotonic() + 60 * args.minutes
        n = 0
        while time.monotonic() < end:
            tenant, profile, gangs, _ = MIX[rng.choice(len(MIX), p=shares / shares.sum())]
            job = {
                "profile": profile,
                "name": f"{profile}-{n}",
                "gang": int(rng.choice(gangs)),
                "hours_on_reference": float(rng.lognormal(0.0, 1.0)),
                "command": "sleep 30",
            }
            httpx.post(
                url + "/v1/jobs", json=job, headers={"Authorization": f"Bearer {tokens[tenant]}"}
            ).raise_for_status()
            n += 1
            time.sleep(float(rng.exponential(0.6)))
        print(f"submitted {n} jobs")
        profile = tmp / "chromium"
        driver = start_chromium(profile, width=1500, height=1100)
        try:
            driver.get(url + "/")
            wait_for(driver, "document.body.dataset.login === '1'")
            driver.find_element("id", "login-token").send_keys(ADMIN)
            driver.find_element("id", "login-open").click()
            wait_for(driver, "document.body.dataset.ready === '1'")
            driver.execute_script("document.querySelector('#jobs-table tbody tr').click()")
            wait_for(driver, "document.getElementById('job-detail').dataset.loaded === '1'")
            fit_page(driver, 1500, settle_s=1.0)
            args.out.mkdir(parents=True, exist_ok=True)
            for name, selectors in PARTS.items():
                path = args.out / name
                crop_to(driver, selectors, path)
                print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
        finally:
            driver.quit()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
