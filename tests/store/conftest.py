"""Store tests run against SQLite and a real PostgreSQL (``postgres_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from suanli.store.db import Database
from tests.store.helpers import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """The database, migrated."""
    database = Database(db_url)
    yield database
    database.dispose()
