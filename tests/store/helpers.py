"""A fresh PostgreSQL database per test, on the server the tests were given."""

from __future__ import annotations

import secrets

import psycopg
from sqlalchemy.engine import make_url


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
