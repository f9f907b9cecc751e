"""A real throw-away PostgreSQL server: reachable with psycopg and SQLAlchemy, gone after stop."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from devtools.pg_local import PG_URL_ENV, LocalPostgres, unavailable_reason

from tests.fixtures_infra import infra_missing, pg_url_from_env


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) → ``postgresql://...`` (libpq/psycopg)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_url_is_a_sqlalchemy_psycopg_url(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")


def test_psycopg_create_insert_select(postgres_url: str) -> None:
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        conn.execute("DROP TABLE IF EXISTS infra_probe")
        conn.execute("CREATE TABLE infra_probe (id serial PRIMARY KEY, site text, gpus int)")
        conn.execute(
            "INSERT INTO infra_probe (site, gpus) VALUES (%s, %s), (%s, %s)",
            ("gansu", 8, "guizhou", 16),
        )
        rows = conn.execute("SELECT site, gpus FROM infra_probe ORDER BY id").fetchall()
        conn.execute("DROP TABLE infra_probe")
    assert rows == [("gansu", 8), ("guizhou", 16)]


def test_sqlalchemy_engine_connects(postgres_url: str) -> None:
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sqlalchemy.text("SHOW server_version_num")).scalar_one()
    finally:
        engine.dispose()
    assert int(version) >= 150000 or pg_url_from_env() is not None


def test_env_url_takes_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PG_URL_ENV, "postgresql+psycopg://me@db.example:5432/x")
    assert pg_url_from_env() == "postgresql+psycopg://me@db.example:5432/x"
    monkeypatch.setenv(PG_URL_ENV, "")
    assert pg_url_from_env() is None


def test_local_postgres_lifecycle() -> None:
    reason = unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    with LocalPostgres(database="first") as server:
        directory = server.directory
        port = server.port
        assert server.running
        assert server.url == f"postgresql+psycopg://suanli@127.0.0.1:{port}/first"
        assert (directory / f".s.PGSQL.{port}").is_socket()
        other = server.create_database("second")
        with psycopg.connect(libpq_url(other)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("second",)
        with psycopg.connect(server.dsn_for()) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("suanli",)
    assert not server.running
    assert not Path(directory).exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
