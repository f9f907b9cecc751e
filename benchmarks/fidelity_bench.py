"""Fidelity, the larger case: hundreds of jobs through real Slurm, against the simulator.

Two local Slurm clusters (devtools/slurm_local.py), one per site, of ``--nodes`` nodes × 4
fake GPUs (H100 at east, A100 at west), run the jobs of ``tests/fixtures/fidelity.yaml``
scaled to this fleet (arrivals in proportion to the devices, ``--hours`` of them) through
the live control plane, ``--scale`` times faster than real time, for each policy; then the
simulator runs the same jobs, plain and with the dispatch latency the live run measured.
The table compares them (:mod:`suanli.experiment.fidelity`; docs/fidelity.md); the
simulator is the baseline, and every figure is live against it.

Run (as root, with Slurm installed): ``python benchmarks/fidelity_bench.py`` — about 15
minutes a policy at the defaults (about 230 jobs); ``--nodes 2 --hours 2 --scale 30`` is
the CI case's fleet and jobs, slower.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from suanli.config import parse_scenario
from suanli.experiment import fidelity
from suanli.experiment.run import scenario_workload
from suanli.scenarios import builtin_dir
from suanli.sites.config import load_sites

ROOT = Path(__file__).resolve().parents[1]
GPUS = 4


def scenario(hours: int, nodes: int) -> Any:
    """The fidelity fixture on ``nodes`` × 4 devices a site (arrivals in proportion),
    ``hours`` long."""
    data = yaml.safe_load((ROOT / "tests/fixtures/fidelity.yaml").read_text())
    data["horizon"]["hours"] = hours
    for s in data["sites"]:
        for p in s["pools"]:
            p["count"] = nodes * GPUS
    for c in data["workload"]["generator"]["classes"]:
        c["jobs_per_day"] *= nodes / 2
    data["name"] = f"fidelity-{nodes}x{GPUS}"
    return parse_scenario(yaml.safe_dump(data), data["name"], builtin_dir())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", default="fifo,suanli")
    ap.add_argument("--scale", type=float, default=30.0, help="scenario seconds per second")
    ap.add_argument("--hours", type=int, default=8, help="hours of arrivals")
    ap.add_argument("--nodes", type=int, default=4, help="nodes of 4 GPUs a site")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))  # devtools/
    from devtools.slurm_local import (
        LocalMunge,
        LocalSlurmCluster,
        NodeShape,
        pick_free_ports,
        start_all,
    )
    from devtools.slurm_local import unavailable_reason as slurm_unavailable

    reason = slurm_unavailable()
    if reason:
        sys.exit(reason)
    sc = scenario(args.hours, args.nodes)
    nodes = args.nodes
    _, jobs = scenario_workload(sc, 11)
    jobs = fidelity.prepare(jobs)
    base = Path(tempfile.mkdtemp(prefix="suanli-fid-"))
    munge = LocalMunge(base / "munge")
    munge.start()
    ports = pick_free_ports(2 * (nodes + 1))
    clusters = [
        LocalSlurmCluster(
            base / name,
            name=name,
            nodes=[NodeShape(GPUS, gres, 8)] * nodes,
            munge=munge,
            ports=ports[k * (nodes + 1) : (k + 1) * (nodes + 1)],
        )
        for k, (name, gres) in enumerate((("fbe", "h100"), ("fbw", "a100")))
    ]
    start_all(clusters)
    results: dict[str, Any] = {"jobs": len(jobs), "scale": args.scale, "hours": args.hours}
    try:
        sites = load_sites(
            {
                "device_types": {"nvidia_h100_sxm5": "h100", "nvidia_a100_sxm4_80g": "a100"},
                "sites": {
                    site: {"backend": "slurm", "slurm_conf": str(c.conf_path), "allow_root": True}
                    for site, c in zip(("east", "west"), clusters, strict=True)
                },
            },
            sc,
        )
        for policy in args.policies.split(","):
            t0 = time.monotonic()
            live = fidelity.replay_live(sc, jobs, policy, sites, scale=args.scale)
            took = time.monotonic() - t0
            plain = fidelity.compare(jobs, live, fidelity.simulate(sc, jobs, policy))
            sim = fidelity.simulate(sc, jobs, policy, dispatch_s=live.dispatch_latency_s)
            modelled = fidelity.compare(jobs, live, sim)
            print(f"\n{policy}: {len(jobs)} jobs, live replay {took:.0f} s at ×{args.scale:g}")
            print(f"dispatch latency (scenario s, mean): {live.dispatch_latency_s}")
            print(f"release latency (scenario s, mean): {live.release_latency_s}")
            print("| | simulator | with dispatch latency |")
            print("|---|---:|---:|")
            for (label, a), (_, b) in zip(plain.rows(), modelled.rows(), strict=True):
                print(f"| {label} | {a} | {b} |")
            results[policy] = {
                "live_s": took,
                "dispatch_latency_s": dict(live.dispatch_latency_s),
                "release_latency_s": dict(live.release_latency_s),
                "plain": dict(plain.rows()),
                "modelled": dict(modelled.rows()),
            }
    finally:
        for c in clusters:
            c.stop()
        munge.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
