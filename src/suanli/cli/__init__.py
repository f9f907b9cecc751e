"""The ``suanli`` command.

Each sub-command lives in its own module and registers itself on :data:`app`.
User errors (:class:`suanli.errors.SuanliError`) are printed without a traceback
and exit with status 2; so do bad options (typer/click usage errors).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
import typer.core
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


def suanli_version() -> str:
    """The installed version of the ``suanli`` distribution."""
    try:
        return version("suanli")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"suanli {suanli_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print suanli's version and exit.",
        ),
    ] = False,
) -> None:
    pass


def _flags_without_type() -> None:
    """Typer's rich help labels on/off flags ``<bool>`` though they take no value (its
    plain help does not); show no type for them, as for ``--help``."""
    option = typer.core.TyperOption
    shown = getattr(option, "display_type_rich", None)
    if shown is None:  # other typer versions: nothing to fix
        return

    def display_type_rich(self: typer.core.TyperOption, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return shown(self, ctx)  # type: ignore[no-any-return]

    option.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_type()


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
    from suanli.cli import (  # noqa: F401
        admin,
        catalog,
        jobs,
        plan,
        scenario,
        serve,
        simulate,
        sweep,
        trace,
    )

    try:
        app(standalone_mode=True)
    except SuanliError as exc:
        report_error(exc)
        sys.exit(2)
