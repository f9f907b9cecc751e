"""Alibaba's openb GPU-sharing trace (cluster-trace-gpu-v2023) → suanli trace.

Input: a pod list (``openb_pod_list_*.csv``: name, cpu_milli, memory_mib, num_gpu,
gpu_milli, gpu_spec, qos, pod_phase, creation_time, deletion_time,
scheduled_time; times in seconds) and the node list beside it
(``openb_node_list_gpu_node.csv``: sn, cpu_milli, memory_mib, gpu, model). A
folder is read as its ``openb_pod_list_default.csv``. Mapping:

* ``id`` = pod name; ``submit_s`` = ``creation_time``;
* ``gang`` = ``num_gpu``; ``device_fraction`` = ``gpu_milli`` / 1000 for one-GPU
  pods that ask for less than a whole GPU (multi-GPU pods always take whole GPUs);
* ``duration_s`` = ``deletion_time`` − ``scheduled_time``; a pod never scheduled
  (``Pending``) gets ``deletion_time`` − ``creation_time``, the time it stayed in
  the system (assumption: it would have run that long); reference ``alibaba_openb_g2``,
  the cluster's dominant model (assumption: lifetimes are wall-clock holding
  times, not work, so which model they "ran on" is a convention);
* ``accepted_types`` = ``gpu_spec`` (``A10|T4``) mapped to catalog ids, repeats dropped;
* ``tenant`` = ``openb-<qos>`` (ls, be, burstable, guaranteed): the trace has no users;
  ``priority`` 1 for LS and Guaranteed, 0 otherwise; ``preemptible`` only for BE;
* ``profile``: BE pods (batch) ``dl-training``; the others (latency-sensitive
  services) ``openb-inference``, defined in the trace's metadata (batch-inference
  kind, FP16/INT8, 30 FLOP/byte, 8 GB: fits every model, also when sharing).

Elastic jobs (option): ``elastic_share`` *s* makes round(*s* × pods) of the kept
whole-GPU pods (fractional pods stay on their share of one device), drawn uniformly
with a numpy Generator seeded with ``seed``, elastic from ``gang`` to ``gang_max`` =
2 × ``gang``, with no measured scaling (an assumption: the trace has no resizing).

Skipped with a count: CPU-only pods (``num_gpu`` 0: not accelerator work);
multi-GPU pods with ``gpu_milli`` < 1000; unknown GPU models; non-numeric
fields; a lifetime ≤ 0. Pod lists without times (the ``multigpu*`` variants) are
rejected: they describe packing, not a workload over time.

Own fleet: one pool per GPU model with the node list's GPU count; nodes of one
model come in several sizes (T4: 2 and 4 GPUs), so a pool's ``devices_per_node`` is
the greatest common divisor of its node sizes (device counts stay exact).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanli.errors import InputError, Problem
from suanli.trace.sources.common import (
    Conversion,
    Skips,
    assemble,
    check_elastic_options,
    elastic_gang_max,
    elastic_meta,
    not_whole,
    numbers,
    read_source_csv,
    skipped_note,
    text,
)

MODELS: Mapping[str, str] = {
    "T4": "nvidia_t4",
    "P100": "nvidia_p100_pcie_16g",
    "V100M16": "nvidia_v100_sxm2_16g",
    "V100M32": "nvidia_v100_sxm2_32g",
    "A10": "nvidia_a10",
    "G2": "alibaba_openb_g2",
    "G3": "alibaba_openb_g3",
}
REFERENCE = "alibaba_openb_g2"
POD_COLUMNS = (
    "name",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)
NODE_COLUMNS = ("sn", "gpu", "model")
DEFAULT_PODS = "openb_pod_list_default.csv"
NODES = "openb_node_list_gpu_node.csv"
INFERENCE_PROFILE = {
    "openb-inference": {
        "kind": "batch_inference",
        "precisions": ["fp16", "int8"],
        "flops_per_byte": 30,
        "memory_gb": 8,
        "power_factor": 0.6,
        "source": "ASSUMPTION: openb latency-sensitive pods are small inference services "
        "(up to a whole 16 GB GPU; many share one), memory-bound like batched decode",
    }
}


def convert_openb(
    path: Path,
    *,
    strict: bool = False,
    nodes: Path | None = None,
    elastic_share: float = 0.0,
    seed: int = 0,
) -> Conversion:
    """Convert an openb pod list (or a folder: its default list); see the module docstring."""
    check_elastic_options(elastic_share, seed)
    rng = np.random.default_rng(seed)
    pods_path = path / DEFAULT_PODS if path.is_dir() else path
    node_path = nodes or pods_path.parent / NODES
    header = pods_path.read_bytes().split(b"\n", 1)[0].decode() if pods_path.is_file() else ""
    if header and "creation_time" not in header:
        raise InputError(
            [
                Problem(
                    str(pods_path),
                    "header",
                    "this pod list has no creation/deletion times",
                    "convert a list with times: default, gpushare*, gpuspec*, cpu*",
                )
            ]
        )
    raw = read_source_csv(pods_path, POD_COLUMNS, "openb pod list")
    n = raw.num_rows
    skips = Skips(n, str(pods_path), strict)
    num_gpu = numbers(text(raw, "num_gpu"))
    milli = numbers(text(raw, "gpu_milli"))
    created = numbers(text(raw, "creation_time"))
    deleted = numbers(text(raw, "deletion_time"))
    scheduled = numbers(text(raw, "scheduled_time"))
    qos = pc.utf8_lower(text(raw, "qos")).to_pylist()
    specs = text(raw, "gpu_spec").to_pylist()
    skips.add(not_whole(num_gpu, 0), "num_gpu is not a whole number ≥ 0")
    skips.add(num_gpu == 0, "CPU-only pod (num_gpu 0)")
    with np.errstate(invalid="ignore"):
        skips.add(~((milli > 0) & (milli <= 1000)), "gpu_milli not in 1..1000")
        skips.add((num_gpu > 1) & (milli < 1000), "multi-GPU pod with gpu_milli < 1000")
    skips.add(np.isnan(created) | np.isnan(deleted), "creation_time or deletion_time missing")
    pending = np.isnan(scheduled)
    lifetime = deleted - np.where(pending, created, scheduled)
    with np.errstate(invalid="ignore"):
        skips.add(~(lifetime > 0), "lifetime ≤ 0")
    skips.add(np.array([not q for q in qos]), "qos is empty")
    accepted: list[str | None] = []
    for r, spec in enumerate(specs):
        codes = [c for c in spec.split("|") if c] if spec else []
        unknown = [c for c in codes if c not in MODELS]
        if unknown:
            skips.add_row(r, f"unknown GPU model {unknown[0]!r}")
        ids = list(dict.fromkeys(MODELS[c] for c in codes if c in MODELS))
        accepted.append("|".join(ids) or None)
    skips.check_strict()
    keep = skips.keep
    be = np.array([q == "be" for q in qos])
    frac = np.where((num_gpu == 1) & (milli < 1000), milli / 1000.0, np.nan)
    gang = np.where(keep, num_gpu, 1).astype(np.int64)
    columns = {
        "id": text(raw, "name"),
        "tenant": pa.array([f"openb-{q}" if q else None for q in qos]),
        "submit_s": created,
        "gang": gang,
        "gang_max": elastic_gang_max(gang, keep & np.isnan(frac), elastic_share, rng),
        "device_fraction": pa.array(frac, mask=np.isnan(frac)),
        "duration_s": lifetime,
        "profile": pa.array(np.where(be, "dl-training", "openb-inference")),
        "accepted_types": pa.array(accepted, type=pa.string()),
        "preemptible": pa.array(be),
        "priority": pa.array(np.where(np.isin(qos, ["ls", "guaranteed"]), 1, 0)),
    }
    fleet = _fleet(node_path)
    counts = skips.counts()
    converter, elastic_notes = elastic_meta(
        "suanli trace convert --from openb", elastic_share, seed
    )
    notes = (
        f"lifetimes taken as run time on {REFERENCE} (the dominant model)",
        f"{int(np.sum(keep & pending))} pending pods kept with lifetime = deletion − creation",
        "tenants = QoS classes; fractional GPUs in device_fraction",
        "own fleet: devices_per_node = gcd of the node sizes of each model",
        *elastic_notes,
    )
    meta = {
        "source": f"openb: {pods_path.name} + {node_path.name}",
        "converter": converter,
        "reference": REFERENCE,
        "fleet": fleet,
        "fleet_name": "openb",
        "profiles": json.dumps(INFERENCE_PROFILE, sort_keys=True, separators=(",", ":")),
        "skipped": skipped_note(counts),
        "notes": " | ".join(notes),
    }
    trace = assemble(columns, keep, meta, f"openb:{pods_path}")
    return Conversion(trace, n, counts, notes)


def _fleet(node_path: Path) -> str:
    """The fleet spec of the node list: per model, GPUs and the gcd of node sizes."""
    raw = read_source_csv(node_path, NODE_COLUMNS, "openb node list")
    gpus = numbers(text(raw, "gpu"))
    models = text(raw, "model").to_pylist()
    by_model: dict[str, list[int]] = {}
    for g, m in zip(gpus.tolist(), models, strict=True):
        if not m or not g or math.isnan(g):
            continue
        if m not in MODELS:
            raise InputError(
                [
                    Problem(
                        str(node_path),
                        "model",
                        f"unknown GPU model {m!r}",
                        f"known: {', '.join(MODELS)}",
                    )
                ]
            )
        by_model.setdefault(m, []).append(int(g))
    return " ".join(
        f"{MODELS[m]}:{sum(sizes)}:{reduce(math.gcd, sizes)}"
        for m, sizes in sorted(by_model.items(), key=lambda kv: MODELS[kv[0]])
    )
