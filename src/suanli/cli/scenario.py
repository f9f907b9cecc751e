"""``suanli validate`` and ``suanli scenario show|export|list``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from suanli.cli import app
from suanli.cli.console import stdout_console
from suanli.cli.output import OutputFormat, OutputOption, print_json, problem_record
from suanli.config import load_scenario, read_scenario_text
from suanli.config.summary import ScenarioSummary, summarize
from suanli.errors import InputError, Problem, SuanliError
from suanli.model.scenario import Scenario
from suanli.policy.registry import check_policy_params
from suanli.scenarios import DEFAULT, builtin_names

scenario_app = typer.Typer(help="Built-in scenarios: list, show, export.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")

ScenarioArg = Annotated[
    str | None,
    typer.Argument(help=f"A scenario YAML file or a built-in name (default: {DEFAULT})."),
]
NameArg = Annotated[str, typer.Argument(help="A built-in scenario name or a file.")]


@app.command("validate")
def validate_command(
    scenario: ScenarioArg = None, output: OutputOption = OutputFormat.table
) -> None:
    """Load a scenario, check it, and print a summary (or every problem found).

    With ``--output json``: ``{"valid": true, "scenario", "source", "start", "hours",
    "currency", "summary": {…}}`` (exit 0), or ``{"valid": false, "problems": [{"where",
    "line", "field", "what", "hint"}, …]}`` (exit 2)."""
    if output is OutputFormat.table:
        sc = load_scenario(scenario)
        check_policy_params(sc.policy_params, sc.source)
        print_summary(sc, summarize(sc), stdout_console())
        return
    try:
        sc = load_scenario(scenario)
        check_policy_params(sc.policy_params, sc.source)
    except SuanliError as exc:
        problems = (
            exc.problems
            if isinstance(exc, InputError)
            else (Problem(scenario or DEFAULT, "", str(exc)),)
        )
        print_json({"valid": False, "problems": [problem_record(p) for p in problems]})
        raise typer.Exit(2) from None
    print_json(validation_record(sc, summarize(sc)))


def validation_record(sc: Scenario, s: ScenarioSummary) -> dict[str, Any]:
    """What ``suanli validate --output json`` prints for a valid scenario: the numbers of
    the summary tables (``summary``: totals, ``sites``, ``devices_by_type``,
    ``sites_by_type``, generated job ``classes`` with their ``load``, ``offered_load``
    (null without a generator) and ``warnings``)."""
    classes = [{**_fields(c), "load": c.load} for c in s.classes]
    summary = {
        **_fields(s),
        "classes": classes,
        "offered_load": s.offered_load if s.classes else None,
    }
    return {
        "valid": True,
        "scenario": sc.name,
        "source": sc.source,
        "start": sc.start.isoformat(),
        "hours": sc.hours,
        "currency": sc.currency,
        "summary": summary,
    }


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


@scenario_app.command("list")
def list_command() -> None:
    """List the built-in scenarios."""
    for name in builtin_names():
        typer.echo(name)


@scenario_app.command("show")
def show_command(name: NameArg = DEFAULT) -> None:
    """Show a scenario's YAML, highlighted."""
    text, source, _ = read_scenario_text(name)
    console = stdout_console()
    console.print(f"[dim]# {source}[/]")
    console.print(Syntax(text, "yaml", word_wrap=True, theme="ansi_dark"))


@scenario_app.command("export")
def export_command(name: NameArg = DEFAULT) -> None:
    """Write a scenario's YAML to standard output, to edit: ``> my.yaml``."""
    text, _, _ = read_scenario_text(name)
    sys.stdout.write(text)


def print_summary(sc: Scenario, s: ScenarioSummary, console: Console) -> None:
    """Render a scenario summary with rich."""
    console.print(f"[bold green]✓[/] scenario [bold]{sc.name}[/] is valid  [dim]({sc.source})[/]")
    console.print(
        f"horizon {sc.start.isoformat()} + {sc.hours} h · {len(sc.sites)} sites · "
        f"{s.total_devices:,} devices · peak facility power {s.total_peak_mw:,.1f} MW "
        f"(capacity {s.total_capacity_mw:,.1f} MW) · {s.links} links · {s.datasets} data sets · "
        f"{s.tenants} tenants"
    )
    if sc.carbon_price_per_t > 0:
        console.print(
            f"carbon price {sc.carbon_price_per_t:,.4g} {sc.currency} per tonne CO₂e "
            f"[dim]({sc.carbon_price_source or 'no source given'})[/]"
        )
    t = Table(title="Sites", header_style="bold")
    for col in (
        "site",
        "devices",
        "PUE",
        "cap MW",
        "peak MW",
        "idle MW",
        f"{sc.currency}/kWh",
        "kgCO₂/kWh",
        "subsidies",
    ):
        t.add_column(col, justify="left" if col == "site" else "right")
    for x in s.sites:
        t.add_row(
            x.id,
            f"{x.devices:,}",
            f"{x.pue:.2f}",
            f"{x.capacity_mw:,.1f}",
            f"{x.peak_mw:,.1f}",
            f"{x.idle_mw:,.1f}",
            f"{x.mean_price:.3f}",
            f"{x.kg_per_kwh:.3f}",
            str(x.subsidies),
        )
    console.print(t)
    t = Table(title="Pools by accelerator type", header_style="bold")
    for col in ("accelerator", "vendor", "stack", "devices", "sites"):
        t.add_column(col, justify="right" if col == "devices" else "left")
    for acc_id, n in s.devices_by_type.items():
        acc = sc.catalog[acc_id]
        t.add_row(acc_id, acc.vendor, acc.stack, f"{n:,}", ", ".join(s.sites_by_type[acc_id]))
    console.print(t)
    t = Table(title="Tenants", header_style="bold")
    for col in ("tenant", "weight", "priority", "quotas (devices at once)"):
        t.add_column(col)
    for tn in sc.tenants:
        quotas = ", ".join(f"{q.label} ≤ {q.max_devices:,}" for q in tn.quotas) or "–"
        t.add_row(tn.id, f"{tn.weight:g}", str(tn.priority), quotas)
    console.print(t)
    if s.classes:
        t = Table(title="Generated workload (expected)", header_style="bold")
        for col in ("class", "jobs/day", "gang", "hours", "demand", "capacity", "load"):
            t.add_column(col, justify="left" if col == "class" else "right")
        for c in s.classes:
            t.add_row(
                c.name,
                f"{c.jobs_per_day:g}",
                f"{c.mean_gang:.1f}",
                f"{c.mean_hours_on_reference:.2f}",
                f"{c.demand_ref_devices:,.0f}",
                f"{c.capacity_ref_devices:,.0f}",
                f"{c.load:.2f}",
            )
        console.print(t)
        console.print(
            "gang, hours: means on the reference accelerator; demand, capacity: in reference "
            f"devices. Offered load ≈ {s.offered_load:.2f} of the fleet (docs/scenario-format.md)."
        )
    for w in s.warnings:
        console.print(f"[yellow]warning:[/] {w}")
