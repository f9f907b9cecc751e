"""The scheduler benchmark of issue 5: every policy on the national default week and on
Philly replayed on a three-generation fleet, as ratios to ``fifo`` from the same run.

* ``cn-hubs-2026-batch`` (the national default without its services), seed 2026 (the
  scenario's): fifo, backfill, greedy-cost, las, maxmin-het, suanli — average JCT, energy
  cost (net), carbon, worst tenant mean ρ.
* Philly (``../shared/data``) converted and replayed on ``philly-hetero`` (800 V100,
  800 A100, 400 H100) at offered load ``--philly-load`` (default 0.8), drained.

Runs the cases on all cores. Writes a markdown table to stdout (and ``--json``).
Run: ``python benchmarks/scheduler_bench.py [--data ../shared/data]``.

``--targets`` (issue 13) runs instead fifo, backfill, las, greedy-cost and suanli on three
scenarios — ``cn-hubs-2026-batch`` (the default week without its services, comparable with
the figures above), ``cn-hubs-2026-busy`` (the same week at offered load 0.9: queues form) and
``eu-na-2026`` (with its services, scaled by the default serving policy, as ``suanli
simulate`` runs it: it has no batch-only variant) — each with the scenario's own seed, as
``suanli simulate`` does, and prints a table per scenario, the mean wait and the mean time in
system by gang size, and a targets table with PASS/MISS for the issue's targets
(:func:`targets`). ``--md FILE`` writes the same markdown to a file; ``--seed N`` draws
every scenario's workload with seed N instead (the targets must hold on other draws too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POLICIES = ("fifo", "backfill", "greedy-cost", "las", "maxmin-het", "suanli")
PHILLY_POLICIES = ("fifo", "backfill", "las", "maxmin-het", "suanli")


def default_case(policy: str) -> dict[str, Any]:
    """One policy on the national default week."""
    import numpy as np

    from suanli.config import load_scenario
    from suanli.policy.registry import make_policy
    from suanli.report.metrics import compute_metrics
    from suanli.sim.engine import Simulator
    from suanli.workload.generator import generate_jobs

    sc = load_scenario("cn-hubs-2026-batch")
    jobs = generate_jobs(sc, np.random.default_rng(2026))
    r = Simulator(sc, jobs, make_policy(policy, sc.policy_params.get(policy)), seed=2026).run()
    return {"case": "cn-hubs-2026", "policy": policy, "wall_s": r.wall_s, **compute_metrics(r)}


#: ``--targets``: the scenarios, and the policies run on each (suanli against every baseline).
TARGET_SCENARIOS = ("cn-hubs-2026-batch", "cn-hubs-2026-busy", "eu-na-2026")
TARGET_POLICIES = ("fifo", "backfill", "las", "greedy-cost", "suanli")
#: Target (2): suanli's carbon at most this share of greedy-cost's …
CARBON_SHARE = 0.90
#: … at a net cost at most this share of greedy-cost's.
COST_SHARE = 1.05
#: Target (3): no gang-size bucket waits longer on average under suanli than this many times
#: its mean wait under backfill …
WAIT_RATIO = 1.5
#: … where a bucket whose mean wait under backfill is below this floor (hours) is compared
#: with the floor instead (1.5 × 0.05 h = 4.5 minutes), so that a bucket backfill starts at
#: once does not fail on seconds.
WAIT_FLOOR_H = 0.05
#: Gang-size buckets (devices asked for): label, largest gang in it.
GANG_BUCKETS = (
    ("1", 1.0),
    ("2-8", 8.0),
    ("9-32", 32.0),
    ("33-128", 128.0),
    ("129-512", 512.0),
    ("513+", math.inf),
)


def target_case(scenario: str, policy: str, seed: int | None = None) -> dict[str, Any]:
    """One policy on one scenario as ``suanli simulate`` runs it: the scenario's seed (or
    ``seed``: another draw of its workload), its services (if any) scaled by the default
    serving policy."""
    from suanli.config import load_scenario
    from suanli.core.tables import build_tables
    from suanli.experiment.run import Run, default_seed, run_policy, scenario_workload
    from suanli.policy.registry import DEFAULT_SERVING_POLICY
    from suanli.report.metrics import compute_metrics

    sc = load_scenario(scenario)
    seed = default_seed(sc) if seed is None else seed
    sc, jobs = scenario_workload(sc, seed)
    run = Run(sc, build_tables(sc), jobs, seed, False, "best-fit", DEFAULT_SERVING_POLICY)
    r = run_policy(run, policy)
    m = compute_metrics(r)
    source = "metrics" if "wait_by_gang" in m else "bench"
    if source == "bench":
        m["wait_by_gang"] = wait_by_gang(r)
    return {
        "case": scenario,
        "policy": policy,
        "seed": seed,
        "wall_s": r.wall_s,
        "wait_by_gang_from": source,
        **m,
    }


def cached_target_case(
    scenario: str, policy: str, cache: Path | None, seed: int | None = None
) -> dict[str, Any]:
    """:func:`target_case`, kept as JSON in ``cache`` (read back if there, so that a run
    cut short resumes); a case that fails is a row with its ``error`` (not kept)."""
    name = f"{scenario}__{policy}" if seed is None else f"{scenario}__{policy}__seed{seed}"
    path = cache / f"{name}.json" if cache else None
    if path is not None and path.is_file():
        row: dict[str, Any] = json.loads(path.read_text())
        return row
    try:
        row = target_case(scenario, policy, seed)
    except Exception as exc:  # one failing policy must not lose the others
        return {"case": scenario, "policy": policy, "error": f"{type(exc).__name__}: {exc}"}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, default=str))
    return row


def wait_by_gang(r: Any) -> list[dict[str, Any]]:
    """Wait per gang-size bucket of a run, as ``metrics["wait_by_gang"]`` gives it (used while
    that metric is not there): the jobs that started, each waiting from its submission to
    its first start, as ``queueing_delay_h``."""
    import numpy as np

    submit = r.jobs.submit_array()
    started = ~np.isnan(r.first_start)
    wait_h = (r.first_start - submit) / 3600.0
    gang = np.asarray(r.jobs.gang, dtype=float)
    out: list[dict[str, Any]] = []
    low = 0.0
    for label, high in GANG_BUCKETS:
        sel = started & (gang > low) & (gang <= high)
        w = wait_h[sel]
        out.append(
            {
                "gangs": label,
                "jobs": int(sel.sum()),
                "mean_wait_h": float(w.mean()) if w.size else math.nan,
                "p95_wait_h": float(np.percentile(w, 95)) if w.size else math.nan,
            }
        )
        low = high
    return out


def philly_case(trace: str, load: float, policy: str) -> dict[str, Any]:
    """One policy on Philly replayed on philly-hetero."""
    from suanli.policy.registry import make_policy
    from suanli.report.metrics import compute_metrics
    from suanli.sim.engine import Simulator
    from suanli.trace.replay import replay

    rp = replay(trace, "philly-hetero", target_load=load)
    r = Simulator(rp.scenario, rp.jobs, make_policy(policy), drain=True).run()
    return {"case": f"philly@{load:g}", "policy": policy, "wall_s": r.wall_s, **compute_metrics(r)}


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: policies × metrics, with ratios to fifo."""
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        sel = {r["policy"]: r for r in rows if r["case"] == case}
        base = sel["fifo"]
        out.append(f"\n**{case}**\n")
        out.append(
            "| policy | avg JCT (h) | vs fifo | p99 JCT (h) | queueing (h) | net cost | vs fifo | "
            "carbon (t) | vs fifo | worst tenant ρ | unfinished | sim time (s) |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for pol, r in sel.items():
            jct, cost, co2 = r["jct_h"]["mean"], r["cost"]["net"], r["carbon_t"]
            out.append(
                f"| {pol} | {jct:.2f} | {jct / base['jct_h']['mean']:.2f} | "
                f"{r['jct_h']['p99']:.1f} | {r['queueing_delay_h']['mean']:.2f} | "
                f"{cost:,.0f} | {cost / base['cost']['net']:.2f} | "
                f"{co2:,.0f} | {co2 / base['carbon_t']:.2f} | "
                f"{r['fairness']['max_tenant_mean_rho']:.2f} | {r['jobs']['unfinished']:,} | "
                f"{r['wall_s']:.0f} |"
            )
    return "\n".join(out)


def targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's three targets per scenario, each ``{"scenario", "target", "pass", "detail"}``:
    (1) suanli's average JCT below every other policy's; (2) suanli's carbon at most
    :data:`CARBON_SHARE` of greedy-cost's at a net cost at most :data:`COST_SHARE` of
    greedy-cost's; (3) in every gang-size bucket, suanli's mean wait at most
    :data:`WAIT_RATIO` × backfill's (backfill's taken as at least :data:`WAIT_FLOOR_H`)."""
    out: list[dict[str, Any]] = []
    for case in dict.fromkeys(r["case"] for r in rows):
        sel = {r["policy"]: r for r in rows if r["case"] == case}
        if not {"suanli", "greedy-cost", "backfill"} <= set(sel):
            missing = {"suanli", "greedy-cost", "backfill"} - set(sel)
            out.append(
                {
                    "scenario": case,
                    "target": "all",
                    "pass": False,
                    "detail": f"not judged: no run of {', '.join(sorted(missing))}",
                }
            )
            continue
        me = sel["suanli"]
        jct = me["jct_h"]["mean"]
        others = {p: r["jct_h"]["mean"] for p, r in sel.items() if p != "suanli"}
        best = min(others, key=lambda p: others[p])
        out.append(
            {
                "scenario": case,
                "target": "1 avg JCT below every baseline",
                "pass": all(jct < v for v in others.values()),
                "detail": f"suanli {jct:.2f} h, best baseline {best} {others[best]:.2f} h "
                f"({jct / others[best]:.2f}×)",
            }
        )
        g = sel["greedy-cost"]
        co2 = me["carbon_t"] / g["carbon_t"]
        cost = me["cost"]["net"] / g["cost"]["net"]
        out.append(
            {
                "scenario": case,
                "target": f"2 carbon ≤ {CARBON_SHARE:.0%} of greedy-cost, cost ≤ {COST_SHARE:.0%}",
                "pass": co2 <= CARBON_SHARE and cost <= COST_SHARE,
                "detail": f"carbon {co2:.3f}×, net cost {cost:.3f}× greedy-cost's",
            }
        )
        bf = {b["gangs"]: b for b in sel["backfill"]["wait_by_gang"]}
        worst, bad = None, []
        for b in me["wait_by_gang"]:
            base = bf.get(b["gangs"])
            if base is None or not b["jobs"] or not base["jobs"]:
                continue
            mine, theirs = b["mean_wait_h"], base["mean_wait_h"]
            if math.isnan(mine) or math.isnan(theirs):
                continue
            ratio = mine / max(theirs, WAIT_FLOOR_H)
            if worst is None or ratio > worst[1]:
                worst = (b["gangs"], ratio, mine, theirs)
            if ratio > WAIT_RATIO:
                bad.append(b["gangs"])
        detail = (
            f"worst {worst[0]}: {worst[2]:.3f} h vs backfill {worst[3]:.3f} h "
            f"({worst[1]:.2f}× of max(backfill, {WAIT_FLOOR_H:g} h))"
            if worst
            else "no bucket with jobs"
        )
        if bad:
            detail += f"; over {WAIT_RATIO:g}×: {', '.join(bad)}"
        out.append(
            {
                "scenario": case,
                "target": f"3 no gang bucket waits > {WAIT_RATIO:g}× backfill",
                "pass": not bad,
                "detail": detail,
            }
        )
    return out


def gang_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown, per scenario: mean wait (h) by gang-size bucket under each policy."""
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        sel = {r["policy"]: r for r in rows if r["case"] == case}
        pols = list(sel)
        src = {r["wait_by_gang_from"] for r in sel.values()}
        out.append(
            f"\n**{case}: mean wait (h) by gang size** (jobs that started; from "
            f"{' and '.join(sorted(src))})\n"
        )
        out.append("| gangs | jobs (suanli) | " + " | ".join(pols) + " |")
        out.append("|---|---:|" + "---:|" * len(pols))
        by = {p: {b["gangs"]: b for b in r["wait_by_gang"]} for p, r in sel.items()}
        for label, _ in GANG_BUCKETS:
            n = by.get("suanli", {}).get(label, {}).get("jobs", 0)
            cells = []
            for p in pols:
                b = by[p].get(label)
                v = b["mean_wait_h"] if b and b["jobs"] else math.nan
                cells.append("–" if math.isnan(v) else f"{v:.3f}")
            out.append(f"| {label} | {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def time_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown, per scenario: mean time in system (h) by gang-size bucket under each policy
    (``time_in_system_by_gang``: unfinished jobs counted to the end of the run), for the rows
    whose metrics have it (a cached row from before the metric has not)."""
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        sel = {r["policy"]: r for r in rows if r["case"] == case and "time_in_system_by_gang" in r}
        if not sel:
            continue
        pols = list(sel)
        out.append(
            f"\n**{case}: mean time in system (h) by gang size** (finish − submit; end of run − "
            "submit if unfinished)\n"
        )
        out.append("| gangs | " + " | ".join(pols) + " |")
        out.append("|---|" + "---:|" * len(pols))
        by = {p: {b["gangs"]: b for b in r["time_in_system_by_gang"]} for p, r in sel.items()}
        for label, _ in GANG_BUCKETS:
            cells = []
            for p in pols:
                b = by[p].get(label)
                cells.append(f"{b['mean_h']:.2f} ({b['finished']}/{b['jobs']})" if b else "–")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def targets_table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per scenario and target, PASS or MISS."""
    out = ["\n**Targets**\n", "| scenario | target | result | figures |", "|---|---|---|---|"]
    for t in results:
        mark = "PASS" if t["pass"] else "MISS"
        out.append(f"| {t['scenario']} | {t['target']} | {mark} | {t['detail']} |")
    return "\n".join(out)


def run_targets(args: argparse.Namespace) -> None:
    """``--targets``: every policy of :data:`TARGET_POLICIES` on every scenario of
    :data:`TARGET_SCENARIOS`, in worker processes; the tables and the targets."""
    # suanli's runs first: they are the longest, so that the pool ends with short ones.
    cases = sorted(
        ((sc, p) for sc in TARGET_SCENARIOS for p in TARGET_POLICIES),
        key=lambda c: c[1] != "suanli",
    )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {c: pool.submit(cached_target_case, *c, args.cache, args.seed) for c in cases}
        every = [futures[(sc, p)].result() for sc in TARGET_SCENARIOS for p in TARGET_POLICIES]
    rows = [r for r in every if "error" not in r]
    failed = [f"- {r['case']} / {r['policy']}: {r['error']}" for r in every if "error" in r]
    results = targets(rows)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            f"(run {when}, {args.workers} workers, "
            + ("each scenario's own seed)" if args.seed is None else f"seed {args.seed})"),
            table(rows),
            gang_table(rows),
            time_table(rows),
            targets_table(results),
            *(["\n**Runs that failed** (left out above)\n", *failed] if failed else []),
        ]
    )
    print(text)
    if args.md:
        args.md.write_text(text + "\n")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "targets": results}, indent=1, default=str) + "\n"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--philly-load", type=float, default=0.8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--targets",
        action="store_true",
        help="run the issue-13 targets on three scenarios instead of the default week and Philly",
    )
    ap.add_argument("--md", type=Path, help="with --targets: also write the markdown here")
    ap.add_argument(
        "--seed",
        type=int,
        help="with --targets: draw every scenario's workload with this seed, not its own",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        help="with --targets: keep each finished run here as JSON and reuse it next time",
    )
    args = ap.parse_args()
    if args.targets:
        run_targets(args)
        return
    jobs: list[tuple[Any, ...]] = [(default_case, p) for p in POLICIES]
    tmp = tempfile.mkdtemp(prefix="suanli-bench-")
    src = args.data / "traces" / "philly-pollux" / "simulator" / "traces" / "philly.csv"
    if src.is_file():
        from suanli.trace.io import write_trace
        from suanli.trace.sources import convert_source

        trace = str(Path(tmp) / "philly.parquet")
        write_trace(convert_source(src, "philly").trace, trace)
        jobs += [(philly_case, trace, args.philly_load, p) for p in PHILLY_POLICIES]
    else:
        print(f"(Philly not found at {src}: skipped)")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(fn, *a) for fn, *a in jobs]
        rows = [f.result() for f in futures]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
