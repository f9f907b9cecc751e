"""The ``suanli`` command.

Each sub-command lives in its own module and registers itself on :data:`app`.
User errors (:class:`suanli.errors.SuanliError`) are printed without a traceback
and exit with status 2; so do bad options (typer/click usage errors).
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from suanli.errors import InputError, SuanliError

app = typer.Typer(
    name="suanli",
    help="Coordinate AI work across a network of data centres: schedule, simulate, plan, operate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False)


def report_error(exc: SuanliError) -> None:
    """Print a user error to stderr."""
    if isinstance(exc, InputError):
        n = len(exc.problems)
        err_console.print(f"[bold red]error:[/] {n} problem{'s' if n != 1 else ''} found")
        for p in exc.problems:
            err_console.print(f"  • {p}", markup=False)
    else:
        err_console.print(f"[bold red]error:[/] {exc}")


def main() -> None:
    """Entry point of the ``suanli`` console script."""
    from suanli.cli import catalog, plan, scenario, serve, simulate, sweep, trace  # noqa: F401

    try:
        app(standalone_mode=True)
    except SuanliError as exc:
        report_error(exc)
        sys.exit(2)
