"""Run the Alembic migrations shipped in the package (``suanli/store/migrations``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

from suanli.store.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(db: Database) -> Config:
    """An Alembic configuration for ``db`` (no ``alembic.ini`` needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate ``db`` to ``revision`` (idempotent)."""
    migrate(db, lambda cfg: command.upgrade(cfg, revision))


def downgrade(db: Database, revision: str) -> None:
    """Migrate ``db`` back to ``revision``."""
    migrate(db, lambda cfg: command.downgrade(cfg, revision))


def migrate(db: Database, run: Callable[[Config], None]) -> None:
    """Run an Alembic command on ``db`` in one transaction.

    SQLite changes a table's columns by rebuilding it; with foreign keys on, dropping
    the old table would delete (or refuse) the rows that refer to it. So on SQLite the
    migration runs with foreign keys off, and ``PRAGMA foreign_key_check`` must find no
    broken reference before it commits.
    """
    cfg = alembic_config(db)
    sqlite = db.dialect == "sqlite"
    with db.writer.connect() as conn:
        raw = conn.connection.dbapi_connection
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, or it is ignored
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                run(cfg)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
