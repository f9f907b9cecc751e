"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The repository root (this file is ``<repo>/tests/conftest.py``).
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder ``<repo>/../shared/data`` (or ``$SUANLI_SHARED_DATA``).

    Tests that read it are skipped, with the path tried, when it is absent.
    """
    override = os.environ.get("SUANLI_SHARED_DATA")
    path = Path(override) if override else REPO_ROOT / ".." / "shared" / "data"
    if not path.is_dir():
        pytest.skip(
            f"shared data folder not found at {path}; "
            "set SUANLI_SHARED_DATA to the folder holding catalog/ and traces/"
        )
    return path.resolve()
