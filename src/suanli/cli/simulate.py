"""``suanli simulate``: run policies on a scenario and write a report."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from suanli.cli import app, err_console
from suanli.cli.console import progress_bar, stdout_console
from suanli.cli.numbers import ENERGY_UNITS, MASS_UNITS, in_unit, pick_unit, shown
from suanli.cli.output import OutputFormat, OutputOption, print_json
from suanli.config import load_scenario
from suanli.core.sharing import DEFAULT_PLACEMENT, PLACEMENTS, placement_rule
from suanli.experiment.run import DEFAULT_POLICIES, default_seed, run_policies, scenario_workload
from suanli.policy.registry import DEFAULT_SERVING_POLICY
from suanli.report.data import summary_rows
from suanli.report.files import clean_json
from suanli.report.metrics import raised_gangs
from suanli.report.writer import write_report
from suanli.scenarios import DEFAULT
from suanli.sim.result import SimResult


@app.command("simulate")
def simulate_command(
    scenario: Annotated[
        str | None, typer.Argument(help=f"Scenario file or built-in name (default {DEFAULT}).")
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            "-p",
            help="Policy to run (repeat; default: fifo, backfill, greedy-cost and suanli).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Workload seed (default: the scenario's).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Report directory (default out/<scenario>).")
    ] = None,
    drain: Annotated[
        bool | None,
        typer.Option(
            "--drain/--no-drain",
            help="Run past the horizon until every job is done (default: only for traces).",
        ),
    ] = None,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Replay this trace file (suanli format).")
    ] = None,
    fleet: Annotated[
        str | None,
        typer.Option(
            "--fleet",
            help="With --trace: 'own' (the trace's cluster), a named fleet (suanli trace "
            "fleets), a spec 'type:count,…', or a scenario (e.g. cn-hubs-2026).",
        ),
    ] = None,
    target_load: Annotated[
        float | None,
        typer.Option("--target-load", help="With --trace: scale arrivals to this offered load."),
    ] = None,
    placement: Annotated[
        str,
        typer.Option(
            "--placement",
            help="Device placement rule for gangs within a node and shares of a device: "
            f"{', '.join(PLACEMENTS)} (fgd: least fragmentation).",
        ),
    ] = DEFAULT_PLACEMENT,
    serving: Annotated[
        str,
        typer.Option(
            "--serving",
            help="Serving policy that scales the scenario's services: suanli, reactive, "
            "static-peak, or none to leave the services out.",
        ),
    ] = DEFAULT_SERVING_POLICY,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Run each policy as a task on this Ray cluster (auto, or its address).",
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Simulate the scenario's workload under each policy; compare; write a report.

    With ``--output json``, the report is written as usual and standard output holds one
    document: ``scenario``, ``seed``, ``horizon_h``, ``currency``, ``placement``, ``drain``,
    ``jobs``, ``devices``, ``policies`` (per policy its metrics, as in ``metrics.json``) and
    ``written`` (the report: ``dir``, ``files``); progress goes to standard error, a line
    per policy with its share done, time taken and time still needed."""
    as_json = output is OutputFormat.json
    console = err_console if as_json else stdout_console()
    policies = list(policy) if policy else list(DEFAULT_POLICIES)
    placement_rule(placement)  # an unknown rule is an error before any work
    if trace is not None:
        from suanli.trace.replay import replay

        if target_load is not None and target_load <= 0:
            raise typer.BadParameter("must be positive", param_hint="--target-load")
        r = replay(trace, fleet or scenario or "own", target_load=target_load)
        sc, jobs = r.scenario, r.jobs
        run_seed = 0 if seed is None else seed
        drain = True if drain is None else drain
    else:
        if fleet is not None or target_load is not None:
            raise typer.BadParameter("only with --trace", param_hint="--fleet/--target-load")
        sc = load_scenario(scenario)
        run_seed = default_seed(sc) if seed is None else seed
        sc, jobs = scenario_workload(sc, run_seed)
        drain = bool(drain) if drain is not None else False
    console.print(
        f"[bold]{sc.name}[/]: {len(jobs):,} jobs over {sc.hours} h on "
        f"{sum(p.count for p in sc.pools):,} devices · seed {run_seed} · "
        f"policies {', '.join(policies)} · placement {placement}"
    )
    with progress_bar(percent=True) as progress:
        results = run_policies(
            sc,
            jobs,
            policies,
            run_seed,
            drain=drain,
            placement=placement,
            progress=policy_progress(progress, policies, together=ray is not None),
            ray=ray,
            serving=None if serving == "none" else serving,
        )
    target = out if out is not None else Path("out") / sc.name
    metrics = write_report(target, results, plots=plots)
    if as_json:
        files = sorted(p.name for p in target.iterdir() if p.is_file())
        print_json(
            {
                **clean_json(metrics),
                "placement": placement,
                "drain": drain,
                "jobs": len(jobs),
                "devices": sum(p.count for p in sc.pools),
                "written": {"dir": str(target), "files": files},
            }
        )
        return
    console.print(summary_table(metrics))
    raised = gangs_raised_note(results[0])
    if raised:
        err_console.print(raised)
    if sc.services and serving != "none":
        console.print(services_table(results, sc.currency))
    console.print(
        f"report written to [bold]{target}[/]: open {target / 'index.html'} "
        f"(also metrics.json, jobs-/sites-*.csv{', PNG plots' if plots else ''})"
    )


def gangs_raised_note(r: SimResult) -> str:
    """A warning naming the jobs that ran on more devices than their gang asked for (their
    model's memory needed them), with an example; "" when none did."""
    raised = raised_gangs(r)
    if not raised:
        return ""
    j, used = raised[0]
    t = r.tables
    acc = t.acc_ids[t.pool_acc[int(r.last_pool[j])]]
    return (
        f"[yellow]warning:[/] under {r.policy}, {len(raised):,} job"
        f"{'s' if len(raised) > 1 else ''} ran on more devices than their gang asked for, "
        f"because their model's memory needed them (e.g. job {r.jobs.ids[j]}: "
        f"{r.jobs.gang[j]} → {used} on {acc}); metrics: jobs.gangs_raised"
    )


def policy_progress(
    progress: Progress, policies: Sequence[str], *, together: bool = False
) -> Callable[[str, float], None]:
    """A line per policy on ``progress``, and the callback that moves them: a policy's
    clock (time taken, ETA) starts at its first report — when it starts running — or, for
    policies run ``together`` (on Ray), at once."""
    tasks: dict[str, TaskID] = {
        p: progress.add_task(p, total=1.0, start=together) for p in policies
    }

    def report(name: str, done: float) -> None:
        progress.start_task(tasks[name])  # no-op once started
        progress.update(tasks[name], completed=done)

    return report


def _get(d: dict[str, Any], path: str) -> Any:
    for k in path.split("."):
        d = d[k]
    return d


#: Rows whose unit follows the size of their values: metric path → label (with ``{}`` for
#: the unit) and the units to choose from.
SCALED_ROWS: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {
    "energy_mwh": ("energy ({})", ENERGY_UNITS),
    "carbon_t": ("carbon ({} CO₂)", MASS_UNITS),
}


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def summary_cells(label: str, path: str, spec: str, values: list[Any]) -> tuple[str, list[str]]:
    """A row of the summary table: its label and a cell per policy. Energy and carbon take
    the unit that suits the largest value; no value that is not 0 shows as 0."""
    if path in SCALED_ROWS:
        text, units = SCALED_ROWS[path]
        unit = pick_unit([v for v in values if not _missing(v)], units)
        return text.format(unit[0]), ["–" if _missing(v) else in_unit(v, unit) for v in values]
    return label, ["–" if _missing(v) else shown(v, spec) for v in values]


def summary_table(metrics: dict[str, Any]) -> Table:
    """Policies side by side: the rows of the HTML report's summary (``summary_rows``)."""
    pols = metrics["policies"]
    t = Table(
        title=f"{metrics['scenario']} · seed {metrics['seed']} · {metrics['currency']}"
        f" · placement {next(iter(pols.values()))['placement']}",
        header_style="bold",
    )
    t.add_column("metric")
    for p in pols:
        t.add_column(p, justify="right")
    for label, path, spec in summary_rows(pols):
        shown_label, cells = summary_cells(label, path, spec, [_get(pols[p], path) for p in pols])
        t.add_row(shown_label, *cells)
    return t


def services_table(results: Sequence[SimResult], currency: str) -> Table:
    """Per policy and service: SLO attainment, requests, replicas' device-hours, cold
    starts, and energy, cost and carbon per million tokens."""
    table = Table(title="Services", title_justify="left")
    for col in (
        "policy",
        "serving",
        "service",
        "SLO met",
        "requests",
        "dropped",
        "device-h",
        "cold starts",
        "kWh/Mtok",
        f"{currency}/Mtok",
        "kg CO₂/Mtok",
    ):
        table.add_column(
            col, justify="left" if col in ("policy", "serving", "service") else "right"
        )
    for r in results:
        for o in r.services:
            req = float(o.requests.sum())
            table.add_row(
                r.policy,
                r.serving_policy,
                o.service,
                f"{100 * o.attainment:.2f}%",
                f"{req:,.0f}",
                f"{100 * float(o.dropped.sum()) / req:.2f}%" if req else "–",
                f"{float(o.device_s.sum()) / 3600:,.0f}",
                f"{o.cold_starts:,}",
                f"{o.per_mtok(o.energy_kwh):.3g}",
                f"{o.per_mtok(o.cost):.3g}",
                f"{o.per_mtok(o.carbon_kg):.3g}",
            )
    return table
