"""Run the Alembic migrations shipped in the package (``suanli/store/migrations``)."""

from __future__ import annotations

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
    cfg = alembic_config(db)
    with db.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
