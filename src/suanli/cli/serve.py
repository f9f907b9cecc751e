"""``suanli serve``: the control plane — REST API, database, live control loop, Slurm sites."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from suanli.cli import app
from suanli.config import load_scenario
from suanli.errors import InputError, Problem
from suanli.scenarios import DEFAULT

ADMIN_ENV = "SUANLI_ADMIN_TOKEN"


@app.command("serve")
def serve_command(
    scenario: Annotated[
        str, typer.Option("--scenario", help=f"Scenario file or built-in name (default {DEFAULT}).")
    ] = DEFAULT,
    db: Annotated[
        str,
        typer.Option("--db", help="Database: a SQLite file path or URL, or postgresql://…"),
    ] = "suanli.db",
    slurm_config: Annotated[
        Path | None,
        typer.Option("--slurm-config", help="YAML mapping each site to its Slurm cluster."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="No Slurm: sites that pretend to run jobs.")
    ] = False,
    dry_run_s: Annotated[
        float, typer.Option("--dry-run-seconds", help="With --dry-run: how long a job 'runs'.")
    ] = 1.0,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    policy: Annotated[str, typer.Option("--policy", help="Scheduling policy.")] = "backfill",
    admin_token_file: Annotated[
        Path | None,
        typer.Option(
            "--admin-token-file", help=f"File holding the admin token (else ${ADMIN_ENV})."
        ),
    ] = None,
    poll_s: Annotated[
        float, typer.Option("--poll-seconds", help="How often each site's jobs are listed.")
    ] = 2.0,
    sample_s: Annotated[
        float,
        typer.Option("--sample-seconds", help="How often the dashboard's site samples are taken."),
    ] = 60.0,
    dashboard_poll_s: Annotated[
        float,
        typer.Option("--dashboard-poll-seconds", help="How often the dashboard page refreshes."),
    ] = 5.0,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning…")] = "info",
) -> None:
    """Run the control plane: API on HOST:PORT, state in DB, jobs dispatched to Slurm;
    the live dashboard at http://HOST:PORT/ (sign in with an API token)."""
    import uvicorn

    from suanli.api.app import create_app
    from suanli.api.services import ApiSettings, build_services
    from suanli.control.service import LoopSettings
    from suanli.executor.slurm_config import load_slurm_config

    if (slurm_config is None) == (not dry_run):
        raise InputError(
            [
                Problem(
                    "suanli serve",
                    "--slurm-config",
                    "give --slurm-config FILE or --dry-run",
                    "see docs/serve.md for the file's format",
                )
            ]
        )
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
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sc = load_scenario(scenario)
    slurm = load_slurm_config(slurm_config, sc) if slurm_config is not None else None
    services = build_services(
        sc,
        db,
        slurm=slurm,
        dry_run_s=dry_run_s,
        policy=policy,
        admin_token=token,
        loop=LoopSettings(poll_s=poll_s, sample_s=sample_s),
        settings=ApiSettings(dashboard_poll_s=dashboard_poll_s),
    )
    uvicorn.run(
        create_app(services),
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        workers=1,
    )
