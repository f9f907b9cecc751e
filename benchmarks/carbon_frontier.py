"""The cost–carbon frontier of ``suanli`` (issue 13): its carbon price swept on each scenario,
against ``greedy-cost`` (the cheapest energy, carbon ignored) in the same run.

For scenario *s* with the mean electricity price ``p̄`` (currency/kWh, before subsidies, over its
sites and hours) and mean grid carbon ``ḡ`` (kg/kWh, over its sites and hours), the price at which a
kWh's carbon costs as much as the kWh itself is ``π₁ = 1000 · p̄ / ḡ`` per tonne. ``suanli``
runs with ``carbon_price = f · π₁`` for each ``f`` of ``--fractions`` (0: none), so that one
grid of fractions means the same on fleets in different currencies and grids; its average
JCT, net energy cost and carbon are reported as ratios to ``greedy-cost``'s, with the
target region of the issue (carbon ≤ 0.90 × at cost ≤ 1.05 ×) marked on the plot.

Run: ``python benchmarks/carbon_frontier.py [--scenarios a,b] [--fractions 0,0.25,...]
[--plot docs/img/carbon-frontier.png] [--json out.json]``. Cases run on all cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

SCENARIOS = ("cn-hubs-2026-batch", "cn-hubs-2026-busy", "eu-na-2026")
FRACTIONS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)


def parity_price(scenario: str) -> tuple[float, str]:
    """``π₁`` (module docstring) per tonne, and the scenario's currency."""
    from suanli.config import load_scenario
    from suanli.core.tables import build_tables

    sc = load_scenario(scenario)
    t = build_tables(sc)
    price = float(t.price.mean())
    return 1000.0 * price / max(float(t.carbon.mean()), 1e-9), sc.currency


def case(scenario: str, policy: str, carbon_price: float | None) -> dict[str, Any]:
    """One run as ``suanli simulate`` makes it (the scenario's seed; services left out), with
    ``suanli``'s carbon price set when given."""
    from suanli.config import load_scenario
    from suanli.core.tables import build_tables
    from suanli.experiment.run import Run, default_seed, run_policy, scenario_workload
    from suanli.policy.registry import DEFAULT_SERVING_POLICY
    from suanli.report.metrics import compute_metrics

    sc = load_scenario(scenario)
    sc = dataclasses.replace(sc, services=(), user_regions=())
    if carbon_price is not None:
        params = {k: dict(v) for k, v in sc.policy_params.items()}
        params.setdefault(policy, {})["carbon_price"] = carbon_price
        sc = dataclasses.replace(sc, policy_params=params)
    seed = default_seed(sc)
    sc, jobs = scenario_workload(sc, seed)
    run = Run(sc, build_tables(sc), jobs, seed, False, "best-fit", DEFAULT_SERVING_POLICY)
    r = run_policy(run, policy)
    m = compute_metrics(r)
    return {
        "scenario": scenario,
        "policy": policy,
        "carbon_price": carbon_price,
        "jct_h": m["jct_h"]["mean"],
        "cost": m["cost"]["net"],
        "carbon_t": m["carbon_t"],
        "wall_s": r.wall_s,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Carbon against cost, each as a ratio to ``greedy-cost``, one line per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=120)
    xs: list[float] = []
    ys: list[float] = []
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        base = next(r for r in rows if r["scenario"] == sc and r["policy"] == "greedy-cost")
        pts = [r for r in rows if r["scenario"] == sc and r["policy"] == "suanli"]
        pts.sort(key=lambda r: r["fraction"])
        x = [r["cost"] / base["cost"] for r in pts]
        y = [r["carbon_t"] / base["carbon_t"] for r in pts]
        xs += x
        ys += y
        (line,) = ax.plot(x, y, marker="o", label=sc)
        for r, xi, yi in zip(pts, x, y, strict=True):
            ax.annotate(
                f"{r['carbon_price']:,.0f} {r['currency']}",
                (xi, yi),
                textcoords="offset points",
                xytext=(5, -3),
                fontsize=7,
                color=line.get_color(),
            )
    x0, x1 = min([0.93, *xs]) - 0.01, max([1.07, *xs]) + 0.02
    y0, y1 = min([0.78, *ys]) - 0.02, 1.03
    ax.fill_between([x0, 1.05], y0, 0.90, color="#2ca02c", alpha=0.12, label="target")
    ax.plot([1.0], [1.0], marker="s", color="black", label="greedy-cost")
    ax.set_xlabel("net energy cost ÷ greedy-cost's")
    ax.set_ylabel("carbon ÷ greedy-cost's")
    ax.set_title("suanli's carbon price swept (labels: price per tonne CO₂e)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per scenario, greedy-cost and suanli at each price, ratios to greedy-cost."""
    out = [
        "| scenario | policy | carbon price (per t) | × parity | avg JCT (h) | net cost | "
        "× greedy-cost | carbon (t) | × greedy-cost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        sel = [r for r in rows if r["scenario"] == sc]
        base = next(r for r in sel if r["policy"] == "greedy-cost")
        for r in sorted(sel, key=lambda r: (r["policy"] != "greedy-cost", r["fraction"])):
            price = (
                "–" if r["carbon_price"] is None else f"{r['carbon_price']:,.0f} {r['currency']}"
            )
            frac = "–" if r["policy"] == "greedy-cost" else f"{r['fraction']:g}"
            out.append(
                f"| {sc} | {r['policy']} | {price} | {frac} | {r['jct_h']:.3f} | "
                f"{r['cost']:,.0f} | {r['cost'] / base['cost']:.3f} | {r['carbon_t']:,.1f} | "
                f"{r['carbon_t'] / base['carbon_t']:.3f} |"
            )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--fractions", default=",".join(f"{f:g}" for f in FRACTIONS))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--from-json", type=Path, help="table and plot of an earlier --json")
    args = ap.parse_args()
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
        print(table(rows))
        if args.plot:
            plot(rows, args.plot)
        return
    scenarios = [s for s in args.scenarios.split(",") if s]
    fractions = [float(f) for f in args.fractions.split(",") if f]
    parity = {s: parity_price(s) for s in scenarios}
    cases: list[tuple[str, str, float | None, float]] = []
    for s in scenarios:
        cases.append((s, "greedy-cost", None, 0.0))
        cases += [(s, "suanli", f * parity[s][0], f) for f in fractions]
    with ProcessPoolExecutor(args.workers) as ex:
        futures = [ex.submit(case, s, p, c) for s, p, c, _ in cases]
        rows = []
        for (s, _, _, f), fut in zip(cases, futures, strict=True):
            r = fut.result()
            rows.append({**r, "fraction": f, "currency": parity[s][1], "parity": parity[s][0]})
            print(f"{s} {r['policy']} {r['carbon_price']} done in {r['wall_s']:.0f} s", flush=True)
    print(table(rows))
    if args.plot:
        plot(rows, args.plot)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
