"""``suanli trace convert|inspect|fleets``: real traces in suanli's trace format."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from suanli.cli import app
from suanli.cli.console import stdout_console, steps
from suanli.cli.output import OutputFormat, OutputOption, print_json
from suanli.errors import InputError, Problem, UnknownNameError
from suanli.trace import (
    CONVERTERS,
    NAMED_FLEETS,
    Replay,
    Trace,
    convert_source,
    read_trace,
    replay,
    summarize_trace,
    write_trace,
)
from suanli.trace.demand_sources import DEMAND_CONVERTERS, convert_demand
from suanli.trace.jobs import offered_load
from suanli.trace.stats import TraceStats
from suanli.workload.demand import Demand
from suanli.workload.demand_file import read_demand, write_demand

trace_app = typer.Typer(help="Real traces: convert, inspect, fleets.", no_args_is_help=True)
app.add_typer(trace_app, name="trace")


_DEMAND_OPTIONS = ("service", "region", "timezone", "peak", "shift_hours", "window_minutes")


@trace_app.command("convert")
def convert_command(
    source: Annotated[
        Path, typer.Argument(help="The source file (or openb / ServeGen model folder).")
    ],
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            help=f"Source format: {', '.join([*CONVERTERS, *DEMAND_CONVERTERS])} "
            f"(serving demand: {', '.join(DEMAND_CONVERTERS)}).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output .csv or .parquet (a demand file: .json)."),
    ],
    strict: Annotated[
        bool, typer.Option(help="Fail on malformed source rows instead of skipping them.")
    ] = False,
    nodes: Annotated[
        Path | None, typer.Option(help="openb: the node list (default: beside the pods).")
    ] = None,
    pollux_traces: Annotated[
        Path | None, typer.Option(help="pollux: the traces/ folder (default: ../traces).")
    ] = None,
    cluster: Annotated[
        Path | None, typer.Option(help="tiresias: the cluster file (default: cluster_spec.csv).")
    ] = None,
    elastic_share: Annotated[
        float | None,
        typer.Option(
            help="philly, openb: make this share (0 to 1) of the jobs elastic, from gang to "
            "2 x gang (pollux jobs are elastic with their measured scaling)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="philly, openb: seed of the draw of elastic jobs (default: 0)."),
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="Demand: the curve's service id (default from the source).")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Demand: the users' region id (default from the source).")
    ] = None,
    peak: Annotated[
        float | None,
        typer.Option(help="Demand: scale the curve so its highest window has this rate (req/s)."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="Demand: the users' IANA time zone; the curve keeps its local-time shape."
        ),
    ] = None,
    shift_hours: Annotated[
        float | None,
        typer.Option(help="Demand: rotate the curve this many hours later (negative: earlier)."),
    ] = None,
    window_minutes: Annotated[
        float | None, typer.Option(help="Demand: window length in minutes (default: 10).")
    ] = None,
) -> None:
    """Convert a public trace into suanli's trace format (docs/trace-format.md), or a
    serving trace into a demand file (docs/demand-format.md)."""
    if from_ not in CONVERTERS and from_ not in DEMAND_CONVERTERS:
        raise UnknownNameError("trace source", from_, [*CONVERTERS, *DEMAND_CONVERTERS])
    demand_options = {
        k: v
        for k, v in zip(
            _DEMAND_OPTIONS,
            (service, region, timezone, peak, shift_hours, window_minutes),
            strict=True,
        )
        if v is not None
    }
    _check_elastic_flags(elastic_share, seed)
    options = {
        k: v
        for k, v in {
            "nodes": nodes,
            "traces": pollux_traces,
            "cluster": cluster,
            "elastic_share": elastic_share,
            "seed": seed,
        }.items()
        if v is not None
    }
    if from_ in DEMAND_CONVERTERS:
        batch = sorted(options) + (["strict"] if strict else [])
        _refuse_options(batch, from_, "demand sources are always read strictly" if strict else "")
        _convert_demand(source, from_, out, demand_options)
        return
    allowed = {
        "philly": {"elastic_share", "seed"},
        "openb": {"nodes", "elastic_share", "seed"},
        "pollux": {"traces"},
        "tiresias": {"cluster"},
    }
    extra = set(options) - allowed.get(from_, set())
    _refuse_options(sorted(extra | set(demand_options)), from_)
    t0 = time.perf_counter()
    conv = convert_source(source, from_, strict=strict, **options)
    write_trace(conv.trace, out)
    dt = time.perf_counter() - t0
    console = stdout_console()
    console.print(
        f"[bold green]✓[/] {conv.rows_read:,} rows read, {len(conv.trace):,} jobs written to "
        f"[bold]{out}[/] in {dt:.2f} s"
    )
    for reason, count in conv.skipped.items():
        console.print(f"  skipped {count:,}: {reason}", markup=False)
    for note in conv.notes:
        console.print(f"  [dim]note:[/] {note}")


def _check_elastic_flags(share: float | None, seed: int | None) -> None:
    """``--elastic-share`` is in [0, 1], ``--seed`` ≥ 0 and only with ``--elastic-share``."""
    problem = None
    if share is not None and not 0.0 <= share <= 1.0:  # NaN fails too
        problem = Problem(
            "command line",
            "--elastic-share",
            f"--elastic-share must be a number from 0 to 1, not {share:g}",
            "the share of jobs to make elastic, e.g. --elastic-share 0.5",
        )
    elif seed is not None and seed < 0:
        problem = Problem(
            "command line",
            "--seed",
            f"--seed must be a whole number ≥ 0, not {seed}",
            "e.g. --seed 0; the same seed gives the same trace",
        )
    elif seed is not None and share is None:
        problem = Problem(
            "command line",
            "--seed",
            "--seed only applies with --elastic-share",
            "add --elastic-share, or drop --seed",
        )
    if problem is not None:
        raise InputError([problem])


def _refuse_options(names: list[str], from_: str, why: str = "") -> None:
    if names:
        flags = ", ".join("--" + n.replace("_", "-") for n in names)
        raise InputError(
            [
                Problem(
                    "command line",
                    "",
                    f"option(s) {flags} do not apply to --from {from_}"
                    + (f" ({why})" if why else ""),
                    "drop them",
                )
            ]
        )


def _convert_demand(source: Path, from_: str, out: Path, options: dict[str, Any]) -> None:
    if out.suffix.lower() != ".json":
        raise InputError(
            [
                Problem(
                    "command line",
                    "--out",
                    f"{out} is not a .json file; a demand file is JSON",
                    "give a path ending in .json",
                )
            ]
        )
    t0 = time.perf_counter()
    conv = convert_demand(source, from_, **options)
    write_demand(conv.demand, out)
    dt = time.perf_counter() - t0
    console = stdout_console()
    console.print(
        f"[bold green]✓[/] {demand_summary(conv.demand)}; written to [bold]{out}[/] in {dt:.2f} s"
    )
    for note in conv.notes:
        console.print(f"  [dim]note:[/] {note}", highlight=False)


def demand_summary(demand: Demand) -> str:
    """One line: curves, windows, peak rate, mean lengths, requests."""
    parts = []
    for c in demand.curves:
        parts.append(
            f"{c.service}@{c.region}: {len(c.rate_rps):,} windows of {c.window_s / 60:g} min "
            f"({c.timezone}), peak {c.peak_rps:,.2f} req/s, mean input "
            f"{c.input_tokens.mean:,.1f} / output {c.output_tokens.mean:,.1f} tokens"
        )
    n_req = sum(len(r.trace) for r in demand.requests)
    head = f"{len(demand.curves)} curve(s)"
    if demand.requests:
        head += f", {n_req:,} requests in {len(demand.requests)} trace(s)"
    return "; ".join([head, *parts])


@trace_app.command("inspect")
def inspect_command(
    file: Annotated[
        Path, typer.Argument(help="A trace (.csv or .parquet) or a demand file (.json).")
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for plots (PNG).")] = None,
    fleet: Annotated[
        str | None,
        typer.Option(help="Also map the jobs onto a fleet: own, a fleet name, a scenario."),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Summarise a trace: jobs, arrival rate, gang sizes, durations; plots with --out.

    With ``--output json``, standard output holds one document: ``file``, ``source``,
    ``meta`` (the file's metadata), ``stats`` (every figure of the summary: ``jobs``,
    ``tenants``, ``span_s``, ``gang`` and ``duration_s`` quantiles, ``gang_counts``,
    ``hourly_arrivals``, …), ``fleet`` (with ``--fleet``: ``name``, ``devices``, ``pools``,
    ``jobs``, ``work_pflop``, ``offered_load``, ``horizon_h``; else null) and ``written``
    (with ``--out``: ``dir``, ``files``; else null). The steps (reading, statistics, the
    fleet, plots) show on standard error as they run.

    A demand file (``.json``, docs/demand-format.md) is summarised instead: its curves
    (service, region, windows, peak and mean rate, mean lengths) and request traces; with
    ``--output json`` a document with ``file``, ``curves`` and ``requests``."""
    if file.suffix.lower() == ".json":
        _inspect_demand(file, output, fleet=fleet, out=out)
        return
    with steps(2 + (fleet is not None) + (out is not None), f"reading {file.name}") as s:
        tr = read_trace(file)
        s.step("statistics")
        stats = summarize_trace(tr)
        fleet_record = None
        if fleet is not None:
            s.step(f"mapping onto {fleet}")
            fleet_record = _fleet_record(replay(tr, fleet))
        paths: list[Path] = []
        if out is not None:
            from suanli.trace.plots import write_plots

            s.step("plots")
            paths = write_plots(tr, stats, out)
    written = {"dir": str(out), "files": sorted(p.name for p in paths)} if out is not None else None
    if output is OutputFormat.json:
        print_json(
            {
                "file": str(file),
                "source": tr.source,
                "meta": dict(tr.meta),
                "stats": stats,
                "fleet": fleet_record,
                "written": written,
            }
        )
        return
    console = stdout_console()
    print_stats(tr, stats, console)
    if fleet_record is not None:
        console.print(
            f"fleet [bold]{fleet_record['name']}[/]: {fleet_record['devices']:,} devices in "
            f"{fleet_record['pools']} pools; {fleet_record['jobs']:,} jobs, "
            f"{fleet_record['work_pflop']:,.0f} PFLOP; offered load "
            f"{fleet_record['offered_load']:.3f}; horizon {fleet_record['horizon_h']:,} h"
        )
    for p in paths:
        console.print(f"wrote {p}")


def _inspect_demand(
    file: Path, output: OutputFormat, *, fleet: str | None, out: Path | None
) -> None:
    if fleet is not None or out is not None:
        _refuse_options(
            [n for n, v in (("fleet", fleet), ("out", out)) if v is not None], "a demand file"
        )
    demand = read_demand(file)
    curves = [
        {
            "service": c.service,
            "region": c.region,
            "timezone": c.timezone,
            "window_s": c.window_s,
            "windows": len(c.rate_rps),
            "peak_rps": c.peak_rps,
            "mean_rps": sum(c.rate_rps) / len(c.rate_rps),
            "mean_input_tokens": c.input_tokens.mean,
            "mean_output_tokens": c.output_tokens.mean,
            "source": c.source,
        }
        for c in demand.curves
    ]
    requests = [
        {
            "service": r.service,
            "region": r.region,
            "requests": len(r.trace),
            "span_s": r.trace.span_s,
            "mean_input_tokens": float(r.trace.input_tokens.mean()),
            "mean_output_tokens": float(r.trace.output_tokens.mean()),
            "source": r.trace.source,
        }
        for r in demand.requests
    ]
    if output is OutputFormat.json:
        print_json({"file": str(file), "curves": curves, "requests": requests})
        return
    console = stdout_console()
    console.print(f"[bold]{file}[/]: demand file", highlight=False)
    console.print(demand_summary(demand), highlight=False)


def _fleet_record(r: Replay) -> dict[str, Any]:
    """The jobs of a trace mapped onto a fleet: its size, the work and the load offered."""
    return {
        "name": r.fleet,
        "devices": sum(p.count for p in r.scenario.pools),
        "pools": len(r.scenario.pools),
        "jobs": len(r.jobs),
        "work_pflop": sum(j.work_pflop for j in r.jobs),
        "offered_load": offered_load(r.scenario, r.jobs),
        "horizon_h": r.scenario.hours,
    }


@trace_app.command("fleets")
def fleets_command() -> None:
    """List the named fleets (a trace's own fleet is 'own')."""
    for name, (spec, description) in NAMED_FLEETS.items():
        typer.echo(f"{name}: {description}\n    {spec}")


def _h(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def print_stats(tr: Trace, s: TraceStats, console: Console) -> None:
    """Render a trace summary with rich."""
    console.print(f"[bold]{tr.source}[/]  [dim]{tr.meta.get('source', '')}[/]")
    console.print(
        f"{s.jobs:,} jobs · {s.tenants} tenants · span {_h(s.span_s)}"
        + (f" from {s.start}" if s.start else "")
        + f" · {s.jobs_per_hour:.1f} jobs/h (peak {s.peak_jobs_per_hour:,} in one hour)"
    )
    console.print(
        f"reference {tr.meta.get('reference', '(per row)')} · "
        f"{s.device_hours:,.0f} device-hours · busy devices if no job queued: mean "
        f"{s.busy_mean:,.0f}, p95 {s.busy_p95:,.0f}, max {s.busy_max:,.0f}"
    )
    console.print(
        f"fractional {s.fractional_jobs:,} · type constraints {s.constrained_jobs:,} · "
        f"elastic {s.elastic_jobs:,} · measured throughput {s.measured_jobs:,}"
        + (f" · {s.work_jobs:,} jobs given as work only" if s.work_jobs else "")
    )
    t = Table(title="Distributions", header_style="bold")
    for col in ("", "mean", "p50", "p90", "p99", "max"):
        t.add_column(col, justify="left" if not col else "right")
    if s.gang:
        g = s.gang
        t.add_row(
            "gang (devices)",
            f"{g.mean:.2f}",
            f"{g.p50:g}",
            f"{g.p90:g}",
            f"{g.p99:g}",
            f"{g.max:g}",
        )
    if s.duration_s:
        d = s.duration_s
        t.add_row("duration", _h(d.mean), _h(d.p50), _h(d.p90), _h(d.p99), _h(d.max))
    console.print(t)
    t = Table(title="Gang sizes", header_style="bold")
    t.add_column("devices")
    t.add_column("jobs", justify="right")
    t.add_column("share", justify="right")
    for k, v in s.gang_counts.items():
        t.add_row(k, f"{v:,}", f"{v / max(s.jobs, 1):.1%}")
    console.print(t)
    if tr.meta.get("fleet"):
        console.print(f"own fleet ({tr.meta.get('fleet_name', '')}): {tr.meta['fleet']}")
    if tr.meta.get("skipped"):
        console.print(f"skipped in conversion: {tr.meta['skipped']}", markup=False)
