"""Store tests run against SQLite and a real PostgreSQL (``postgres_url``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from suanli.store.db import Database


def fresh_database(url: str) -> str:
    """A new empty database on the server of ``url`` (or ``url`` itself if not allowed)."""
    u = make_url(url)
    name = f"suanli_t_{secrets.token_hex(4)}"
    conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return url
    return u.set(database=name).render_as_string(hide_password=False)


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
