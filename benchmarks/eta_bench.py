"""How far off is the expected start that ``/why`` and ``suanli jobs why`` give?

For each scenario and policy, a simulation with a probe: every job still waiting after the
round of its arrival gets its expected start from :func:`suanli.core.outlook.outlook` (the
function the live control plane answers with), compared at the end with its real start
(:mod:`suanli.experiment.outlook`). Scenarios: the larger fidelity case (175 jobs in six
hours on 32 devices, busy) and any given by name or path.

Run: ``python benchmarks/eta_bench.py [--scenarios cn-hubs-2026,...] [--policies fifo,...]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from suanli.config import load_scenario
from suanli.experiment.outlook import measure

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="fidelity-busy")
    ap.add_argument("--policies", default="fifo,backfill,suanli")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fidelity_bench import scenario as busy

    print(
        "| scenario | policy | waited at arrival | started | median abs. error (h) | "
        "p90 abs. error (h) | median signed error (h) | median error ÷ wait | median wait (h) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.scenarios.split(","):
        sc = busy(6, 4) if name == "fidelity-busy" else load_scenario(name)
        for pol in args.policies.split(","):
            t0 = time.perf_counter()
            e = measure(sc, pol)
            print(
                f"| {name} | {pol} | {e.probed} | {e.started} | {e.median_abs_error_h:.3f} | "
                f"{e.p90_abs_error_h:.3f} | {e.median_error_h:+.3f} | {e.median_rel_error:.2f} | "
                f"{e.median_wait_h:.3f} |  <!-- {time.perf_counter() - t0:.0f} s -->",
                flush=True,
            )


if __name__ == "__main__":
    main()
