"""``suanli catalog``: the accelerators with specs, stack, TPP, PD, 3A090 class and sources."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
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
from suanli.errors import UnknownNameError
from suanli.model.accelerator import Accelerator


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


@app.command("catalog")
def catalog_command(
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
