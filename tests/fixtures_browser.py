"""Fixtures of the browser tests (report, dashboard, plan pages): one headless Chromium for
the whole session, and the folder for screenshots."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_infra import infra_missing
from tests.report.browser import start_chromium, unavailable_reason

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium (Selenium WebDriver) shared by the session.

    Skipped with the reason when Chromium, its driver or Selenium are missing, unless
    ``SUANLI_REQUIRE_INFRA=1``, which turns the skip into a failure.
    """
    reason = unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    profile = Path(tempfile.mkdtemp(prefix="suanli-chromium-"))
    driver = start_chromium(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save screenshots: ``$SUANLI_TEST_OUTPUT/browser`` when set,
    else ``<repo>/test-output/browser`` (git-ignored; ``make clean`` removes it)."""
    base = Path(os.environ.get("SUANLI_TEST_OUTPUT", REPO_ROOT / "test-output"))
    path = base / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path
