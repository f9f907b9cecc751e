"""``suanli jobs``: submit and follow work on a running ``suanli serve`` (like sbatch,
squeue, scancel; ``sky launch/status/logs/cancel``).

Every command talks to the API at ``--url`` / ``$SUANLI_URL`` with ``--token`` /
``$SUANLI_TOKEN`` (:mod:`suanli.api.client`) and prints a table, or with ``--output json``
the API's own JSON. A job file is checked here first, so that its errors name the line
and field (exit 2), then by the server against its scenario (errors mapped back to lines).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from suanli.api.client import TOKEN_ENV, URL_ENV, ApiCallError, Client
from suanli.api.jobfile import JobFile
from suanli.cli import app
from suanli.cli.output import OutputFormat, OutputOption, print_json
from suanli.config.yaml_lines import load_yaml, read_text
from suanli.errors import InputError, Problem

jobs_app = typer.Typer(
    help="Submit, list, explain, read and cancel jobs on a running suanli serve.",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")

UrlOption = Annotated[
    str | None,
    typer.Option("--url", envvar=URL_ENV, help="The API (default http://127.0.0.1:8000)."),
]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar=TOKEN_ENV, help="An API token.", show_default=False)
]
JobArg = Annotated[int, typer.Argument(help="The job's id.", min=1)]


def client(url: str | None, token: str | None) -> Client:
    """A client of the API (errors of a missing token exit 2)."""
    return Client(url, token)


def console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def read_jobfile(path: Path) -> tuple[JobFile, dict[tuple[str | int, ...], int]]:
    """A job file, checked; :class:`InputError` naming each problem's line and field."""
    data, lines = load_yaml(read_text(path), str(path))
    if not isinstance(data, dict):
        raise InputError(
            [Problem(str(path), "", "a job file is a mapping (version: 1, profile: …)", line=1)]
        )
    try:
        return JobFile.model_validate(data), lines
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(x for x in e["loc"] if not str(x).startswith("function-"))
            problems.append(
                Problem(
                    str(path),
                    ".".join(str(x) for x in loc),
                    str(e["msg"]).removeprefix("Value error, "),
                    "see docs/jobs.md for the job file",
                    _line(lines, loc),
                )
            )
        raise InputError(problems) from None


def _line(lines: dict[tuple[str | int, ...], int], loc: tuple[Any, ...]) -> int | None:
    """The line of the longest prefix of ``loc`` the file has."""
    for n in range(len(loc), -1, -1):
        got = lines.get(tuple(loc[:n]))
        if got is not None:
            return got
    return None


def when(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


@jobs_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="The job file (YAML; docs/jobs.md).")],
    url: UrlOption = None,
    token: TokenOption = None,
    key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Submit at most once with this key.")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Submit the job in FILE."""
    job, lines = read_jobfile(file)
    with client(url, token) as c:
        try:
            out = c.submit(job, key)
        except ApiCallError as exc:
            if exc.status == 422 and exc.field:
                loc = tuple(int(x) if x.isdigit() else x for x in exc.field.split("."))
                raise InputError(
                    [Problem(str(file), exc.field, exc.error, exc.hint or "", _line(lines, loc))]
                ) from None
            raise
    if output is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    typer.echo(f"submitted job {out.id} ({out.name or out.profile}): {out.state.value}")


@jobs_app.command("ls")
def ls(
    url: UrlOption = None,
    token: TokenOption = None,
    state: Annotated[str | None, typer.Option("--state", help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Your jobs, newest first (an admin's: everyone's)."""
    with client(url, token) as c:
        page = c.jobs(state, limit)
    if output is OutputFormat.json:
        print_json(page.model_dump(mode="json"))
        return
    t = Table("id", "name", "tenant", "state", "devices", "site", "submitted", "reason")
    for j in page.jobs:
        where = (
            f"{j.devices or j.gang} × {(j.accepted_types or ['any'])[0] if not j.pool else j.pool}"
        )
        t.add_row(
            str(j.id),
            j.name or j.profile,
            j.tenant,
            j.state.value,
            where,
            j.site or "-",
            when(j.submitted_at),
            j.reason,
        )
    console().print(t)


@jobs_app.command("show")
def show(
    job_id: JobArg,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """One job and its history."""
    with client(url, token) as c:
        job, events = c.job(job_id), c.events(job_id)
    if output is OutputFormat.json:
        print_json(
            {
                "job": job.model_dump(mode="json"),
                "events": [e.model_dump(mode="json") for e in events],
            }
        )
        return
    con = console()
    t = Table(show_header=False, box=None)
    for k, v in job.model_dump(mode="json").items():
        t.add_row(k, "-" if v is None else str(v))
    con.print(t)
    h = Table("at (UTC)", "state", "message", title="history")
    for e in events:
        h.add_row(when(e.at), e.state, e.message)
    con.print(h)


@jobs_app.command("why")
def why(
    job_id: JobArg,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Why a job waits: the policy's reason, its place in the queue, its expected start."""
    with client(url, token) as c:
        w = c.why(job_id)
    if output is OutputFormat.json:
        print_json(w.model_dump(mode="json"))
        return
    typer.echo(f"job {w.job_id}: {w.state.value} — {w.reason} (policy {w.policy})")
    if w.position is not None:
        sites = ", ".join(f"{s} #{n}" for s, n in sorted(w.position.sites.items()))
        typer.echo(
            f"position: #{w.position.queue} in the queue, #{w.position.tenant} in your "
            f"tenant's" + (f"; at {sites}" if sites else "")
        )
    if w.expected_start is not None:
        typer.echo(f"expected start: {when(w.expected_start)} UTC at {w.expected_site}")
    elif w.waiting:
        typer.echo("expected start: unknown (no site it can run at is up)")


@jobs_app.command("logs")
def logs(
    job_id: JobArg,
    url: UrlOption = None,
    token: TokenOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
    tail: Annotated[int, typer.Option("--tail", min=0, help="Bytes from the end (0: all).")] = 64
    * 1024,
) -> None:
    """A job's output (where its site keeps it: Ray, Slurm with a log_dir)."""
    with client(url, token) as c:
        if follow:
            for text in c.follow(job_id, tail):
                sys.stdout.write(text)
                sys.stdout.flush()
            return
        sys.stdout.write(c.logs(job_id, tail).logs)


@jobs_app.command("cancel")
def cancel(
    job_ids: Annotated[list[int], typer.Argument(help="The jobs' ids.", min=1)],
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Cancel jobs: at once while queued, else at their site."""
    with client(url, token) as c:
        done = [c.cancel(j) for j in job_ids]
    if output is OutputFormat.json:
        print_json([j.model_dump(mode="json") for j in done])
        return
    for j in done:
        typer.echo(
            f"job {j.id}: {j.state.value}"
            + (" (cancel requested)" if j.cancel_requested and not j.state.final else "")
        )
