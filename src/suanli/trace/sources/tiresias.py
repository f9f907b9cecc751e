"""Tiresias simulator traces (``60_job.csv``, ``tf_job.csv``) → suanli trace.

Two job layouts are read (by their header): ``job_id, num_gpu, submit_time,
iterations, model_name, duration, interval`` and ``job_id, num_gpu,
submit_time, start_time, duration, model_size, aggr_interval, model_name,
model_scale``. Mapping:

* ``id`` = ``tiresias-<job_id>``; ``tenant`` = ``tiresias``; ``submit_s`` = ``submit_time``;
* ``gang`` = ``num_gpu``; ``duration_s`` = ``duration`` (seconds) on
  ``nvidia_p100_pcie_16g`` (assumption: Tiresias' testbed, 15 servers of 4 P100
  in the NSDI'19 paper); ``profile`` ``dl-training``; ``x_model`` = ``model_name``.

A row repeating an earlier row exactly is skipped as a duplicate (``tf_job.csv``
lists its one job twice); other rows with the same ``job_id`` get ``-2``, ``-3``…
Rows with missing or non-numeric fields, ``num_gpu`` < 1 or ``duration`` ≤ 0 are
skipped and counted.

Own fleet: the cluster file beside the trace (``cluster_spec.csv``, or the one
given: ``num_switch, num_node_p_switch, num_gpu_p_node, …``) → switches × nodes ×
GPUs per node P100s, in nodes of ``num_gpu_p_node``. The ``yarn-gput*.csv`` files
are GPU-time samples without arrivals (inputs to the Gittins index), not job
traces, and are rejected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from suanli.errors import InputError, Problem
from suanli.trace.sources.common import (
    Conversion,
    Skips,
    assemble,
    not_whole,
    numbers,
    read_source_csv,
    skipped_note,
    text,
)

REFERENCE = "nvidia_p100_pcie_16g"
COLUMNS = ("job_id", "num_gpu", "submit_time", "duration", "model_name")
CLUSTER_COLUMNS = ("num_switch", "num_node_p_switch", "num_gpu_p_node")


def convert_tiresias(
    path: Path, *, strict: bool = False, cluster: Path | None = None
) -> Conversion:
    """Convert a Tiresias job CSV; see the module docstring."""
    header = path.read_bytes().split(b"\n", 1)[0].decode().strip() if path.is_file() else ""
    if header == "duration":
        raise InputError(
            [
                Problem(
                    str(path),
                    "header",
                    "a sample of GPU times without arrivals, not a job trace",
                    "convert 60_job.csv or tf_job.csv",
                )
            ]
        )
    raw = read_source_csv(path, COLUMNS, "Tiresias job trace")
    n = raw.num_rows
    skips = Skips(n, str(path), strict)
    gpus = numbers(text(raw, "num_gpu"))
    submit = numbers(text(raw, "submit_time"))
    duration = numbers(text(raw, "duration"))
    skips.add(not_whole(gpus), "num_gpu is not a whole number ≥ 1")
    skips.add(np.isnan(submit) | (submit < 0), "submit_time is not a number ≥ 0")
    with np.errstate(invalid="ignore"):
        skips.add(~(duration > 0), "duration is not a number > 0")
    rows = [tuple(r.values()) for r in raw.to_pylist()]
    seen_rows: set[tuple[object, ...]] = set()
    used: dict[str, int] = {}
    ids: list[str] = []
    for r, (row, job_id) in enumerate(zip(rows, text(raw, "job_id").to_pylist(), strict=True)):
        if row in seen_rows:
            skips.add_row(r, "duplicate of an earlier row")
        seen_rows.add(row)
        used[job_id] = used.get(job_id, 0) + 1
        ids.append(f"tiresias-{job_id}" + (f"-{used[job_id]}" if used[job_id] > 1 else ""))
    skips.check_strict()
    keep = skips.keep
    columns = {
        "id": pa.array(ids),
        "tenant": pa.array(["tiresias"] * n),
        "submit_s": submit,
        "gang": np.where(keep, gpus, 1).astype(np.int64),
        "duration_s": duration,
        "profile": pa.array(["dl-training"] * n),
        "x_model": text(raw, "model_name"),
    }
    counts = skips.counts()
    fleet = _fleet(cluster or path.parent / "cluster_spec.csv")
    notes = (
        f"durations on {REFERENCE} (assumed: Tiresias' P100 testbed)",
        f"own fleet from the cluster file: {fleet}",
    )
    meta = {
        "source": f"tiresias: {path.name}",
        "converter": "suanli trace convert --from tiresias",
        "reference": REFERENCE,
        "fleet": fleet,
        "fleet_name": "tiresias",
        "skipped": skipped_note(counts),
        "notes": " | ".join(notes),
    }
    trace = assemble(columns, keep, meta, f"tiresias:{path}")
    return Conversion(trace, n, counts, notes)


def _fleet(cluster: Path) -> str:
    """``nvidia_p100_pcie_16g:<gpus>:<per node>`` from a Tiresias cluster file."""
    raw = read_source_csv(cluster, CLUSTER_COLUMNS, "Tiresias cluster spec")
    values = [numbers(text(raw, c)) for c in CLUSTER_COLUMNS]
    if raw.num_rows < 1 or any(not_whole(v[:1])[0] for v in values):
        raise InputError(
            [
                Problem(
                    str(cluster),
                    "row 1",
                    "needs whole numbers ≥ 1",
                    "num_switch, num_node_p_switch, num_gpu_p_node",
                )
            ]
        )
    switches, nodes, per_node = (int(v[0]) for v in values)
    return f"{REFERENCE}:{switches * nodes * per_node}:{per_node}"
