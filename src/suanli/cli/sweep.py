"""``suanli sweep``: policies × seeds × loads on all cores (or a Ray cluster); JCT, cost and
carbon against load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from suanli.cli import app
from suanli.cli.console import progress_bar, stdout_console
from suanli.cli.numbers import MASS_UNITS, in_unit, pick_unit, shown
from suanli.core.sharing import DEFAULT_PLACEMENT, PLACEMENTS
from suanli.experiment.run import DEFAULT_POLICIES
from suanli.experiment.sweep import run_sweep
from suanli.report.sweep import write_sweep
from suanli.scenarios import DEFAULT


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            "give comma-separated numbers, e.g. 0.5,0.75,1.0", param_hint=what
        ) from None
    if not values or any(v <= 0 for v in values):
        raise typer.BadParameter("give positive numbers", param_hint=what)
    return values


@app.command("sweep")
def sweep_command(
    scenario: Annotated[str | None, typer.Argument(help=f"Scenario (default {DEFAULT}).")] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", "-p", help="Policy (repeat; default: baselines + suanli)."),
    ] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "1,2,3",
    loads: Annotated[
        str, typer.Option("--loads", help="Offered loads, comma-separated.")
    ] = "0.5,0.75,1.0",
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Sweep a trace replay instead.")
    ] = None,
    fleet: Annotated[str, typer.Option("--fleet", help="With --trace: the fleet.")] = "own",
    workers: Annotated[
        int | None, typer.Option("--workers", help="Processes (default: all cores).")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Run the cases as tasks on this Ray cluster (auto, or its address) "
            "instead of this machine's cores.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out/sweep"),
    placement: Annotated[
        str,
        typer.Option("--placement", help=f"Device placement rule: {', '.join(PLACEMENTS)}."),
    ] = DEFAULT_PLACEMENT,
) -> None:
    """Run policies × seeds × loads in parallel; plot JCT, cost and carbon against load."""
    policies = list(policy) if policy else list(DEFAULT_POLICIES)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(
            "give comma-separated integers, e.g. 1,2,3", param_hint="--seeds"
        ) from None
    load_list = _floats(loads, "--loads")
    n = len(policies) * len(seed_list) * len(load_list)
    with progress_bar() as progress:
        task = progress.add_task("sweep", total=n)
        rows = run_sweep(
            scenario,
            policies,
            seed_list,
            load_list,
            trace=str(trace) if trace else None,
            fleet=fleet,
            workers=workers,
            ray=ray,
            placement=placement,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    files = write_sweep(out, rows)
    console = stdout_console()
    console.print(sweep_table(rows))
    console.print(f"written: {', '.join(str(f) for f in files)}")


def sweep_table(rows: list[dict[str, Any]]) -> Table:
    """Per load and policy, the means over seeds; carbon in the unit that suits it."""
    means = []
    for load, pol in sorted({(r["load"], r["policy"]) for r in rows}):
        sel = [r for r in rows if r["load"] == load and r["policy"] == pol]
        avg = {
            k: sum(r[k] for r in sel) / len(sel)
            for k in ("jct_mean_h", "cost_net", "carbon_t", "max_tenant_rho")
        }
        means.append((load, pol, avg))
    carbon = pick_unit([avg["carbon_t"] for _, _, avg in means], MASS_UNITS)
    t = Table(title="sweep (mean over seeds)", header_style="bold")
    for col in ("load", "policy", "avg JCT h", "cost net", f"carbon {carbon[0]}", "max ρ"):
        t.add_column(col, justify="left" if col == "policy" else "right")
    for load, pol, avg in means:
        t.add_row(
            f"{load:g}",
            pol,
            shown(avg["jct_mean_h"], ".2f"),
            shown(avg["cost_net"], ",.0f"),
            in_unit(avg["carbon_t"], carbon),
            shown(avg["max_tenant_rho"], ".2f"),
        )
    return t
