"""PNG plots of simulation results (matplotlib, Agg backend, deterministic output)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from suanli.report.elastic import most_resized, size_history, size_steps
from suanli.report.files import site_series
from suanli.report.services import ready_by_site, service_metrics
from suanli.sim.result import SimResult

PNG_META = {"Software": None}
COLOURS = [matplotlib.colormaps["tab10"](i) for i in range(10)]


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=110, metadata=PNG_META)
    plt.close(fig)


def plot_utilisation_power(path: Path, r: SimResult) -> None:
    """Utilisation and facility power per site over time (capacity dashed)."""
    t = r.tables
    s = site_series(r)
    hours = int(np.ceil(r.end_s / 3600.0))
    x = np.arange(hours)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    for i, sid in enumerate(t.site_ids):
        c = COLOURS[i % len(COLOURS)]
        ax1.plot(x, s["utilisation"][i, :hours], color=c, lw=1.2, label=sid)
        ax2.plot(x, s["power_mw"][i, :hours], color=c, lw=1.2)
        ax2.axhline(t.site_cap_w[i] / 1e6, color=c, lw=0.8, ls="--", alpha=0.6)
    ax1.set_ylabel("utilisation (busy / up devices)")
    ax1.set_ylim(0, 1.02)
    ax1.legend(ncol=4, fontsize=8, loc="lower right")
    ax2.set_ylabel("facility power (MW); capacity dashed")
    ax2.set_xlabel(f"hours from {r.scenario.start.isoformat()}")
    fig.suptitle(f"{r.scenario.name} · {r.policy}: utilisation and power per site")
    fig.tight_layout()
    _save(fig, path)


def plot_cost_carbon(path: Path, results: Sequence[SimResult]) -> None:
    """Net energy cost and carbon per site, one bar per policy."""
    t = results[0].tables
    sites = t.site_ids
    width = 0.8 / len(results)
    x = np.arange(len(sites))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    for k, r in enumerate(results):
        s = site_series(r)
        net = (s["cost"] - s["subsidy"]).sum(axis=1) / 1e6
        carbon = s["carbon_t"].sum(axis=1)
        c = COLOURS[k % len(COLOURS)]
        ax1.bar(x + k * width, net, width, color=c, label=r.policy)
        ax2.bar(x + k * width, carbon, width, color=c)
    ax1.set_ylabel(f"net energy cost (million {results[0].scenario.currency})")
    ax2.set_ylabel("carbon (t CO₂)")
    ax2.set_xticks(x + width * (len(results) - 1) / 2, sites, rotation=20)
    ax1.legend(fontsize=8)
    fig.suptitle("Energy cost (net of subsidies) and carbon per site")
    fig.tight_layout()
    _save(fig, path)


def plot_jct_cdf(path: Path, results: Sequence[SimResult]) -> None:
    """CDF of job completion time per policy (finished jobs)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for k, r in enumerate(results):
        jct = np.sort((r.finish - r.jobs.submit_array())[r.done]) / 3600.0
        if jct.size:
            y = np.arange(1, jct.size + 1) / jct.size
            ax.step(
                jct,
                y,
                where="post",
                color=COLOURS[k % len(COLOURS)],
                label=f"{r.policy} (mean {jct.mean():.2f} h)",
            )
    ax.set_xscale("log")
    ax.set_xlabel("job completion time (h)")
    ax.set_ylabel("fraction of finished jobs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle("JCT distribution per policy")
    fig.tight_layout()
    _save(fig, path)


def plot_map(path: Path, results: Sequence[SimResult]) -> None:
    """Sites on a lon/lat map, sized by devices, coloured by utilisation; one panel per policy."""
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.8), squeeze=False)
    norm = matplotlib.colors.Normalize(0, 1)
    cmap = plt.get_cmap("viridis")
    for ax, r in zip(axes[0], results, strict=True):
        sc = r.scenario
        lon = np.asarray([s.lon for s in sc.sites])
        lat = np.asarray([s.lat for s in sc.sites])
        size = np.asarray([s.devices for s in sc.sites], dtype=float)
        util = np.asarray([v for v in site_series(r)["utilisation"].mean(axis=1)])
        t = r.tables
        for (a, b), tb in sorted(r.transfers.by_pair.items()):
            ax.plot(
                [lon[a], lon[b]],
                [lat[a], lat[b]],
                color="grey",
                lw=0.5 + 3 * tb / max(r.transfers.by_pair.values()),
                alpha=0.6,
                zorder=1,
            )
        ax.scatter(
            lon,
            lat,
            s=40 + 600 * size / size.max(),
            c=util,
            cmap=cmap,
            norm=norm,
            edgecolors="black",
            linewidths=0.6,
            zorder=2,
        )
        for i, sid in enumerate(t.site_ids):
            ax.annotate(
                sid, (lon[i], lat[i]), xytext=(6, 6), textcoords="offset points", fontsize=8
            )
        ax.set_aspect(1 / np.cos(np.radians(lat.mean())))
        ax.margins(0.15)
        ax.grid(alpha=0.3)
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
        ax.set_title(f"{r.policy}", fontsize=10)
    fig.colorbar(
        matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap),
        ax=axes[0].tolist(),
        label="mean utilisation",
        shrink=0.8,
    )
    fig.suptitle(f"{results[0].scenario.name}: sites sized by devices, lines = data moved")
    _save(fig, path)


def plot_services(path: Path, r: SimResult) -> None:
    """Per service: demand and ready capacity (requests/s) and SLO attainment over the run;
    ready replicas by site, stacked."""
    fig, (ax1, ax2, ax3) = plt.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4, 2]}
    )
    for k, o in enumerate(r.services):
        c = COLOURS[k % len(COLOURS)]
        x = o.series[:, 0] / 3600.0
        ax1.step(x, o.series[:, 1], where="post", color=c, lw=1.4, label=f"{o.service} demand")
        ax1.step(
            x, o.series[:, 2], where="post", color=c, lw=1.0, ls="--", label=f"{o.service} capacity"
        )
        ax2.step(x, o.series[:, 5], where="post", color=c, lw=1.2, label=o.service)
    # every service is accounted at the same ticks: sum their ready replicas by site
    site_ids = r.tables.site_ids
    stacks: dict[str, np.ndarray] = {}
    for o in r.services:
        for sid, v in ready_by_site(r, o).items():
            stacks[sid] = stacks.get(sid, 0) + v
    if stacks:
        ordered = [sid for sid in site_ids if sid in stacks]
        ax3.stackplot(
            r.services[0].series[:, 0] / 3600.0,
            *[stacks[sid] for sid in ordered],
            labels=ordered,
            colors=[COLOURS[site_ids.index(sid) % len(COLOURS)] for sid in ordered],
            step="post",
            alpha=0.85,
        )
        ax3.legend(fontsize=8, loc="upper left")
    ax1.set_ylabel("requests/s")
    ax1.set_ylim(bottom=0)
    ax1.legend(fontsize=8, ncol=2, loc="best")
    ax2.set_ylabel("SLO attainment")
    ax2.set_ylim(min(0.9, float(np.nanmin([o.series[:, 5].min() for o in r.services]))), 1.005)
    ax3.set_ylabel("ready replicas by site")
    ax3.set_xlabel(f"hours from {r.scenario.start.isoformat()}")
    fig.suptitle(f"{r.scenario.name} · {r.policy} (serving: {r.serving_policy}): services")
    fig.tight_layout()
    _save(fig, path)


def plot_service_cost_carbon(path: Path, results: Sequence[SimResult]) -> None:
    """Net energy cost and carbon per million tokens by accelerator type (all services),
    one bar per policy."""
    per = [service_metrics(r) for r in results]
    types = [
        a
        for a in results[0].tables.acc_ids
        if any(a in s["accelerators"] for m in per for s in m.values())
    ]
    width = 0.8 / len(results)
    x = np.arange(len(types))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for k, (r, m) in enumerate(zip(results, per, strict=True)):
        cost, carbon = [], []
        for a in types:
            got = [s["accelerators"][a] for s in m.values() if a in s["accelerators"]]
            tok = sum(g["tokens"] for g in got)
            cost.append(sum(g["cost"] for g in got) / tok * 1e6 if tok > 0 else np.nan)
            carbon.append(sum(g["carbon_kg"] for g in got) / tok * 1e6 if tok > 0 else np.nan)
        c = COLOURS[k % len(COLOURS)]
        ax1.bar(x + k * width, cost, width, color=c, label=f"{r.policy} ({r.serving_policy})")
        ax2.bar(x + k * width, carbon, width, color=c)
    for ax in (ax1, ax2):
        ax.set_xticks(x + width * (len(results) - 1) / 2, types, rotation=15)
        ax.grid(alpha=0.3, axis="y")
    ax1.set_ylabel(f"net energy cost per million tokens ({results[0].scenario.currency})")
    ax2.set_ylabel("kg CO₂ per million tokens")
    ax1.legend(fontsize=8)
    fig.suptitle("Services: cost and carbon per million tokens by accelerator type")
    fig.tight_layout()
    _save(fig, path)


def plot_job_size(path: Path, r: SimResult, j: int) -> None:
    """Devices job *j* held over the run as a step line (:func:`size_steps`); its restarts
    (devices held, not yet computing) shaded, its gang dashed and its range dotted."""
    jobs = r.jobs
    fig, ax = plt.subplots(figsize=(9, 4))
    history = size_history(r, j)
    xs, ys = size_steps(history)
    ax.plot(np.asarray(xs) / 3600.0, ys, color=COLOURS[0], lw=1.6, label="devices held")
    for k, s in enumerate(history):
        a, c = s["start_s"] / 3600.0, s["compute_s"] / 3600.0
        ax.axvspan(a, c, color=COLOURS[3], alpha=0.3, lw=0, label="restart" if k == 0 else None)
    for n, label in ((jobs.gang[j], "gang"), (jobs.gang_min[j], None), (jobs.gang_max[j], None)):
        ax.axhline(n, color="grey", lw=0.8, ls="--" if label else ":", label=label)
    ax.set_ylim(0, jobs.gang_max[j] * 1.1)
    ax.set_xlabel(f"hours from {r.scenario.start.isoformat()}")
    ax.set_ylabel("devices held")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(
        f"{r.policy}: job {jobs.ids[j]}, resized {int(r.resizes[j])} times "
        f"(range {jobs.gang_min[j]}–{jobs.gang_max[j]})"
    )
    fig.tight_layout()
    _save(fig, path)


def write_plots(out: Path, results: Sequence[SimResult]) -> list[Path]:
    """All report plots; returns their paths (the services' only for runs with services, a
    job's size over time only for runs that resized a job: the one resized most often)."""
    paths = []
    for r in results:
        p = out / f"utilisation-power-{r.policy}.png"
        plot_utilisation_power(p, r)
        paths.append(p)
        j = most_resized(r)
        if j is not None:
            p = out / f"job-size-{r.policy}.png"
            plot_job_size(p, r, j)
            paths.append(p)
        if r.services:
            p = out / f"services-{r.policy}.png"
            plot_services(p, r)
            paths.append(p)
    if any(r.services for r in results):
        plot_service_cost_carbon(out / "services-cost-carbon.png", results)
        paths.append(out / "services-cost-carbon.png")
    for name, fn in (
        ("cost-carbon.png", plot_cost_carbon),
        ("jct-cdf.png", plot_jct_cdf),
        ("map.png", plot_map),
    ):
        fn(out / name, results)
        paths.append(out / name)
    return paths
