"""A database made by the previous release upgrades, keeps its jobs, and the server carries on.

``tests/fixtures/db-rev0002.sqlite`` was written by suanli at commit 9f3f01a (schema
revision 0002, Slurm-only sites; ``tests/fixtures/make_db_rev0002.py`` made it) and holds
a job in every state: done, failed, cancelled, running, pending, unknown, dispatching and
queued, with integer Slurm ids. The migration turns those ids into external ids (text);
the control plane then takes every unfinished job over. For PostgreSQL the same rows are
copied into a database migrated to revision 0002, then upgraded.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from suanli.store.db import Database, normalise_url
from suanli.store.jobs import JobStore
from suanli.store.ledger import Ledger
from suanli.store.migrate import MIGRATIONS, downgrade
from suanli.store.tenants import TenantStore
from tests.control.helpers import FIXTURES, control, dry, two_sites, wait_for
from tests.store.helpers import fresh_database

OLD = FIXTURES / "db-rev0002.sqlite"
TABLES = ("meta", "tenants", "api_tokens", "jobs", "dispatches", "job_events", "decisions")
BEFORE = {
    1: ("done", "1", "COMPLETED"),
    2: ("failed", None, None),
    3: ("cancelled", None, None),
    4: ("running", "1", "RUNNING"),
    5: ("pending", "2", None),
    6: ("unknown", "1", "RUNNING"),
    7: ("dispatching", None, None),
    8: ("queued", None, None),
}


def _old_rows() -> dict[str, list[dict[str, object]]]:
    con = sqlite3.connect(OLD)
    con.row_factory = sqlite3.Row
    try:
        return {t: [dict(r) for r in con.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in TABLES}
    finally:
        con.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database of revision 0002 holding the fixture's rows."""
    if request.param == "sqlite":
        shutil.copy(OLD, tmp_path / "old.db")
        return str(tmp_path / "old.db")
    url = fresh_database(request.getfixturevalue("postgres_url"))
    engine = create_engine(normalise_url(url))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    with engine.begin() as conn:
        for table, rows in _old_rows().items():
            for row in rows:
                if table == "jobs":
                    row["cancel_requested"] = bool(row["cancel_requested"])
                cols = ", ".join(row)
                conn.execute(
                    text(
                        f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in row)})"
                    ),
                    row,
                )
        for table in ("jobs", "dispatches", "job_events", "decisions", "api_tokens"):
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                     f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
            )  # fmt: skip
    engine.dispose()
    return url


def test_an_old_database_upgrades_and_the_server_carries_on(old_db: str) -> None:
    db = Database(old_db)  # migrates 0002 → head
    js = JobStore(db)
    with db.read() as conn:
        cols = {c["name"] for c in inspect(conn).get_columns("jobs")}
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0005"
    with db.read() as conn:
        tcols = {c["name"] for c in inspect(conn).get_columns("tenants")}
    assert {"max_queued", "submit_rate"} <= tcols
    assert all(t.max_queued is None and t.submit_rate is None for t in TenantStore(db).all())
    assert {"external_id", "site_state", "preemptions"} <= cols and "slurm_job_id" not in cols
    assert "service_id" in cols
    got = {
        i: (r.state, r.external_id, r.site_state) for i in BEFORE if (r := js.get(i)) is not None
    }
    assert got == BEFORE  # every job kept, Slurm ids now text
    assert [d.external_id for d in Ledger(db).dispatches_of(5)] == ["2"]
    assert js.get(8).progress_pflop == 0.0  # type: ignore[union-attr]
    install = db.install_id

    sc = two_sites()
    east, west = dry("east", 0.2), dry("west", 0.2)
    ctl = control(db, sc, {"east": east, "west": west})
    ctl.start()
    try:
        # the dry-run sites know none of the old jobs: those that had reached Slurm are
        # failed ("no longer lists"), the one whose submission was never answered goes back
        # to the queue and runs, the queued one runs; the finished ones stay as they were
        wait_for(lambda: not Ledger(db).active_jobs(), 30, "every job settled")
        after = {i: js.get(i).state for i in BEFORE}  # type: ignore[union-attr]
        assert after == {
            1: "done",
            2: "failed",
            3: "cancelled",
            4: "failed",
            5: "failed",
            6: "failed",
            7: "done",
            8: "done",
        }
        assert "no longer lists job 1" in js.get(4).reason  # type: ignore[union-attr]
        assert [d.state for d in Ledger(db).dispatches_of(7)] == ["lost", "submitted"]
        rec, _ = js.submit("lab", {"kind": "pretrain", "profile": "dl-training", "gang": 1,
                                   "work_pflop": 1.0}, "true")  # fmt: skip
        ctl.submitted(rec)
        wait_for(lambda: js.get(rec.id).state == "done", 30, "a new job runs")  # type: ignore[union-attr]
        assert (js.get(rec.id).external_id or "").startswith("dry-")  # type: ignore[union-attr]
    finally:
        ctl.stop()
    assert db.install_id == install and east.submissions + west.submissions == 3
    db.dispose()


def test_the_migration_goes_back_and_forth(tmp_path: Path) -> None:
    shutil.copy(OLD, tmp_path / "old.db")
    db = Database(str(tmp_path / "old.db"))
    downgrade(db, "0002")
    con = sqlite3.connect(tmp_path / "old.db")
    rows = con.execute("SELECT id, slurm_job_id, slurm_state FROM jobs ORDER BY id").fetchall()
    con.close()
    assert rows[0] == (1, 1, "COMPLETED") and rows[6] == (7, None, None)
    db.dispose()
    again = Database(str(tmp_path / "old.db"))
    assert JobStore(again).get(4).external_id == "1"  # type: ignore[union-attr]
    again.dispose()
