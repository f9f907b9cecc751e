"""Fixtures of the trace tests: the folder of hand-written source files."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """``tests/trace/fixtures``: small files in each source format."""
    return FIXTURES
