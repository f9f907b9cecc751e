"""Check the fluid serving model against a request-level simulation of one replica.

For each of Azure LLM 2023 code, Azure conversation and Mooncake conversation (one hour
each), one replica of Qwen2.5-7B (BF16) on one H100 with the calibrated ``cuda``
efficiencies, sized for a 50 ms decode step at the trace's mean context: the fluid capacity
against the simulated replica's, and the SLO attainment of both at loads of the fluid
capacity where the simulated attainment spans about 0.5 … 1 (``suanli.experiment.
serving_check``; docs/serving-check.md). The SLO is one rule for all
(:func:`~suanli.experiment.serving_check.rule_slo`). Exit 1 when a row misses the 5-point
bar.

Run from the repository root::

    .venv/bin/python benchmarks/serving_check.py [--data ../shared/data/inference] \
        [--out serving-check.md] [--window 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from suanli.catalog import load_catalog
from suanli.catalog.models import load_models
from suanli.experiment.serving_check import check_trace, markdown, rule_slo
from suanli.perf.serving import replica_perf
from suanli.perf.serving_defaults import serving_efficiency
from suanli.trace.demand_sources import azure_llm, mooncake

#: The traces, their files under the inference folder and the loads checked: where the
#: simulated attainment under the SLO rule spans about 0.5 … 1 (Azure code is so bursty
#: that a replica reaches it only at a few percent of its capacity).
TRACES = {
    "azure-code": ("azure-llm-2023/AzureLLMInferenceTrace_code.csv", (0.02, 0.05, 0.1, 0.15)),
    "azure-conv": ("azure-llm-2023/AzureLLMInferenceTrace_conv.csv", (0.5, 0.6, 0.7, 0.8, 0.9)),
    "mooncake-conv": ("mooncake/conversation_trace.jsonl", (0.3, 0.5, 0.6, 0.7)),
}
MODEL = "qwen2.5-7b"
ACCELERATOR = "nvidia_h100_sxm5"
DECODE_STEP_S = 0.05


def main() -> int:
    """Run the check and print (and write) the table."""
    here = Path(__file__).resolve().parents[1]
    shared = os.environ.get("SUANLI_SHARED_DATA") or str(here / ".." / "shared" / "data")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(shared) / "inference"), help="inference folder")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    ap.add_argument("--window", type=float, default=300.0, help="fluid model's interval (s)")
    ap.add_argument("--only", default=None, help="one trace: " + ", ".join(TRACES))
    args = ap.parse_args()
    data = Path(args.data)
    model = load_models()[MODEL]
    acc = load_catalog()[ACCELERATOR]
    eff = serving_efficiency(acc.stack)
    rows = []
    slos: list[str] = []
    t0 = time.perf_counter()
    for name, (rel, loads) in TRACES.items():
        if args.only and name != args.only:
            continue
        path = data / rel
        if not path.is_file():
            print(f"{path} not found; pass --data (the shared inference folder)", file=sys.stderr)
            return 2
        reader = mooncake.read_requests if rel.endswith(".jsonl") else azure_llm.read_requests
        trace = reader(path)
        ctx = float(np.mean(trace.input_tokens) + np.mean(trace.output_tokens) / 2)
        perf = replica_perf(model, acc, 1, eff, DECODE_STEP_S, ctx)
        slo = rule_slo(trace, perf)
        print(
            f"{name}: {len(trace)} requests over {trace.span_s:.0f} s; max_batch "
            f"{perf.max_batch}, KV {perf.kv_capacity_tokens:.0f} tokens; "
            f"SLO TTFT {slo.ttft_p99_s:.2f} s, TPOT {slo.tpot_s * 1000:.1f} ms",
            file=sys.stderr,
        )
        rows += check_trace(name, trace, perf, slo, loads, window_s=args.window)
        slos.append(f"{name} TTFT {slo.ttft_p99_s:.2f} s / TPOT {slo.tpot_s * 1000:.1f} ms")
    table = markdown(rows)
    ok = sum(r.agrees for r in rows)
    summary = (
        f"\n{ok} of {len(rows)} rows within 5 points; {time.perf_counter() - t0:.0f} s "
        f"(model {MODEL} on one {ACCELERATOR}, {eff.stack} efficiencies, window "
        f"{args.window:.0f} s; SLOs {'; '.join(slos)})\n"
    )
    print(table + summary)
    if args.out:
        Path(args.out).write_text(table + summary)
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
