"""The store on SQLite and PostgreSQL: migrations, tenants and tokens, jobs, the ledger."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from suanli.store.db import SQLITE_BUSY_MS, Database, normalise_url
from suanli.store.jobs import JobStore
from suanli.store.ledger import Batch, Ledger
from suanli.store.schema import DispatchState, JobState, Role, api_tokens, metadata
from suanli.store.tenants import TenantExistsError, TenantStore

SPEC = {"kind": "pretrain", "profile": "dl-training", "gang": 1, "work_pflop": 1.0}


def _tenant(db: Database) -> str:
    tid = f"t{secrets.token_hex(3)}"
    TenantStore(db).ensure([(tid, "Tenant", 1.0, 0)], "scenario")
    return tid


def test_migrations_match_the_tables(db: Database) -> None:
    with db.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    again = Database(db.url)  # migrating twice is harmless and keeps the installation id
    assert again.install_id == db.install_id
    again.dispose()


def test_url_normalisation(tmp_path: object) -> None:
    assert normalise_url("x.db").startswith("sqlite:////")
    assert normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("sqlite:///a.db") == "sqlite:///a.db"


def test_tenants_and_tokens(db: Database) -> None:
    ts = TenantStore(db)
    tid = _tenant(db)
    assert ts.ensure([(tid, "Again", 2.0, 1)], "scenario") == 0
    assert ts.get(tid) is not None and ts.get(tid).name == "Tenant"  # type: ignore[union-attr]
    with pytest.raises(TenantExistsError):
        ts.create(tid, "Dup", 1.0, 0)
    token, token_id = ts.issue_token(Role.TENANT, tid, "ci")
    who = ts.authenticate(token)
    assert who is not None and who.tenant_id == tid and not who.is_admin
    assert ts.authenticate(token + "x") is None
    with db.read() as conn:  # only the hash is stored
        stored = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
    assert token not in stored and all(len(h) == 64 for h in stored)
    assert ts.revoke(token_id) and not ts.revoke(token_id)
    assert ts.authenticate(token) is None


def test_jobs_submit_read_cancel(db: Database) -> None:
    js = JobStore(db)
    tid, other = _tenant(db), _tenant(db)
    a, new = js.submit(tid, SPEC, "sleep 1", name="a")
    assert new and a.state == "queued" and a.spec["gang"] == 1
    b, _ = js.submit(tid, SPEC, "sleep 1", client_key="k1")
    b2, new2 = js.submit(tid, SPEC, "sleep 2", client_key="k1")
    assert not new2 and b2.id == b.id and b2.command == "sleep 1"
    c, new3 = js.submit(other, SPEC, "true", client_key="k1")  # keys are per tenant
    assert new3 and c.id != b.id
    assert js.get(a.id, other) is None and js.get(a.id, tid) is not None
    page = js.page(tid, limit=1)
    assert [j.id for j in page] == [b.id]
    assert [j.id for j in js.page(tid, before_id=b.id)] == [a.id]
    assert js.request_cancel(a.id, other) is None
    got = js.request_cancel(a.id, tid)
    assert got is not None and got.cancel_requested and got.state == "queued"
    assert [e.message for e in js.events(a.id)] == ["submitted", "cancel requested"]
    assert js.counts_by_state()["queued"] >= 3


def test_ledger_batches(db: Database) -> None:
    js, led = JobStore(db), Ledger(db)
    tid = _tenant(db)
    j, _ = js.submit(tid, SPEC, "true")
    assert j.id in led.queued_ids()
    b = Batch()
    b.intent(j.id, 1, "east", "east/h100", 8)
    b.update_job(j.id, state=JobState.DISPATCHING.value, attempt=1, site="east")
    b.update_job(j.id, pool="east/h100", devices=8)
    b.event(j.id, "dispatching", "to east")
    b.decision(round=1, policy="fifo", job_id=j.id, action="start", site="east")
    led.write(b)
    got = js.get(j.id)
    assert got is not None and (got.state, got.site, got.devices) == ("dispatching", "east", 8)
    assert [d.state for d in led.dispatches_of(j.id)] == ["intent"]
    b = Batch()
    b.resolve(j.id, 1, DispatchState.SUBMITTED, "42")
    b.update_job(j.id, state="running", external_id="42")
    led.write(b)
    assert led.dispatches_of(j.id)[0].external_id == "42"
    assert j.id in {r.id for r in led.active_jobs()}
    assert js.decisions(tenant_id=tid)[0].action == "start"
    led.write(Batch())  # an empty batch writes nothing


def test_concurrent_submissions(db: Database) -> None:
    js = JobStore(db)
    tid = _tenant(db)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: js.submit(tid, SPEC, f"job {i}")[0].id, range(200)))
    assert len(set(ids)) == 200
    barrier = threading.Barrier(8)

    def same_key(_: int) -> int:
        barrier.wait()
        return js.submit(tid, SPEC, "true", client_key="same")[0].id

    with ThreadPoolExecutor(8) as pool:
        assert len(set(pool.map(same_key, range(8)))) == 1


def test_sqlite_pragmas(tmp_path: object) -> None:
    db = Database(f"{tmp_path}/p.db")
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_MS == 2000
    db.dispose()
