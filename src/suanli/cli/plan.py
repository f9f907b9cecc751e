"""``suanli plan``: which accelerators to buy and where, and a comparison of rule sets."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from suanli.cli import app, err_console
from suanli.cli.console import progress_bar, stdout_console
from suanli.cli.numbers import MASS_UNITS, in_unit, pick_unit, quantity
from suanli.cli.output import OutputFormat, OutputOption, print_json
from suanli.errors import SuanliError
from suanli.plan import fmt
from suanli.plan.compare import comparison_rows, write_comparison
from suanli.plan.explain import PlanInfeasibleError
from suanli.plan.load import DEFAULT_COMPARISON, DEFAULT_PLANNING, builtin_planning_names
from suanli.plan.output import clean, plan_record
from suanli.plan.run import PlanRun, inputs_record, parse_horizon, run_plan, write_outputs
from suanli.plan.solve import SolveOptions
from suanli.plan.summary import binding, cell, comparison_lines


class Objective(StrEnum):
    """What the plan optimises."""

    min_cost = "min-cost"
    max_compute = "max-compute"


@app.command("plan")
def plan_command(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="A scenario (file or built-in name; default: the planning file's), or with "
            "--compare the planning files to compare (default: the built-in four-way demo).",
            show_default=False,
        ),
    ] = None,
    demand: Annotated[
        str | None,
        typer.Option(
            "--demand",
            help="Planning file: demand classes and rules (YAML), or a built-in name "
            f"({', '.join(builtin_planning_names())}). Default: {DEFAULT_PLANNING}.",
        ),
    ] = None,
    objective: Annotated[
        Objective | None,
        typer.Option("--objective", help="min-cost or max-compute (default: the file's)."),
    ] = None,
    horizon: Annotated[
        str | None, typer.Option("--horizon", help="Planning horizon, e.g. 3y or 36m.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for plan.json, plan.csv, plan-scenario.yaml, plots and the page "
            "index.html.",
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Solve several planning files and compare them.")
    ] = False,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario for every plan of --compare.")
    ] = None,
    exact: Annotated[
        int,
        typer.Option("--exact", min=0, help="Binding constraints to re-solve exactly for prices."),
    ] = 3,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=1.0, help="Seconds per MILP solve.")
    ] = 120.0,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Plan purchases under budget, power, export caps, tariffs and domestic supply.

    With ``--output json``, standard output holds one document: the plan as in
    ``plan.json`` (its inputs under ``inputs``), with ``written`` (``dir``, ``files``; null
    without ``--out``); with ``--compare``, ``comparison`` (one row per plan, as in
    ``compare.json``), ``plans`` (each as in ``plan.json``), ``infeasible`` (``planning``,
    ``problem``) and ``written``."""
    as_json = output is OutputFormat.json
    console = stdout_console()
    options = SolveOptions(time_limit_s=time_limit, exact_shadow=exact)
    years = parse_horizon(horizon) if horizon else None
    obj = objective.value if objective else None
    if compare:
        runs, infeasible = solve_all(
            args or list(DEFAULT_COMPARISON), scenario, obj, years, options
        )
        if not runs:
            raise SuanliError("none of the plans to compare is feasible")
        paths = _write_comparison(runs, out, plots)
        if as_json:
            print_json(
                {
                    "comparison": clean(comparison_rows(runs)),
                    "plans": [plan_record(r.plan, inputs_record(r)) for r in runs],
                    "infeasible": infeasible,
                    "written": _written(out, paths),
                }
            )
            return
        print_comparison(runs, console)
        if out is not None and paths is not None:
            console.print(f"wrote {len(paths)} files to {out}; open {out / 'index.html'}")
        return
    if args and len(args) > 1:
        raise typer.BadParameter("give at most one scenario (or use --compare)")
    with err_console.status("planning") as status:
        run = run_plan(
            demand,
            (args[0] if args else None) or scenario,
            objective=obj,
            horizon_years=years,
            options=options,
            stage=status.update,
        )
        if out is not None:
            status.update(f"writing to {out}")
        paths = write_outputs(run, out, plots=plots) if out is not None else None
    if as_json:
        print_json({**plan_record(run.plan, inputs_record(run)), "written": _written(out, paths)})
        return
    print_plan(run, console)
    if out is not None and paths is not None:
        console.print(f"wrote {', '.join(p.name for p in paths)} to {out}")


def solve_all(
    files: Sequence[str],
    scenario: str | None,
    objective: str | None,
    years: float | None,
    options: SolveOptions,
) -> tuple[list[PlanRun], list[dict[str, str]]]:
    """Solve each planning file, a step of a progress line on standard error each; the
    plans, and the files whose plan is infeasible with the reason."""
    runs: list[PlanRun] = []
    infeasible: list[dict[str, str]] = []
    with progress_bar() as progress:
        task = progress.add_task("plans", total=len(files))
        for f in files:

            def stage(what: str, f: str = f) -> None:
                progress.update(task, description=f"{f}: {what}", refresh=True)

            try:
                runs.append(
                    run_plan(
                        f,
                        scenario,
                        objective=objective,
                        horizon_years=years,
                        options=options,
                        stage=stage,
                    )
                )
            except PlanInfeasibleError as exc:
                err_console.print(f"[yellow]{f}:[/] {exc}", highlight=False)
                infeasible.append({"planning": str(f), "problem": str(exc)})
            progress.advance(task)
        progress.update(task, description="plans")
    return runs, infeasible


def _write_comparison(runs: list[PlanRun], out: Path | None, plots: bool) -> list[Path] | None:
    """Write the comparison into ``out`` (if given), with a spinner on standard error."""
    if out is None:
        return None
    with err_console.status(f"writing the comparison to {out}"):
        return write_comparison(runs, out, plots=plots)


def _written(out: Path | None, paths: list[Path] | None) -> dict[str, Any] | None:
    """The folder and files (relative to it, sorted) a plan was written to."""
    if out is None or paths is None:
        return None
    return {"dir": str(out), "files": sorted(p.relative_to(out).as_posix() for p in paths)}


def print_plan(run: PlanRun, console: Console) -> None:
    """The plan table, classes, totals and binding constraints."""
    plan, cur = run.plan, run.plan.currency
    t = plan.totals
    console.print(
        f"[bold]plan {plan.name}[/] over {plan.scenario} · {plan.objective} · "
        f"{fmt.years(plan.horizon_years)} · {plan.status} (gap {plan.mip_gap or 0:.1e}) · "
        f"{plan.model_size[0]:,} rows × {plan.model_size[1]:,} columns "
        f"({plan.model_size[2]:,} integer) · solved in {plan.solve_seconds:.2f} s"
    )
    table = Table(title="Purchases (site × accelerator)", header_style="bold")
    for col in (
        "site",
        "accelerator",
        "vendor",
        "in place",
        "added",
        "retired",
        "capex",
        "energy cost",
        "peak MW",
    ):
        table.add_column(
            col, justify="left" if col in ("site", "accelerator", "vendor") else "right"
        )
    for p in plan.pools:
        if not (p.added or p.retired):
            continue
        table.add_row(
            p.site,
            p.accelerator,
            p.vendor,
            f"{p.existing:,}",
            f"{p.added:,}",
            f"{p.retired:,}",
            fmt.money(p.capex, cur),
            fmt.money(p.energy_cost, cur),
            f"{p.peak_mw:.2f}",
        )
    console.print(table)
    carbon = pick_unit([s.carbon_t for s in plan.sites], MASS_UNITS)
    sites = Table(title="Sites after the plan", header_style="bold")
    for col in (
        "site",
        "devices",
        "added",
        "capacity MW",
        "+expansion",
        "peak MW",
        "avg MW",
        "green share",
        f"carbon {carbon[0]}",
    ):
        sites.add_column(col, justify="left" if col == "site" else "right")
    for s in plan.sites:
        sites.add_row(
            s.site,
            f"{s.devices:,}",
            f"{s.added:,}",
            f"{s.capacity_mw:.1f}",
            f"{s.expansion_mw:.1f}",
            f"{s.peak_mw:.1f}",
            f"{s.average_mw:.1f}",
            f"{s.green_mwh / s.energy_mwh:.0%}" if s.energy_mwh else "–",
            in_unit(s.carbon_t, carbon),
        )
    console.print(sites)
    classes = Table(title="Demand classes (PFLOP/s sustained)", header_style="bold")
    for col in ("class", "demand", "delivered", f"{cur} per extra PFLOP/s", "mostly on"):
        classes.add_column(col, justify="left" if col in ("class", "mostly on") else "right")
    marginal = {sp.key: sp.marginal for sp in plan.shadow_prices if sp.family == "demand"}
    for c in plan.classes:
        on: dict[str, float] = {}
        for _, acc, dev in c.devices:
            on[acc] = on.get(acc, 0.0) + dev
        top = sorted(on, key=lambda a: -on[a])[:3]
        classes.add_row(
            c.name,
            fmt.number(c.demand_pflops),
            fmt.number(c.delivered_pflops),
            fmt.money(marginal[c.name], cur) if c.name in marginal else "–",
            ", ".join(f"{a} ×{on[a]:,.0f}" for a in top),
        )
    console.print(classes)
    console.print(
        f"[bold]total cost[/] {fmt.money(t.total_cost, cur)} = capex {fmt.money(t.capex, cur)} "
        f"(devices {fmt.money(t.capex_devices, cur)}, expansion {fmt.money(t.capex_expansion, cur)}"
        f" for {t.expansion_mw:,.1f} MW) + opex {fmt.money(t.opex, cur)} · "
        f"{t.new_devices:,} new devices ({plan.domestic_share_added:.0%} domestic) · "
        f"carbon {quantity(t.carbon_t, MASS_UNITS)} CO₂"
    )
    constraints = binding(plan)
    if constraints:
        console.print("[bold]Binding constraints and what relaxing them is worth[/]")
        for sp in constraints:
            console.print(f"  • {sp.sentence}", markup=False)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}")


def print_comparison(runs: list[PlanRun], console: Console) -> None:
    """Plans side by side."""
    rows = comparison_rows(runs)
    cur = runs[0].plan.currency if runs else ""
    table = Table(title="Plans compared", header_style="bold")
    table.add_column("", justify="left")
    for r in rows:
        table.add_column(str(r["plan"]), justify="right")
    for label, key, kind in comparison_lines(rows[0]):
        table.add_row(label, *(cell(r.get(key, 0), kind, cur) for r in rows))
    console.print(table)
    for run in runs:
        console.print(f"[bold]{run.plan.name}[/] (solved in {run.plan.solve_seconds:.2f} s)")
        for sp in binding(run.plan)[:4]:
            console.print(f"  • {sp.sentence}", markup=False)
