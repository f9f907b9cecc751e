"""Opening the control plane's database: SQLite (default) or PostgreSQL, migrated.

``Database(url)`` normalises the URL (a plain path means a SQLite file;
``postgresql://`` uses psycopg 3), creates engines and runs the Alembic
migrations to the newest revision. SQLite runs in WAL mode with a short busy timeout
(:data:`SQLITE_BUSY_MS`: a database locked by another process fails fast, and the API
answers 503); its write transactions start with ``BEGIN IMMEDIATE`` (on a separate engine)
so that concurrent writers queue on the lock instead of failing, while reads use
plain deferred transactions and never block writers. PostgreSQL connections are pinged
when taken from the pool (``pool_pre_ping``), so that the pool recovers by itself once a
database that went away is back; connecting gives up after :data:`PG_CONNECT_TIMEOUT_S`.

:func:`unavailable` tells an error of a database that is down, locked or unreachable
(answered 503 with ``Retry-After``) from other errors; :meth:`Database.check_writable`
is the readiness probe (``GET /ready``).

The database also remembers an *installation id*, a random token created once: it
goes into the comment of every Slurm job this installation submits, so that
reconciliation never mistakes another installation's jobs for its own.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from suanli.errors import InputError, Problem
from suanli.store.schema import meta

#: SQLite waits this long for a lock held by another process before giving up (ms).
SQLITE_BUSY_MS = 2_000
#: Seconds a SQLite writer waits for the writers of its own process before giving up.
WRITE_QUEUE_S = 10.0
#: Seconds to wait for a PostgreSQL connection (libpq ``connect_timeout``).
PG_CONNECT_TIMEOUT_S = 5
#: Seconds to wait for a free connection of the pool.
POOL_TIMEOUT_S = 10.0


def unavailable(exc: BaseException) -> str | None:
    """Why the database cannot be used now, when ``exc`` says so (down, unreachable,
    restarting, locked, out of pooled connections); ``None`` for any other error (a
    constraint, a bug). The answer is one line, without credentials."""
    if isinstance(exc, PoolTimeoutError):
        return "no free database connection (pool exhausted)"
    if not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError | ProgrammingError):
        return None
    if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
        return None
    detail = str(exc.orig).strip().splitlines() if exc.orig is not None else []
    first = detail[0] if detail else type(exc).__name__
    if "locked" in first or "busy" in first:
        return f"database is locked ({first})"
    return f"database unavailable ({first[:200]})"


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL for ``url``: paths become SQLite files, PostgreSQL uses psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().absolute()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def check_url(url: str) -> tuple[str, str]:
    """The normalised URL of ``url`` and its dialect (``sqlite`` or ``postgresql``), without
    opening anything; :class:`InputError` naming ``--db`` when it cannot be used (not a URL,
    another database, in-memory SQLite, a SQLite file in a directory that does not exist)."""
    norm = normalise_url(url)
    try:
        parsed = make_url(norm)
    except ArgumentError as exc:
        raise InputError(
            [Problem("--db", "", f"not a database URL: {url!r} ({exc})", _URL_HINT)]
        ) from None
    dialect = parsed.get_backend_name()
    if dialect not in ("sqlite", "postgresql"):
        raise InputError([Problem("--db", "", f"unsupported database {dialect!r}", _URL_HINT)])
    if dialect == "sqlite":
        path = sqlite_file(norm)
        if path is None:
            raise InputError([Problem("--db", "", "in-memory SQLite is not supported", _URL_HINT)])
        if not path.parent.is_dir():
            raise InputError(
                [Problem("--db", "", f"no directory {path.parent} for the database", _URL_HINT)]
            )
    return norm, dialect


def sqlite_file(url: str) -> Path | None:
    """The file of a (normalised) SQLite URL; ``None`` for an in-memory database or
    another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if not name or ":memory:" in name or parsed.query.get("mode") == "memory":
        return None
    return Path(name)


class Database:
    """Engines for one database, migrated on open; see the module docstring."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = 8) -> None:
        self.url, self.dialect = check_url(url)
        self._write_lock: threading.Lock | None = None
        if self.dialect == "sqlite":
            self._write_lock = threading.Lock()
            self.reader = _sqlite_engine(self.url, immediate=False, pool_size=pool_size)
            self.writer = _sqlite_engine(self.url, immediate=True, pool_size=pool_size)
        else:
            # pre-ping: a round trip per checkout, but a pool that outlives a restart
            self.reader = self.writer = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                pool_recycle=600,
                pool_pre_ping=True,
                pool_timeout=POOL_TIMEOUT_S,
                connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
            )
        if migrate:
            from suanli.store.migrate import upgrade

            upgrade(self)
        self.install_id = self._install_id()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (committed on success, rolled back on error).

        On SQLite the writers of this process queue on a lock first: a thread waiting
        there wakes as soon as the lock is free, where SQLite's busy handler would sleep
        in steps of up to 100 ms (the tail of submission latency). Writers in other
        processes still meet the busy timeout. A writer that waits here longer than
        :data:`WRITE_QUEUE_S` gets ``database is locked`` (503 in the API).
        """
        if self._write_lock is None:
            with self.writer.begin() as conn:
                yield conn
            return
        if not self._write_lock.acquire(timeout=WRITE_QUEUE_S):
            raise OperationalError(
                "BEGIN IMMEDIATE",
                None,
                sqlite3.OperationalError(
                    f"database is locked (this process's writers queued over {WRITE_QUEUE_S} s)"
                ),
            )
        try:
            with self.writer.begin() as conn:
                yield conn
        finally:
            self._write_lock.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self.reader.connect() as conn:
            yield conn

    def check_writable(self) -> None:
        """Raise unless a write transaction can be made now: the readiness probe.

        It takes the write lock (SQLite: ``BEGIN IMMEDIATE``, so a database locked by
        another process fails after the busy timeout) and rewrites one row of ``meta``
        with its own value (PostgreSQL: a real write, so a read-only standby or a full
        disk fails too), then commits.
        """
        with self.write() as conn:
            conn.execute(update(meta).where(meta.c.key == "install_id").values(value=meta.c.value))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.reader.dispose()
        self.writer.dispose()

    def _install_id(self) -> str:
        with self.read() as conn:
            got = conn.execute(select(meta.c.value).where(meta.c.key == "install_id")).scalar()
        if got is not None:
            return str(got)
        new = secrets.token_hex(4)
        try:
            with self.write() as conn:
                conn.execute(insert(meta).values(key="install_id", value=new))
                conn.execute(insert(meta).values(key="created_at", value=repr(time.time())))
        except IntegrityError:
            pass  # another process won the race
        with self.read() as conn:
            return str(
                conn.execute(select(meta.c.value).where(meta.c.key == "install_id")).scalar()
            )


_URL_HINT = "give a SQLite file path (suanli.db), sqlite:///PATH, or postgresql://USER@HOST:PORT/DB"


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> Engine:
    """A SQLite engine: WAL, busy timeout, foreign keys; BEGIN IMMEDIATE when ``immediate``."""
    timeout_s = SQLITE_BUSY_MS / 1000.0
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": timeout_s}}
    kwargs["pool_timeout"] = POOL_TIMEOUT_S
    kwargs["pool_size"] = pool_size
    kwargs["max_overflow"] = pool_size * 2
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
