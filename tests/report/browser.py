"""Headless Chromium for the browser tests: Debian's ``chromium`` driven through
``chromium-driver`` by Selenium (no browser or driver is ever downloaded).

:func:`unavailable_reason` says what is missing (run ``sudo scripts/setup-system.sh`` and
``pip install -e '.[dev]'``); :func:`start_chromium` starts a browser with a fresh profile,
background networking off and every host name unresolvable, so a page that tried to fetch
anything from the network would fail visibly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Any

#: Where Debian's packages put the browser and its driver (override with the variables).
CHROMIUM = os.environ.get("SUANLI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SUANLI_CHROMEDRIVER", "/usr/bin/chromedriver")

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            return f"{path} not found (Debian package {package}: sudo scripts/setup-system.sh)"
    return None


def start_chromium(profile: Path, width: int = 1400, height: int = 1000) -> Any:
    """A Selenium WebDriver on headless Chromium with a fresh profile in ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_for(driver: Any, script: str, timeout: float = 60.0) -> Any:
    """Poll ``script`` (a JavaScript expression) until it is truthy; return its value."""
    end = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {script}")
        time.sleep(0.05)


def open_report(driver: Any, url: str, timeout: float = 60.0) -> float:
    """Load the report at ``url``, wait until it has drawn; return the seconds it took.

    Raises ``AssertionError`` with the page's message when the page shows an error.
    """
    start = time.monotonic()
    driver.get(url)
    wait_for(driver, "document.body.dataset.ready || document.body.dataset.error", timeout)
    took = time.monotonic() - start
    error = driver.execute_script("return document.getElementById('error').textContent")
    assert not error, error
    return took


def screenshot(driver: Any, path: Path, full_page: bool = True) -> Path:
    """Save a PNG of the page (the whole page when ``full_page``) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if full_page:
        size = driver.get_window_size()
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(size["width"], height)
        driver.save_screenshot(str(path))
        driver.set_window_size(size["width"], size["height"])
    else:
        driver.save_screenshot(str(path))
    return path


def chromium_version() -> str:
    """The browser's version line (for reports)."""
    import subprocess

    exe = shutil.which(CHROMIUM) or CHROMIUM
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()
