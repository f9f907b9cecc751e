"""Plots of a plan and of a comparison (matplotlib, Agg backend, PNG).

* ``map.png`` — sites at their longitude and latitude, the disc's area proportional
  to devices after the plan, its colour the domestic share of them, a ring for the
  devices added, labelled with the site and what was added.
* ``devices.png`` — devices per site by vendor: in place, and added by the plan.
* ``cost.png`` — cost per site: purchases, expansion, energy over the horizon.
* ``compare.png`` — plans side by side: cost, vendor mix of new devices, power, carbon.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from suanli.plan.result import Plan

METADATA = {"Software": None}  # keep PNGs byte-identical across matplotlib versions
PALETTE = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
    "#2f4b7c",
    "#a05195",
)


def _vendor_colours(plans: Sequence[Plan]) -> dict[str, str]:
    vendors = sorted({p.vendor for plan in plans for p in plan.pools})
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(vendors)}


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=METADATA)
    plt.close(fig)


def plot_map(plan: Plan, path: Path) -> None:
    """Sites on a longitude/latitude plane, sized by devices, coloured by domestic share."""
    fig, ax = plt.subplots(figsize=(8, 6))
    biggest = max((s.devices for s in plan.sites), default=1) or 1
    xs, ys, sizes, shares = [], [], [], []
    for s in plan.sites:
        pools = [p for p in plan.pools if p.site == s.site]
        total = sum(p.total for p in pools) or 1
        xs.append(s.lon)
        ys.append(s.lat)
        sizes.append(60 + 2400 * s.devices / biggest)
        shares.append(sum(p.total for p in pools if p.domestic) / total)
        if s.added:
            ax.scatter(
                [s.lon],
                [s.lat],
                s=60 + 2400 * s.devices / biggest + 500 * s.added / biggest,
                facecolors="none",
                edgecolors="black",
                linewidths=1.5,
                zorder=3,
            )
        label = f"{s.site}\n{s.devices:,} dev"
        if s.added:
            label += f" (+{s.added:,})"
        if s.expansion_mw > 0:
            label += f"\n+{s.expansion_mw:.1f} MW"
        crowded = any(
            0 < o.lon - s.lon <= 6 and abs(o.lat - s.lat) < 2.5 for o in plan.sites if o is not s
        )
        ax.annotate(
            label,
            (s.lon, s.lat),
            textcoords="offset points",
            xytext=(-14, -24) if crowded else (12, 8),
            ha="right" if crowded else "left",
            fontsize=8,
        )
    sc = ax.scatter(
        xs,
        ys,
        s=sizes,
        c=shares,
        cmap="RdYlGn",
        vmin=0,
        vmax=1,
        alpha=0.8,
        edgecolors="grey",
        zorder=2,
    )
    fig.colorbar(sc, ax=ax, label="domestic share of devices after the plan")
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(f"Plan {plan.name}: devices by site (ring: site with purchases)")
    ax.margins(0.2)
    ax.grid(alpha=0.3)
    _save(fig, path)


def _stacked(
    ax: Axes,
    labels: Sequence[str],
    series: dict[str, list[float]],
    colours: dict[str, str],
    title: str,
    ylabel: str,
) -> None:
    bottom = [0.0] * len(labels)
    for key, values in series.items():
        if not any(values):
            continue
        ax.bar(labels, values, bottom=bottom, label=key, color=colours.get(key))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=7)


def plot_devices(plan: Plan, path: Path) -> None:
    """Devices per site and vendor: in place after retirements, and added."""
    colours = _vendor_colours([plan])
    sites = [s.site for s in plan.sites]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for ax, attr, title in (
        (left, "kept", "Devices in place (after retirements)"),
        (right, "added", "Devices added by the plan"),
    ):
        series: dict[str, list[float]] = {v: [0.0] * len(sites) for v in colours}
        for p in plan.pools:
            value = p.existing - p.retired if attr == "kept" else p.added
            series[p.vendor][sites.index(p.site)] += value
        _stacked(ax, sites, series, colours, title, "devices")
    _save(fig, path)


def plot_cost(plan: Plan, path: Path) -> None:
    """Cost per site over the horizon: purchases, expansion, energy."""
    sites = [s.site for s in plan.sites]
    purchases = [sum(p.capex for p in plan.pools if p.site == s) / 1e9 for s in sites]
    expansion = [
        (s.capex - sum(p.capex for p in plan.pools if p.site == s.site)) / 1e9 for s in plan.sites
    ]
    energy = [s.energy_cost / 1e9 for s in plan.sites]
    colours = {"purchases": PALETTE[0], "expansion": PALETTE[1], "energy": PALETTE[2]}
    fig, ax = plt.subplots(figsize=(9, 5))
    _stacked(
        ax,
        sites,
        {"purchases": purchases, "expansion": expansion, "energy": energy},
        colours,
        f"Cost by site over {plan.horizon_years:g} years",
        f"bn {plan.currency}",
    )
    _save(fig, path)


def plot_comparison(plans: Sequence[Plan], path: Path) -> None:
    """Plans side by side: cost, vendor mix of new devices, power, carbon."""
    labels = [p.name for p in plans]
    colours = _vendor_colours(plans)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    cur = plans[0].currency if plans else ""
    _stacked(
        axes[0][0],
        labels,
        {
            "capex": [p.totals.capex / 1e9 for p in plans],
            "opex": [p.totals.opex / 1e9 for p in plans],
        },
        {"capex": PALETTE[0], "opex": PALETTE[2]},
        "Total cost of ownership",
        f"bn {cur}",
    )
    mix = {v: [float(p.added_by("vendor").get(v, 0)) for p in plans] for v in colours}
    _stacked(axes[0][1], labels, mix, colours, "New devices by vendor", "devices")
    _stacked(
        axes[1][0],
        labels,
        {"peak power": [sum(s.peak_mw for s in p.sites) for p in plans]},
        {"peak power": PALETTE[3]},
        "Peak facility power after the plan",
        "MW",
    )
    _stacked(
        axes[1][1],
        labels,
        {"carbon": [p.totals.carbon_t / 1e3 for p in plans]},
        {"carbon": PALETTE[7]},
        "Carbon over the horizon",
        "kt CO₂",
    )
    _save(fig, path)


def plot_plan(plan: Plan, out: Path) -> list[Path]:
    """All plots of one plan into folder ``out``; the paths written."""
    paths = [out / "map.png", out / "devices.png", out / "cost.png"]
    plot_map(plan, paths[0])
    plot_devices(plan, paths[1])
    plot_cost(plan, paths[2])
    return paths
