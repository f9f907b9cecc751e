"""``suanli catalog``: the accelerators with specs, stack, TPP, PD, 3A090 class and sources;
``suanli catalog models``: the built-in served models; ``suanli catalog serving``: the
serving model beside published measurements (docs/serving.md)."""

from __future__ import annotations

import csv
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from suanli.catalog import load_catalog
from suanli.catalog.export_control import (
    eccn_3a090_class,
    jan2026_case_by_case,
    performance_density,
    tpp,
)
from suanli.cli import app
from suanli.cli.console import stdout_console
from suanli.cli.output import print_json
from suanli.errors import InputError, Problem, UnknownNameError
from suanli.model.accelerator import Accelerator

catalog_app = typer.Typer(
    help="The accelerator catalog (with no sub-command); served models; serving calibration.",
    invoke_without_command=True,
)
app.add_typer(catalog_app, name="catalog")

#: Accelerators the models list shows the smallest replica on.
MAIN_ACCELERATORS: tuple[str, ...] = (
    "nvidia_h100_sxm5",
    "nvidia_h20",
    "huawei_ascend_910b3",
    "huawei_ascend_910c",
)


class Format(StrEnum):
    """Output formats."""

    table = "table"
    csv = "csv"
    json = "json"


def catalog_rows(vendor: str | None = None) -> list[dict[str, Any]]:
    """One flat record per accelerator, with the computed export-control figures."""
    catalog = load_catalog()
    accs: list[Accelerator] = list(catalog.values())
    if vendor is not None:
        vendors = {a.vendor for a in accs}
        match = [v for v in vendors if v.lower().startswith(vendor.lower())]
        if not match:
            raise UnknownNameError("vendor", vendor, vendors)
        accs = [a for a in accs if a.vendor in match]
    rows = []
    for a in accs:
        t, pd, jan = tpp(a), performance_density(a), jan2026_case_by_case(a)
        rows.append(
            {
                "id": a.id,
                "name": a.name,
                "vendor": a.vendor,
                "origin": a.origin,
                "stack": a.stack,
                "bf16_tflops": a.bf16_tflops,
                "fp8_tflops": a.fp8_tflops,
                "int8_tops": a.int8_tops,
                "fp4_tflops": a.fp4_tflops,
                "mem_gb": a.mem_gb,
                "mem_bw_tbs": a.mem_bw_tbs,
                "tdp_w": a.tdp_w,
                "die_area_mm2": a.die_area_mm2,
                "price_usd": a.price_usd,
                "tpp": None if t is None else round(t, 1),
                "perf_density": None if pd is None else round(pd, 2),
                "eccn_3a090": eccn_3a090_class(a),
                "jan2026_case_by_case": jan,
                "sources": dict(a.sources),
                "notes": a.notes,
            }
        )
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"
    return str(v)


@catalog_app.callback()
def catalog_command(
    ctx: typer.Context,
    vendor: Annotated[
        str | None, typer.Option("--vendor", help="Only this vendor (prefix match).")
    ] = None,
    output: Annotated[
        Format | None,
        typer.Option(
            "--output",
            help="table (the default), csv, or json (a list of records).",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
    old_format: Annotated[
        Format | None,
        typer.Option("--format", hidden=True, case_sensitive=False, help="Same as --output."),
    ] = None,
) -> None:
    """List the accelerator catalog: specs, software stack, TPP, PD, 3A090 class and sources."""
    if ctx.invoked_subcommand is not None:
        return
    if output is not None and old_format is not None and output is not old_format:
        raise typer.BadParameter(
            "--format is the old name of --output; give one", param_hint="--format"
        )
    fmt = output or old_format or Format.table
    rows = catalog_rows(vendor)
    if fmt is Format.json:
        print_json(rows)
        return
    if fmt is Format.csv:
        fields = [k for k in rows[0] if k != "sources"] + ["sources"] if rows else []
        w = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "sources": "; ".join(f"{k}: {v}" for k, v in r["sources"].items())})
        return
    table = Table(title=f"Accelerator catalog ({len(rows)} entries)", header_style="bold")
    cols = [
        ("id", "id"),
        ("vendor", "vendor"),
        ("stack", "stack"),
        ("bf16_tflops", "BF16 TF"),
        ("fp8_tflops", "FP8 TF"),
        ("int8_tops", "INT8 TOPS"),
        ("mem_gb", "HBM GB"),
        ("mem_bw_tbs", "TB/s"),
        ("tdp_w", "TDP W"),
        ("tpp", "TPP"),
        ("perf_density", "PD"),
        ("eccn_3a090", "3A090"),
        ("jan2026_case_by_case", "Jan-26 review"),
    ]
    for key, title in cols:
        numeric = key not in ("id", "vendor", "stack", "eccn_3a090", "jan2026_case_by_case")
        table.add_column(title, justify="right" if numeric else "left", no_wrap=key == "id")
    for r in rows:
        table.add_row(*(_fmt(r[k]) for k, _ in cols))
    console = stdout_console()
    console.print(table)
    console.print(
        "TPP, PD and class are computed from the specs (docs/catalog.md); "
        "'suanli catalog --output json' shows the source of every number."
    )


class ServingFormat(StrEnum):
    """Output formats of the serving commands."""

    table = "table"
    json = "json"
    markdown = "markdown"


def models_rows() -> list[dict[str, Any]]:
    """One record per built-in served model, with its smallest replica per main chip."""
    from suanli.catalog.models import load_model_specs
    from suanli.perf.serving import min_replica_devices

    catalog = load_catalog()
    rows = []
    for spec in load_model_specs().values():
        m = spec.model
        rows.append(
            {
                "id": m.id,
                "name": spec.name,
                "total_params_b": m.total_params_b,
                "active_params_b": m.active_params_b,
                "precision": m.precision,
                "weights_gb": round(m.weight_bytes / 1e9, 1),
                "kv_kb_per_token": round(m.kv_bytes_per_token / 1e3, 1),
                "context_tokens": m.context_tokens,
                "min_replica": {
                    a: min_replica_devices(m, catalog[a]) for a in MAIN_ACCELERATORS if a in catalog
                },
                "sources": dict(spec.sources),
            }
        )
    return rows


@catalog_app.command("models")
def models_command(
    output: Annotated[
        ServingFormat,
        typer.Option("--output", help="table, json or markdown.", case_sensitive=False),
    ] = ServingFormat.table,
) -> None:
    """List the built-in served models: size, KV cache, and smallest replica per chip."""
    rows = models_rows()
    if output is ServingFormat.json:
        print_json(rows)
        return
    accs = list(rows[0]["min_replica"]) if rows else []
    head = ["id", "total B", "active B", "precision", "weights GB", "KV kB/token", "context"]
    head += [f"{a} ×" for a in accs]

    def cells(r: dict[str, Any]) -> list[str]:
        reps = [_fmt(r["min_replica"][a]) for a in accs]
        return [
            r["id"],
            _fmt(r["total_params_b"]),
            _fmt(r["active_params_b"]),
            r["precision"],
            _fmt(r["weights_gb"]),
            _fmt(r["kv_kb_per_token"]),
            f"{r['context_tokens']:,}",
            *reps,
        ]

    if output is ServingFormat.markdown:
        typer.echo("| " + " | ".join(head) + " |")
        typer.echo("|---" * len(head) + "|")
        for r in rows:
            typer.echo("| " + " | ".join(cells(r)) + " |")
        return
    table = Table(title=f"Served models ({len(rows)})", header_style="bold")
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i in (0, 3) else "right", no_wrap=i == 0)
    for r in rows:
        table.add_row(*cells(r))
    console = stdout_console()
    console.print(table)
    console.print(
        "×: the smallest replica (devices) that holds the weights and one full context; "
        "'--output json' shows the source of every figure."
    )


def _measurements_path(given: Path | None) -> Path:
    if given is not None:
        return given
    shared = os.environ.get("SUANLI_SHARED_DATA")
    if shared:
        return Path(shared) / "inference" / "serving-measurements.csv"
    raise InputError(
        [
            Problem(
                "--measurements",
                "",
                "no measurements file given",
                "pass --measurements PATH (shared/data/inference/serving-measurements.csv), "
                "or set SUANLI_SHARED_DATA to the shared data folder",
            )
        ]
    )


@catalog_app.command("serving")
def serving_command(
    measurements: Annotated[
        Path | None,
        typer.Option(
            "--measurements",
            help="serving-measurements.csv (default: $SUANLI_SHARED_DATA/inference/...).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        ServingFormat,
        typer.Option("--output", help="table, json or markdown.", case_sensitive=False),
    ] = ServingFormat.table,
) -> None:
    """Compare the serving model with published measurements (tokens/s per device)."""
    from suanli.experiment.serving_calibration import calibrate, calibration_markdown

    rows = calibrate(_measurements_path(measurements))
    if output is ServingFormat.json:
        print_json(
            [
                {
                    "system": r.system,
                    "model": r.model,
                    "accelerator": r.accelerator,
                    "stack": r.stack,
                    "phase": r.phase,
                    "latency_target": r.latency_target,
                    "replica_devices": r.replica_devices,
                    "tpot_s": r.tpot_s,
                    "measured": r.measured,
                    "modelled": round(r.modelled, 1),
                    "ratio": round(r.ratio, 3),
                    "assumptions": r.assumptions,
                }
                for r in rows
            ]
        )
        return
    if output is ServingFormat.markdown:
        typer.echo(calibration_markdown(rows), nl=False)
        return
    table = Table(title="Serving model vs measurements (tokens/s per device)", header_style="bold")
    for h in ("system", "accelerator", "phase", "latency target", "replica", "TPOT ms"):
        table.add_column(h, justify="right" if h in ("replica", "TPOT ms") else "left")
    for h in ("measured", "modelled", "ratio"):
        table.add_column(h, justify="right")
    for r in rows:
        table.add_row(
            r.system,
            r.accelerator,
            r.phase,
            r.latency_target or "–",
            str(r.replica_devices),
            "–" if r.tpot_s is None else f"{r.tpot_s * 1000:.1f}",
            f"{r.measured:,.0f}",
            f"{r.modelled:,.0f}",
            f"{r.ratio:.2f}",
        )
    console = stdout_console()
    console.print(table)
    console.print("Each row's deployment assumptions: '--output json'; docs/serving.md.")
