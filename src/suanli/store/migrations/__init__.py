"""Alembic migrations of the control plane's database (run by :mod:`suanli.store.migrate`)."""
