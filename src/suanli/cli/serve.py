"""``suanli serve``: the control plane — REST API, database, live control loop, sites."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from suanli.cli import app
from suanli.cli.logs import LEVELS, LogFormat, configure_logging
from suanli.config import load_scenario
from suanli.core.sharing import DEFAULT_PLACEMENT, PLACEMENTS, placement_rule
from suanli.errors import InputError, Problem
from suanli.scenarios import DEFAULT

ADMIN_ENV = "SUANLI_ADMIN_TOKEN"


@app.command("serve")
def serve_command(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            envvar="SUANLI_SCENARIO",
            help=f"Scenario file or built-in name (default {DEFAULT}).",
        ),
    ] = DEFAULT,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="SUANLI_DB",
            help="Database: a SQLite file path or URL, or postgresql://…",
        ),
    ] = "suanli.db",
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
        str, typer.Option("--policy", envvar="SUANLI_POLICY", help="Scheduling policy.")
    ] = "backfill",
    placement: Annotated[
        str,
        typer.Option(
            "--placement",
            envvar="SUANLI_PLACEMENT",
            help=f"Device placement rule: {', '.join(PLACEMENTS)}.",
        ),
    ] = DEFAULT_PLACEMENT,
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
    backend (Slurm, or dry-run); the live dashboard at http://HOST:PORT/ (sign in with an
    API token)."""
    import uvicorn

    from suanli.api.app import create_app
    from suanli.api.services import ApiSettings, build_services
    from suanli.control.service import LoopSettings
    from suanli.sites.config import dry_run_sites, load_sites
    from suanli.sites.slurm.legacy import DEPRECATION, load_slurm_config

    given = [n for n, v in (("--sites", sites), ("--slurm-config", slurm_config)) if v] + (
        ["--dry-run"] if dry_run else []
    )
    if len(given) != 1:
        raise InputError(
            [
                Problem(
                    "suanli serve",
                    "--sites",
                    "give one of --sites FILE or --dry-run"
                    + (f" (got {' and '.join(given)})" if given else ""),
                    "see docs/serve.md, 'The sites file'",
                )
            ]
        )
    placement_rule(placement)
    if log_level.lower() not in LEVELS:
        raise typer.BadParameter(f"give one of {', '.join(LEVELS)}", param_hint="--log-level")
    for value, name in (
        (poll_s, "--poll-seconds"),
        (sample_s, "--sample-seconds"),
        (dashboard_poll_s, "--dashboard-poll-seconds"),
    ):
        if value <= 0:
            raise typer.BadParameter("must be positive", param_hint=name)
    token = os.environ.get(ADMIN_ENV) or None
    if admin_token_file is not None:
        try:
            token = admin_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError([Problem(str(admin_token_file), "", f"cannot read: {exc}")]) from None
    configure_logging(log_format, log_level)
    sc = load_scenario(scenario)
    if sites is not None:
        site_config = load_sites(sites, sc)
    elif slurm_config is not None:
        typer.echo(f"warning: {DEPRECATION}", err=True)
        site_config = load_slurm_config(slurm_config, sc)
    else:
        site_config = dry_run_sites(sc, dry_run_s)
    services = build_services(
        sc,
        db,
        site_config,
        policy=policy,
        placement=placement,
        admin_token=token,
        loop=LoopSettings(poll_s=poll_s, sample_s=sample_s),
        settings=ApiSettings(dashboard_poll_s=dashboard_poll_s),
    )
    uvicorn.run(
        create_app(services),
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,  # keep configure_logging's handler, for uvicorn's loggers too
        access_log=False,
        workers=1,
    )
