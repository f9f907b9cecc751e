"""Pollux/Sia-style workloads (``workloads*/workload-N.csv``) with measured step times.

A workload file lists ``name, time, application, num_replicas, batch_size``; the
folder ``traces/<application>/`` beside it holds what Pollux measured on AWS
g4dn.12xlarge nodes (4 × NVIDIA T4 each; SOURCE.txt): ``placements.csv``
(``placement`` = GPUs per node as digits, e.g. ``22`` = 2 nodes × 2 GPUs;
``local_bsz``; ``step_time`` = seconds per iteration including ``sync_time``, the
gradient all-reduce) and ``scalability.csv`` (the same by node and replica count,
for placements beyond 4 nodes); ``validation-<B>.csv`` gives the ``iteration`` at
which a run with total batch size *B* reaches each ``progress`` mark, its last
row being the end of training. Mapping of a job (application *a*, *r* replicas,
batch *B*):

* iterations *K* = last ``iteration`` of ``validation-<B>.csv`` (the file for *B*
  must exist); placement = *r* GPUs packed into 4-GPU nodes (``44…`` then the
  rest), written as Pollux does (the smallest rotation of the digits);
* step time *t* = ``step_time`` of that placement at ``local_bsz`` = *B*/*r*,
  interpolated linearly (clamped at the measured ends); placements not in the
  file use ``scalability.csv`` rows with the same node and replica counts;
* duration on T4 *D* = *K* · *t*; ``work_pflop`` *W* = *K* · *B* · *F_a* (samples ×
  training FLOPs per sample, :data:`GFLOP_PER_SAMPLE`, assumptions);
* ``measured_pflops`` = ``nvidia_t4`` → *W* / (*r* · *D*): the job runs exactly the
  measured time on T4, whatever *F_a* is;
* ``profile`` = ``pollux-<a>``, defined in the trace metadata: the kind of work,
  FP16, and an arithmetic intensity calibrated so that the roofline speed on a
  T4 equals the best single-GPU throughput measured (placement ``1``). Other GPU
  types then run at the roofline speed of that profile — mostly bound by HBM
  bandwidth, as these 2020-era models are on a T4 — so *F_a* largely cancels out.

**Elastic.** Pollux adapts a job's replicas; every job asks for ``gang`` =
``num_replicas`` (what a fixed-size scheduler gives it) and may run on any count from
``gang_min`` = 1 (Pollux's simulator lets a job run on as few replicas as it is given) up to
``gang_max`` =
min(*N*, ⌊*M*_max / *m*_min⌋), at least ``gang``: *N* the most GPUs of a packed
placement measured (``placements.csv`` and ``scalability.csv``: 64), *M*_max the
largest validated batch and *m*_min the smallest measured local batch (so no
replica gets less than was measured at the largest batch). These are the bounds of
Pollux's own simulator (OSDI'21 artifact), which also keeps NCF on one replica: so
do we (:data:`FIXED_APPLICATIONS`). Its speed-up is measured, not linear:
``scaling`` = ``pollux-<a>``, a scaling model in the trace's metadata
(:mod:`suanli.trace.scaling`, format version 2): the goodput model fitted to
``placements.csv`` (:func:`suanli.perf.goodput.pollux_goodput_model`), and the
measured throughput per packed placement *n* at the model's local batch *m*(*n*)
(examples/s; linear in the measured local batches, only where *m*(*n*) lies within
them). One tenant, ``pollux``.

**Restarts.** Pollux's simulator pauses a job 30 s whenever its allocation changes
(``rescale_time = 30`` in ``Job.reallocate``, OSDI'21 artifact) and loses no progress:
AdaptDL saves a job's state when it is rescaled. So every job has ``restart_cost_s`` = 30
and ``checkpoint_interval_s`` = 0 (it saves its state whenever it is stopped).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from suanli.config.loader import perf_defaults
from suanli.errors import InputError, Problem
from suanli.perf.goodput import GoodputModel, pollux_goodput_model, read_pollux_trace
from suanli.trace.format import MAX_GANG
from suanli.trace.scaling import ScalingModel, format_scaling
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

#: Seconds a job pauses when its allocation changes, as in Pollux's simulator.
RESTART_S = 30.0

REFERENCE = "nvidia_t4"
GPUS_PER_NODE = 4
T4_HBM_TBS = 0.32
COLUMNS = ("name", "time", "application", "num_replicas", "batch_size")

#: Training FLOPs per sample (forward ≈ 2 × multiply-adds, training ≈ 3 × forward), GFLOP.
GFLOP_PER_SAMPLE: Mapping[str, float] = {
    "cifar10": 3.3,  # ResNet-18 on 32×32 images: ~0.56 G multiply-adds forward
    "imagenet": 24.6,  # ResNet-50 on 224×224: ~4.1 G multiply-adds forward
    "bert": 254.0,  # BERT-base (110 M parameters) fine-tuned on SQuAD, 384 tokens
    "yolov3": 198.0,  # YOLOv3 at 416×416: ~66 GFLOP forward
    "deepspeech2": 90.0,  # DeepSpeech2-class RNN, ~30 GFLOP forward per utterance (rough)
    "ncf": 0.0001,  # NeuMF: embeddings plus a small MLP, ~0.1 MFLOP per sample (rough)
}
KIND: Mapping[str, str] = {"bert": "finetune"}
#: Applications whose jobs keep a fixed gang, as in Pollux's simulator (NCF: one replica).
FIXED_APPLICATIONS: frozenset[str] = frozenset({"ncf"})


def convert_pollux(path: Path, *, strict: bool = False, traces: Path | None = None) -> Conversion:
    """Convert a Pollux workload CSV; see the module docstring."""
    raw = read_source_csv(path, COLUMNS, "Pollux workload")
    tdir = traces or path.parent.parent / "traces"
    n = raw.num_rows
    skips = Skips(n, str(path), strict)
    submit = numbers(text(raw, "time"))
    replicas = numbers(text(raw, "num_replicas"))
    batch = numbers(text(raw, "batch_size"))
    apps = text(raw, "application").to_pylist()
    skips.add(np.isnan(submit) | (submit < 0), "time is not a number ≥ 0")
    skips.add(not_whole(replicas), "num_replicas is not a whole number ≥ 1")
    skips.add(not_whole(batch), "batch_size is not a whole number ≥ 1")
    skips.add(np.array([a not in GFLOP_PER_SAMPLE for a in apps]), "unknown application")
    duration = np.full(n, np.nan)
    work = np.full(n, np.nan)
    for i in np.flatnonzero(skips.keep).tolist():
        app, r, b = apps[i], int(replicas[i]), int(batch[i])
        m = _measurements(tdir, app)
        if b not in m.iterations:
            skips.add_row(i, f"no validation-{b}.csv for {app}")
            continue
        t = _step_time(m, r, b / r)
        if t is None:
            skips.add_row(i, f"no step time measured for {r} GPUs")
            continue
        duration[i] = m.iterations[b] * t
        work[i] = m.iterations[b] * b * GFLOP_PER_SAMPLE[app] * 1e-6
    skips.check_strict()
    keep = skips.keep
    gang = np.where(keep, replicas, 1).astype(np.int64)
    used = sorted({apps[i] for i in np.flatnonzero(keep).tolist()})
    fits = {a: _scaling(tdir, a) for a in used}
    fitted = {a: f for a, f in fits.items() if isinstance(f, ScalingModel)}
    tops = {a: _largest_gang(tdir, a) for a in fitted if a not in FIXED_APPLICATIONS}
    gang_max = np.full(n, np.nan)
    gang_min = np.full(n, np.nan)
    for i in np.flatnonzero(keep).tolist():
        top = tops.get(apps[i], 0)
        gang_max[i] = top if top > gang[i] else np.nan
        if apps[i] in tops and gang[i] > 1:
            gang_min[i] = 1
    speed = np.where(keep, work / (np.where(keep, replicas, 1) * duration), np.nan)
    measured = [
        f"{REFERENCE}={s!r}" if k else None for s, k in zip(speed.tolist(), keep, strict=True)
    ]
    columns = {
        "id": text(raw, "name"),
        "tenant": pa.array(["pollux"] * n),
        "submit_s": submit,
        "gang": gang,
        "gang_max": pa.array(
            [None if np.isnan(g) else int(g) for g in gang_max.tolist()], type=pa.int64()
        ),
        "gang_min": pa.array(
            [None if np.isnan(g) else int(g) for g in gang_min.tolist()], type=pa.int64()
        ),
        "checkpoint_interval_s": pa.array([0.0] * n),
        "restart_cost_s": pa.array([RESTART_S] * n),
        "scaling": pa.array(
            [f"pollux-{a}" if k and a in fitted else None for a, k in zip(apps, keep, strict=True)]
        ),
        "work_pflop": work,
        "profile": pa.array([f"pollux-{a}" for a in apps]),
        "measured_pflops": pa.array(measured, type=pa.string()),
        "x_application": pa.array(apps),
        "x_batch_size": pa.array([str(int(b)) if b == b else None for b in batch.tolist()]),
    }
    counts = skips.counts()
    notes = (
        "step times measured on AWS g4dn.12xlarge (4 x T4) by Pollux",
        "work = iterations x batch x training GFLOP/sample (assumed per model)",
        "profiles pollux-<app>: intensity calibrated to the best 1-GPU T4 throughput",
        "elastic: gang = num_replicas, from 1 up to min(most GPUs measured, max batch / min "
        "local batch), ncf fixed (as Pollux's simulator); scaling pollux-<app>: goodput model "
        "fitted to placements.csv",
        f"restart {RESTART_S:g} s, state saved on every stop (Pollux's simulator: "
        "rescale_time 30 s, no progress lost)",
        *(
            f"{a}: fixed gang, no scaling model ({why})"
            for a, why in fits.items()
            if a not in fitted
        ),
    )
    meta = {
        "source": f"pollux: {path.parent.name}/{path.name} + traces/",
        "converter": "suanli trace convert --from pollux",
        "reference": REFERENCE,
        "fleet": f"{REFERENCE}:64:{GPUS_PER_NODE}",
        "fleet_name": "pollux",
        "profiles": json.dumps(
            {f"pollux-{a}": _profile(tdir, a) for a in used}, sort_keys=True, separators=(",", ":")
        ),
        "skipped": skipped_note(counts),
        "notes": " | ".join(notes),
    }
    if fitted:
        meta["scaling"] = format_scaling({f"pollux-{a}": f for a, f in fitted.items()})
    trace = assemble(columns, keep, meta, f"pollux:{path}")
    return Conversion(trace, n, counts, notes)


class _Measured:
    """One application's measurements."""

    def __init__(self, tdir: Path, app: str) -> None:
        folder = tdir / app
        if not folder.is_dir():
            raise InputError(
                [
                    Problem(
                        str(folder),
                        "",
                        f"no measurements for {app!r}",
                        "pass the Pollux traces/ folder with --pollux-traces",
                    )
                ]
            )
        p = read_source_csv(
            folder / "placements.csv", ("placement", "local_bsz", "step_time"), "Pollux placements"
        )
        self.placement = text(p, "placement").to_pylist()
        self.local_bsz = numbers(text(p, "local_bsz"))
        self.step_time = numbers(text(p, "step_time"))
        s = read_source_csv(
            folder / "scalability.csv",
            ("num_nodes", "num_replicas", "local_bsz", "step_time"),
            "Pollux scalability",
        )
        self.s_nodes = numbers(text(s, "num_nodes"))
        self.s_replicas = numbers(text(s, "num_replicas"))
        self.s_bsz = numbers(text(s, "local_bsz"))
        self.s_time = numbers(text(s, "step_time"))
        self.iterations: dict[int, float] = {}
        for f in folder.glob("validation-*.csv"):
            v = read_source_csv(f, ("iteration",), "Pollux validation")
            its = numbers(text(v, "iteration"))
            self.iterations[int(f.stem.split("-")[-1])] = float(its[-1])


@cache
def _measurements_cached(tdir: str, app: str) -> _Measured:
    return _Measured(Path(tdir), app)


def _measurements(tdir: Path, app: str) -> _Measured:
    return _measurements_cached(str(tdir.resolve()), app)


def placement_id(replicas: int, per_node: int = GPUS_PER_NODE) -> str:
    """GPUs per node of a packed placement, as the smallest rotation: 6 → ``"24"``."""
    digits = [per_node] * (replicas // per_node) + (
        [replicas % per_node] * (replicas % per_node > 0)
    )
    text_ = "".join(str(d) for d in digits)
    return min(text_[i:] + text_[:i] for i in range(len(text_)))


def _curve(m: _Measured, replicas: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Measured (local batch, step time) of ``replicas`` packed GPUs, by local batch:
    ``placements.csv``, else ``scalability.csv`` (repeats averaged); None if unmeasured."""
    pid = placement_id(replicas)
    rows = np.array([p == pid for p in m.placement])
    if rows.any():
        x, y = m.local_bsz[rows], m.step_time[rows]
    else:
        nodes = -(-replicas // GPUS_PER_NODE)
        rows = (m.s_nodes == nodes) & (m.s_replicas == replicas)
        if not rows.any():
            return None
        x, y = m.s_bsz[rows], m.s_time[rows]
        xs = np.unique(x)
        y = np.array([y[x == v].mean() for v in xs])
        x = xs
    order = np.argsort(x)
    return x[order], y[order]


def _step_time(m: _Measured, replicas: int, local_bsz: float) -> float | None:
    """Seconds per iteration at ``replicas`` packed GPUs and ``local_bsz`` (interpolated)."""
    curve = _curve(m, replicas)
    if curve is None:
        return None
    return float(np.interp(local_bsz, *curve))


def _measured_counts(m: _Measured) -> list[int]:
    """The GPU counts measured as packed placements, ascending: ``placements.csv`` rows
    whose placement is the packed one, and ``scalability.csv`` rows on ⌈n/4⌉ nodes."""
    counts: set[int] = set()
    for p in set(m.placement):
        if p.isdigit() and p == placement_id(sum(int(c) for c in p)):
            counts.add(sum(int(c) for c in p))
    for nodes, r in zip(m.s_nodes.tolist(), m.s_replicas.tolist(), strict=True):
        if 1 <= r <= MAX_GANG and r == int(r) and nodes == -(-int(r) // GPUS_PER_NODE):
            counts.add(int(r))
    return sorted(counts)


def _largest_gang(tdir: Path, app: str) -> int:
    """``gang_max`` of the application's jobs (module docstring); 1 when no packed
    placement was measured."""
    m = _measurements(tdir, app)
    g = _goodput(tdir, app)
    assert not isinstance(g, str)  # only asked for applications with a model
    counts = _measured_counts(m)
    if not counts:
        return 1
    m_min = float(np.nanmin(m.local_bsz))
    cap = int(g.max_batch // m_min) if g.max_batch is not None and m_min > 0 else counts[-1]
    return max(1, min(counts[-1], cap))


@cache
def _goodput_cached(tdir: str, app: str) -> GoodputModel | str:
    """The goodput model fitted to the application's measurements, or why there is none."""
    try:
        return pollux_goodput_model(read_pollux_trace(Path(tdir) / app))
    except (KeyError, ValueError, OSError) as exc:
        return f"cannot fit: {type(exc).__name__}: {exc}"


def _goodput(tdir: Path, app: str) -> GoodputModel | str:
    return _goodput_cached(str(tdir.resolve()), app)


def _scaling(tdir: Path, app: str) -> ScalingModel | str:
    """The ``pollux-<app>`` scaling model: the fitted goodput model and the measured
    throughput (examples/s) per packed placement at the model's local batch m(n); or why
    there is none."""
    m = _measurements(tdir, app)
    g = _goodput(tdir, app)
    if isinstance(g, str):
        return g
    measured: dict[int, float] = {}
    for r in _measured_counts(m):
        curve = _curve(m, r)
        assert curve is not None
        x, y = curve
        local = g.local_batch_at(r)
        if x[0] <= local <= x[-1]:
            measured[r] = r * local / float(np.interp(local, x, y))
    return ScalingModel(
        REFERENCE,
        g,
        measured,
        f"Pollux {app}: step time fitted to placements.csv (suanli.perf.goodput), "
        f"efficiency to validation-*.csv; measured = examples/s per packed placement on "
        f"g4dn.12xlarge (4 x T4) at local batch min({g.local_batch:g}, max_batch/n)",
    )


def _profile(tdir: Path, app: str) -> dict[str, object]:
    """The ``pollux-<app>`` profile: intensity calibrated to the best 1-GPU T4 speed."""
    m = _measurements(tdir, app)
    one = np.array([p == "1" for p in m.placement])
    best = float(np.max(m.local_bsz[one] * GFLOP_PER_SAMPLE[app] * 1e-6 / m.step_time[one]))
    kind = KIND.get(app, "pretrain")
    effs = [e for e in perf_defaults().efficiency if e.stack == "cuda"]
    eff = next((e for e in effs if e.kind == kind), None) or next(e for e in effs if e.kind == "*")
    intensity = best / (T4_HBM_TBS * 1e-3 * eff.memory)
    return {
        "kind": kind,
        "precisions": ["fp16", "bf16"],
        "flops_per_byte": round(intensity, 4),
        "memory_gb": 12,
        "power_factor": 0.8,
        "source": f"Pollux {app}: best 1-GPU T4 throughput {best * 1e3:.3f} TFLOPS "
        f"(placements.csv, {GFLOP_PER_SAMPLE[app]} GFLOP/sample assumed) → "
        f"{intensity:.3g} FLOP/byte at T4 HBM {T4_HBM_TBS} TB/s × {eff.memory}",
    }
