"""``suanli serve``: the control plane — REST API, database, live control loop, sites.

Every input is checked before anything is created (:func:`check_inputs`): a bad
scenario, sites file, policy, placement rule, database URL or admin token exits 2 naming
the option, and leaves no database file behind. A submission of a crashed predecessor
still in flight after ``--orphan-wait-seconds`` (an ``sbatch`` that hangs) exits
:data:`EX_TEMPFAIL` (75) with one line saying what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from suanli.cli import app
from suanli.cli.logs import LEVELS, LogFormat, configure_logging
from suanli.config import load_scenario
from suanli.core.sharing import DEFAULT_PLACEMENT, PLACEMENTS, placement_rule
from suanli.errors import InputError, Problem, UnknownNameError
from suanli.model.scenario import Scenario
from suanli.policy.registry import (
    DEFAULT_POLICY,
    DEFAULT_SERVING_POLICY,
    make_policy,
    make_serving_policy,
    policy_names,
)
from suanli.scenarios import DEFAULT

if TYPE_CHECKING:
    from suanli.sites.config import SitesConfig

ADMIN_ENV = "SUANLI_ADMIN_TOKEN"
SOURCE = "suanli serve"
#: Exit status when a crashed predecessor's submission is still in flight (sysexits.h).
EX_TEMPFAIL = 75
log = logging.getLogger("suanli.serve")
T = TypeVar("T")


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            envvar="SUANLI_SCENARIO",
            help=f"Scenario file or built-in name (default {DEFAULT}).",
        ),
    ] = DEFAULT,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SUANLI_DB",
            help="Database: a SQLite file path or URL, or postgresql://… (default suanli.db). "
            "A password here shows in `ps`: prefer $SUANLI_DB or --db-file.",
        ),
    ] = None,
    db_file: Annotated[
        Path | None,
        typer.Option(
            "--db-file",
            envvar="SUANLI_DB_FILE",
            help="File holding the database URL (e.g. a Docker or Kubernetes secret).",
        ),
    ] = None,
    sites: Annotated[
        Path | None,
        typer.Option(
            "--sites",
            envvar="SUANLI_SITES",
            help="Sites file: each site's backend (slurm, dry-run) and settings.",
        ),
    ] = None,
    slurm_config: Annotated[
        Path | None,
        typer.Option(
            "--slurm-config",
            envvar="SUANLI_SLURM_CONFIG",
            help="Deprecated: the old Slurm-only sites file (use --sites).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            envvar="SUANLI_DRY_RUN",
            help="Every site a dry-run site that pretends to run jobs.",
        ),
    ] = False,
    dry_run_s: Annotated[
        float,
        typer.Option(
            "--dry-run-seconds",
            envvar="SUANLI_DRY_RUN_SECONDS",
            help="With --dry-run: how long a job 'runs'.",
        ),
    ] = 1.0,
    host: Annotated[
        str, typer.Option("--host", envvar="SUANLI_HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="SUANLI_PORT", help="Port to listen on.")
    ] = 8000,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            envvar="SUANLI_POLICY",
            help=f"Scheduling policy (default {DEFAULT_POLICY}, suanli's own; docs/scheduler.md).",
        ),
    ] = DEFAULT_POLICY,
    placement: Annotated[
        str,
        typer.Option(
            "--placement",
            envvar="SUANLI_PLACEMENT",
            help=f"Device placement rule: {', '.join(PLACEMENTS)}.",
        ),
    ] = DEFAULT_PLACEMENT,
    serving: Annotated[
        str,
        typer.Option(
            "--serving",
            envvar="SUANLI_SERVING",
            help=f"Serving policy that scales the online inference services (default "
            f"{DEFAULT_SERVING_POLICY}; docs/services.md), or none: no services.",
        ),
    ] = DEFAULT_SERVING_POLICY,
    admin_token_file: Annotated[
        Path | None,
        typer.Option(
            "--admin-token-file",
            envvar="SUANLI_ADMIN_TOKEN_FILE",
            help=f"File holding the admin token (else ${ADMIN_ENV}, the token itself).",
        ),
    ] = None,
    poll_s: Annotated[
        float,
        typer.Option(
            "--poll-seconds",
            envvar="SUANLI_POLL_SECONDS",
            help="How often each site's jobs are listed.",
        ),
    ] = 2.0,
    orphan_wait_s: Annotated[
        float,
        typer.Option(
            "--orphan-wait-seconds",
            envvar="SUANLI_ORPHAN_WAIT_SECONDS",
            help="How long to wait at start-up for submissions (sbatch) a killed server left "
            "running; then exit 75.",
        ),
    ] = 30.0,
    sample_s: Annotated[
        float,
        typer.Option(
            "--sample-seconds",
            envvar="SUANLI_SAMPLE_SECONDS",
            help="How often the dashboard's site samples are taken.",
        ),
    ] = 60.0,
    dashboard_poll_s: Annotated[
        float,
        typer.Option(
            "--dashboard-poll-seconds",
            envvar="SUANLI_DASHBOARD_POLL_SECONDS",
            help="How often the dashboard page refreshes.",
        ),
    ] = 5.0,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            envvar="SUANLI_LOG_LEVEL",
            help=f"Least severe log lines written: {', '.join(LEVELS)}.",
        ),
    ] = "info",
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="SUANLI_LOG_FORMAT",
            case_sensitive=False,
            help="text, or json: one JSON object per line (time, level, logger, message).",
        ),
    ] = LogFormat.text,
) -> None:
    """Run the control plane: API on HOST:PORT, state in DB, jobs dispatched to each site's
    backend (Slurm, Ray, or dry-run); the live dashboard at http://HOST:PORT/ (sign in with an
    API token). Every input is checked before the database is created."""
    import uvicorn

    from suanli.api.app import create_app
    from suanli.api.services import ApiSettings, build_services
    from suanli.control.service import LoopSettings
    from suanli.sites.base import StillInFlight

    if log_level.lower() not in LEVELS:
        raise typer.BadParameter(f"give one of {', '.join(LEVELS)}", param_hint="--log-level")
    for value, name in (
        (poll_s, "--poll-seconds"),
        (orphan_wait_s, "--orphan-wait-seconds"),
        (sample_s, "--sample-seconds"),
        (dashboard_poll_s, "--dashboard-poll-seconds"),
    ):
        if value <= 0:
            raise typer.BadParameter("must be positive", param_hint=name)
    configure_logging(log_format, log_level)
    db = database_url(db, db_file, from_command_line=_from_command_line(ctx, "db"))
    inputs = check_inputs(
        scenario=scenario,
        db=db,
        sites=sites,
        slurm_config=slurm_config,
        dry_run=dry_run,
        dry_run_s=dry_run_s,
        policy=policy,
        placement=placement,
        admin_token_file=admin_token_file,
        serving=serving,
    )
    services = build_services(
        inputs.scenario,
        db,
        inputs.sites,
        policy=policy,
        placement=placement,
        serving=None if serving == "none" else serving,
        admin_token=inputs.admin_token,
        loop=LoopSettings(poll_s=poll_s, sample_s=sample_s, orphan_wait_s=orphan_wait_s),
        settings=ApiSettings(dashboard_poll_s=dashboard_poll_s),
    )
    try:
        services.control.settle_predecessor()
    except StillInFlight as exc:
        log.error("%s (exit %d: try again later)", exc, EX_TEMPFAIL)
        raise typer.Exit(EX_TEMPFAIL) from None
    announce(host, port, policy)
    uvicorn.run(
        create_app(services),
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,  # keep configure_logging's handler, for uvicorn's loggers too
        access_log=False,
        workers=1,
    )


@dataclass(frozen=True, slots=True)
class ServeInputs:
    """What ``suanli serve`` starts from, checked: the scenario, each site's backend and
    the admin token (``None``: the database must hold one already)."""

    scenario: Scenario
    sites: SitesConfig
    admin_token: str | None


def check_inputs(
    *,
    scenario: str,
    db: str,
    sites: Path | None,
    slurm_config: Path | None,
    dry_run: bool,
    dry_run_s: float,
    policy: str,
    placement: str,
    admin_token_file: Path | None,
    serving: str = DEFAULT_SERVING_POLICY,
) -> ServeInputs:
    """Check every input of ``suanli serve`` without creating anything — the scenario, the
    sites file, the policy and its parameters, the placement rule, the database URL, the
    admin token — and raise one :class:`InputError` listing every problem found."""
    from suanli.store.db import check_url

    problems: list[Problem] = []
    backend = _one_backend(sites, slurm_config, dry_run)
    if backend is not None:
        problems.append(backend)
    _collect(problems, "--placement", lambda: placement_rule(placement))
    before = len(problems)
    token = _collect(problems, "--admin-token-file", lambda: _admin_token(admin_token_file))
    token_read = len(problems) == before
    sc = _collect(problems, "--scenario", lambda: load_scenario(scenario))
    site_config = None
    if sc is not None:
        if backend is None:
            site_config = _collect(
                problems, "--sites", lambda: _site_config(sc, sites, slurm_config, dry_run_s)
            )
        _collect(problems, "--policy", lambda: make_policy(policy, sc.policy_params.get(policy)))
        if serving != "none":
            _collect(
                problems,
                "--serving",
                lambda: make_serving_policy(serving, sc.policy_params.get(f"serving/{serving}")),
            )
    elif policy not in policy_names():
        problems.append(_unknown(UnknownNameError("policy", policy, policy_names()), "--policy"))
    url = _collect(problems, "--db", lambda: check_url(db))
    bad_token = _token_problem(token, url[0] if url else None) if token_read else None
    if bad_token is not None:
        problems.append(bad_token)
    if problems:
        raise InputError(problems)
    assert sc is not None and site_config is not None
    return ServeInputs(sc, site_config, token)


DEFAULT_DB = "suanli.db"


def database_url(db: str | None, db_file: Path | None, *, from_command_line: bool) -> str:
    """The database URL: ``--db``/``$SUANLI_DB``, or the content of ``--db-file``/
    ``$SUANLI_DB_FILE`` (not both), else ``suanli.db``. A password given on the command
    line (where ``ps`` shows it) is logged as a warning."""
    if db_file is not None:
        if db is not None:
            raise InputError(
                [
                    Problem(
                        SOURCE,
                        "--db-file",
                        "give one of --db (or $SUANLI_DB) and --db-file (or $SUANLI_DB_FILE)",
                        "see docs/serve.md, 'Security'",
                    )
                ]
            )
        try:
            text = db_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise InputError(
                [Problem(str(db_file), "", f"cannot read: {why}", "--db-file")]
            ) from None
        if not text:
            raise InputError([Problem(str(db_file), "", "empty: no database URL", "--db-file")])
        return text
    if db is None:
        return DEFAULT_DB
    if from_command_line and _has_password(db):
        log.warning(
            "the database password is on the command line, where `ps` shows it: "
            "give the URL in $SUANLI_DB or in a file with --db-file instead"
        )
    return db


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return bool(make_url(url).password)
    except (ArgumentError, ValueError):
        return False


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the parameter ``name`` was given on the command line (not by its variable)."""
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"


def _collect(problems: list[Problem], option: str, check: Callable[[], T]) -> T | None:
    """``check()``'s value; its problems (an unknown name as a problem of ``option``) are
    added to ``problems`` instead."""
    try:
        return check()
    except InputError as exc:
        problems.extend(exc.problems)
    except UnknownNameError as exc:
        problems.append(_unknown(exc, option))
    return None


def _unknown(exc: UnknownNameError, option: str) -> Problem:
    return Problem(SOURCE, option, str(exc), f"see suanli serve --help for {option}")


def _one_backend(sites: Path | None, slurm_config: Path | None, dry_run: bool) -> Problem | None:
    """A problem unless exactly one of --sites, --slurm-config and --dry-run is given."""
    given = [n for n, v in (("--sites", sites), ("--slurm-config", slurm_config)) if v] + (
        ["--dry-run"] if dry_run else []
    )
    if len(given) == 1:
        return None
    return Problem(
        SOURCE,
        "--sites",
        "give one of --sites FILE or --dry-run"
        + (f" (got {' and '.join(given)})" if given else ""),
        "see docs/serve.md, 'The sites file'",
    )


def _site_config(
    sc: Scenario, sites: Path | None, slurm_config: Path | None, dry_run_s: float
) -> SitesConfig:
    """Each site's backend: from the sites file, the old Slurm file, or dry-run."""
    from suanli.sites.config import dry_run_sites, load_sites
    from suanli.sites.slurm.legacy import DEPRECATION, load_slurm_config

    if sites is not None:
        return load_sites(sites, sc)
    if slurm_config is not None:
        typer.echo(f"warning: {DEPRECATION}", err=True)
        return load_slurm_config(slurm_config, sc)
    return dry_run_sites(sc, dry_run_s)


def _admin_token(path: Path | None) -> str | None:
    """The admin token: the file's content, else ``$SUANLI_ADMIN_TOKEN``, else ``None``."""
    if path is None:
        return os.environ.get(ADMIN_ENV) or None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise InputError(
            [Problem(str(path), "", f"cannot read: {exc.strerror or exc}", "--admin-token-file")]
        ) from None


def _token_problem(token: str | None, url: str | None) -> Problem | None:
    """What is wrong with the admin token for the database at ``url`` (``None``: a
    database that cannot be used, so only the token's own rules apply)."""
    from suanli.api.services import admin_token_problem

    maybe_admin = url is None or _may_hold_admin(url)
    return admin_token_problem(token, database_has_admin=maybe_admin)


def _may_hold_admin(url: str) -> bool:
    """Whether the database at ``url`` may hold an admin token already: not a SQLite file
    that does not exist yet (a PostgreSQL database or an existing file is asked when it is
    opened)."""
    from suanli.store.db import sqlite_file

    path = sqlite_file(url)
    return path is None or path.exists()


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` as a browser on this machine reaches it (a wildcard address
    becomes the loopback one)."""
    shown = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def announce(host: str, port: int, policy: str) -> None:
    """Log where the dashboard and the API are (standard error, at ``info``)."""
    url = base_url(host, port)
    log.info("dashboard: %s/ (sign in with an API token)", url)
    log.info("API: %s/v1/ (OpenAPI at %s/docs)", url, url)
    log.info("policy: %s", policy)
