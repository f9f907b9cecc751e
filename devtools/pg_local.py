"""A throw-away PostgreSQL server on this host, for tests and development.

:class:`LocalPostgres` runs ``initdb`` and ``postgres`` from the installed PostgreSQL
(Debian: ``/usr/lib/postgresql/<version>/bin``) in a new temporary directory, on a free TCP
port of 127.0.0.1 and a Unix socket in that directory, with ``trust`` authentication and
durability switched off (``fsync=off``) for speed. It creates one database and gives a
SQLAlchemy URL for it (``postgresql+psycopg://suanli@127.0.0.1:<port>/suanli``). Stopping
it ends the server and deletes the directory; :meth:`LocalPostgres.pause` and
:meth:`LocalPostgres.resume` stop and restart the server on the same data and port (an
outage, for tests).

PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` system user
(Debian's ``postgresql`` package creates it), which owns the directory. As any other user it
runs as that user.

Nothing here needs a Python driver: databases are created with ``createdb``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = [
    "PG_URL_ENV",
    "LocalPostgres",
    "LocalPostgresError",
    "find_bindir",
    "unavailable_reason",
]

#: Environment variable naming an existing server for the tests, used instead of a local one.
PG_URL_ENV = "SUANLI_TEST_PG_URL"

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range (32768-60999)
_SERVER_USER = "postgres"
_TAIL_LINES = 25


class LocalPostgresError(RuntimeError):
    """The local PostgreSQL server could not be started, used or stopped."""


def find_bindir() -> Path | None:
    """Directory holding ``initdb``, ``postgres`` and ``pg_isready``, or ``None``.

    Looks at ``$SUANLI_PG_BINDIR``, then the newest ``/usr/lib/postgresql/<version>/bin``
    (Debian's layout), then ``PATH``.
    """
    wanted = ("initdb", "postgres", "pg_isready", "createdb")
    candidates: list[Path] = []
    if env_dir := os.environ.get("SUANLI_PG_BINDIR"):
        candidates.append(Path(env_dir))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.isdigit()]
        candidates.extend(p / "bin" for p in sorted(versions, key=lambda p: -int(p.name)))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for candidate in candidates:
        if all(os.access(candidate / name, os.X_OK) for name in wanted):
            return candidate
    return None


def unavailable_reason() -> str | None:
    """Why a :class:`LocalPostgres` cannot run on this host, or ``None`` when it can."""
    if find_bindir() is None:
        return (
            "PostgreSQL server programs (initdb, postgres) not found "
            "(install them with `sudo scripts/setup-system.sh`, or set SUANLI_PG_BINDIR)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_SERVER_USER)
        except KeyError:
            return f"running as root, but there is no {_SERVER_USER!r} user to run PostgreSQL as"
    return None


def _free_port() -> int:
    rng = random.SystemRandom()
    for _attempt in range(200):
        port = rng.randrange(*_PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise LocalPostgresError(f"no free TCP port found in {_PORT_RANGE}")


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        kept = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"({path}: not readable)"
    return "\n".join(kept) if kept else f"({path}: empty)"


class LocalPostgres:
    """A PostgreSQL server of its own in a temporary directory; a context manager.

    ``base_dir`` is where the temporary directory is made (default: the system's temporary
    directory; as root it must be reachable by the ``postgres`` user, so not below a
    mode-0700 directory). ``user`` is the superuser the URL names, ``database`` the database
    created at start. ``port`` is picked when not given.
    """

    def __init__(
        self,
        *,
        user: str = "suanli",
        database: str = "suanli",
        port: int | None = None,
        base_dir: Path | str | None = None,
        bindir: Path | str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        for label, value in (("user", user), ("database", database)):
            if not _NAME_RE.match(value):
                raise ValueError(f"{label} must match {_NAME_RE.pattern}, not {value!r}")
        self.user = user
        self.database = database
        self.start_timeout = start_timeout
        self._port = port
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self._bindir = Path(bindir) if bindir is not None else None
        self._directory: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ information

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 (known once started)."""
        if self._port is None:
            raise LocalPostgresError("LocalPostgres is not started")
        return self._port

    @property
    def directory(self) -> Path:
        """The temporary directory: ``data/`` (the cluster), ``postgres.log`` and the socket."""
        if self._directory is None:
            raise LocalPostgresError("LocalPostgres is not started")
        return self._directory

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database created at start (driver: psycopg 3)."""
        return self.url_for(self.database)

    @property
    def running(self) -> bool:
        """Whether the server process is running."""
        return self._proc is not None and self._proc.poll() is None

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def dsn_for(self, database: str | None = None) -> str:
        """libpq connection string (for ``psycopg.connect``) of ``database`` (default: ours)."""
        return (
            f"host=127.0.0.1 port={self.port} user={self.user} dbname={database or self.database}"
        )

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Create the cluster, start the server, wait until it accepts connections, create
        the database. On failure everything is cleaned up and :class:`LocalPostgresError`
        is raised with the server log's tail."""
        if self._proc is not None:
            raise LocalPostgresError("LocalPostgres is already started")
        reason = unavailable_reason() if self._bindir is None else None
        if reason is not None:
            raise LocalPostgresError(reason)
        bindir = self._bindir or find_bindir()
        assert bindir is not None  # checked by unavailable_reason
        try:
            self._start(bindir)
        except BaseException:
            self.stop()
            raise

    def create_database(self, name: str) -> str:
        """Create another database on this server and return its SQLAlchemy URL."""
        if not _NAME_RE.match(name):
            raise ValueError(f"database name must match {_NAME_RE.pattern}, not {name!r}")
        bindir = self._bindir or find_bindir()
        if bindir is None:
            raise LocalPostgresError("createdb not found")
        self._createdb(bindir, name)
        return self.url_for(name)

    def pause(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected) but keep its data
        directory and port, so that :meth:`resume` brings the same database back: an
        outage, for tests."""
        if self._directory is None:
            raise LocalPostgresError("LocalPostgres is not started")
        self._terminate()

    def resume(self) -> None:
        """Start the server again after :meth:`pause`, on the same data and port; returns
        once it accepts connections."""
        if self._directory is None:
            raise LocalPostgresError("LocalPostgres is not started")
        if self.running:
            return
        bindir = self._bindir or find_bindir()
        if bindir is None:
            raise LocalPostgresError("postgres not found")
        (self.directory / "data" / "postmaster.pid").unlink(missing_ok=True)
        self._launch(bindir)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue

    def stop(self) -> None:
        """Stop the server (fast shutdown, then harder) and delete the directory. Idempotent."""
        self._terminate()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _start(self, bindir: Path) -> None:
        base = str(self._base_dir) if self._base_dir is not None else None
        directory = Path(tempfile.mkdtemp(prefix="suanli-pg-", dir=base)).absolute()
        self._directory = directory
        as_root = os.geteuid() == 0
        if as_root:
            owner = pwd.getpwnam(_SERVER_USER)
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        data = directory / "data"
        log = directory / "postgres.log"
        env = self._server_env(directory)
        self._server_cmd(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            env,
            timeout=120,
        )
        if self._port is None:
            self._port = _free_port()
        settings = {
            "port": str(self._port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{directory}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "32MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# suanli LocalPostgres\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        if as_root:
            log.touch()
            os.chown(log, owner.pw_uid, owner.pw_gid)
        self._launch(bindir)
        self._createdb(bindir, self.database)

    def _launch(self, bindir: Path) -> None:
        """Start ``postgres`` on the existing cluster and wait until it accepts connections."""
        directory = self.directory
        data = directory / "data"
        log = directory / "postgres.log"
        env = self._server_env(directory)
        uid, gid, groups = self._server_identity()
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=directory,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        self._wait_ready(bindir, log)

    def _wait_ready(self, bindir: Path, log: Path) -> None:
        deadline = time.monotonic() + self.start_timeout
        argv = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise LocalPostgresError(
                    f"postgres exited with status {code} during start-up\n"
                    f"--- last lines of {log} ---\n{_tail(log)}"
                )
            ready = subprocess.run(argv, capture_output=True, timeout=10, check=False)
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise LocalPostgresError(
                    f"postgres not accepting connections after {self.start_timeout:.0f} s\n"
                    f"--- last lines of {log} ---\n{_tail(log)}"
                )
            time.sleep(0.1)

    @staticmethod
    def _server_env(directory: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(directory),
            "LANG": "C",
            "LC_ALL": "C",
            "TZ": "UTC",
        }

    @staticmethod
    def _server_identity() -> tuple[int | None, int | None, list[int] | None]:
        """(uid, gid, supplementary groups) to run server programs as: ``postgres`` as root,
        else unchanged (``None``)."""
        if os.geteuid() != 0:
            return None, None, None
        owner = pwd.getpwnam(_SERVER_USER)
        return owner.pw_uid, owner.pw_gid, []

    def _server_cmd(self, argv: list[str], env: Mapping[str, str], timeout: float) -> None:
        uid, gid, groups = self._server_identity()
        try:
            done = subprocess.run(
                argv,
                env=dict(env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=self._directory,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        except subprocess.TimeoutExpired as err:
            raise LocalPostgresError(f"{argv[0]} timed out after {timeout} s") from err
        if done.returncode != 0:
            raise LocalPostgresError(
                f"{' '.join(argv)} failed (exit {done.returncode}):\n"
                f"{(done.stderr or done.stdout).strip()}"
            )

    def _createdb(self, bindir: Path, name: str) -> None:
        host = ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        self._client([str(bindir / "createdb"), *host, name])

    def _client(self, argv: list[str]) -> None:
        env = dict(os.environ)
        for name in ("PGPASSWORD", "PGSERVICE", "PGSSLMODE", "PGOPTIONS"):
            env.pop(name, None)
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=30, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise LocalPostgresError(f"{argv[0]} timed out after 30 s") from err
        if done.returncode != 0:
            raise LocalPostgresError(
                f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()}"
            )
