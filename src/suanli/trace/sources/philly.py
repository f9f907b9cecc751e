"""Microsoft Philly (the 82,247-job CSV shipped with Pollux/AdaptDL) → suanli trace.

Source columns: ``timestamp`` (submit, ``YYYY-MM-DD HH:MM:SS``), ``duration`` (s),
``num_gpus``, ``gpu_time`` (= duration × num_gpus), ``cluster`` (the hash of the
*virtual cluster*). Mapping:

* ``id`` = ``philly-<row>`` (1-based data row of the source, so rows can be traced back);
* ``tenant`` = ``vc-<cluster>``: each virtual cluster becomes a tenant;
* ``submit_s`` = timestamp − the earliest kept timestamp; metadata ``start`` holds
  that instant (the file has no time zone: read as UTC, an assumption);
* ``gang`` = ``num_gpus``; ``duration_s`` = ``duration`` on the reference GPU;
* ``profile`` = ``dl-training`` (the package's 2017-2020 DL-training profile).

**Reference GPU (assumption).** The public Philly release describes servers only by
GPU memory (12 GB and 24 GB cards, Pascal era, 2017); durations are taken as
measured on the catalog's ``nvidia_p100_pcie_16g``. Override with ``reference=``.

**Own fleet (estimate).** The trace does not give the cluster size. The fleet in
the metadata is P100s in the catalog's 2-GPU nodes, as many as the 95th
percentile (over time) of the GPUs the trace would hold if every job started on
submission, rounded up to 8.

**Elastic jobs (option).** ``elastic_share`` *s* makes round(*s* × jobs) of the kept
jobs, drawn uniformly with a numpy Generator seeded with ``seed``, elastic from
``gang`` to ``gang_max`` = 2 × ``gang``, with no measured scaling (the trace does not
say which jobs could resize: an assumption for studies of elastic scheduling).

Rows with an empty or non-numeric field, a bad timestamp, ``num_gpus`` < 1 or
not whole, or ``duration`` ≤ 0 are skipped and counted (``strict`` makes them errors).
A ``gpu_time`` that disagrees with duration × num_gpus by more than 1 s is only noted.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
from suanli.trace.stats import busy_quantile

COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")
REFERENCE = "nvidia_p100_pcie_16g"
PROFILE = "dl-training"


def convert_philly(
    path: Path, *, strict: bool = False, elastic_share: float = 0.0, seed: int = 0
) -> Conversion:
    """Convert Philly's ``philly.csv``; see the module docstring for the mapping."""
    check_elastic_options(elastic_share, seed)
    rng = np.random.default_rng(seed)
    raw = read_source_csv(path, COLUMNS, "Philly trace (timestamp,duration,num_gpus,...)")
    n = raw.num_rows
    skips = Skips(n, str(path), strict)
    ts = pc.strptime(
        text(raw, "timestamp"), format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True
    )
    epoch = np.asarray(pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False), dtype=float)
    duration = numbers(text(raw, "duration"))
    gpus = numbers(text(raw, "num_gpus"))
    gpu_time = numbers(text(raw, "gpu_time"))
    cluster = text(raw, "cluster")
    skips.add(np.isnan(epoch), "timestamp is not YYYY-MM-DD HH:MM:SS")
    skips.add(np.isnan(duration), "duration is empty or not a number")
    skips.add(not_whole(gpus), "num_gpus is not a whole number ≥ 1")
    with np.errstate(invalid="ignore"):
        skips.add(~(duration > 0), "duration is not > 0")
    skips.add(np.asarray(pc.equal(cluster, "").to_numpy(zero_copy_only=False)), "cluster is empty")
    skips.check_strict()
    keep = skips.keep
    t0 = float(np.min(epoch[keep])) if keep.any() else 0.0
    with np.errstate(invalid="ignore"):
        mismatch = int(np.sum(keep & (np.abs(gpu_time - duration * gpus) > 1.0)))
    submit = epoch - t0
    gang = np.where(keep, gpus, 1).astype(np.int64)
    width = max(5, len(str(n)))
    columns = {
        "id": pa.array([f"philly-{i + 1:0{width}d}" for i in range(n)]),
        "tenant": pc.binary_join_element_wise("vc-", pc.utf8_lower(cluster), ""),
        "submit_s": submit,
        "gang": gang,
        "gang_max": elastic_gang_max(gang, keep, elastic_share, rng),
        "duration_s": duration,
        "profile": pa.array([PROFILE] * n),
    }
    size = busy_quantile(submit[keep], duration[keep], gang[keep].astype(float), 0.95)
    fleet_gpus = max(8, 8 * math.ceil(size / 8))
    start = pc.strftime(pa.scalar(int(t0), pa.timestamp("s")), "%Y-%m-%dT%H:%M:%S").as_py()
    counts = skips.counts()
    converter, elastic_notes = elastic_meta(
        "suanli trace convert --from philly", elastic_share, seed
    )
    notes = (
        f"durations on {REFERENCE} (assumed: Philly's Pascal-era 12/24 GB GPUs)",
        "virtual clusters → tenants vc-<hash>; timestamps read as UTC",
        f"own fleet: {fleet_gpus} P100 = p95 of GPUs busy if no job queued",
        f"gpu_time ≠ duration × num_gpus (> 1 s) in {mismatch} rows (kept)",
        *elastic_notes,
    )
    meta = {
        "source": f"philly: {path.name}",
        "converter": converter,
        "start": f"{start}+00:00",
        "reference": REFERENCE,
        "fleet": f"{REFERENCE}:{fleet_gpus}",
        "fleet_name": "philly",
        "skipped": skipped_note(counts),
        "notes": " | ".join(notes),
    }
    trace = assemble(columns, keep, meta, f"philly:{path}")
    return Conversion(trace, n, counts, notes)
