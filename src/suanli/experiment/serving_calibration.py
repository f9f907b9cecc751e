"""Calibrate the serving model (:mod:`suanli.perf.serving`) against published deployments.

Reads ``data/inference/serving-measurements.csv`` (one row per published throughput of
one phase, per device), models each row's deployment with the built-in model catalog,
the accelerator catalog and the stack's efficiencies (``suanli/perf/serving.yaml``), and
compares the modelled tokens/s per device with the measured one. The deployment of each
row (replica size, context lengths, cache hits, TPOT target where the row gives none) is
stated in :data:`DEPLOYMENTS`, each with its source or marked ASSUMPTION; docs/serving.md
shows the table ``suanli catalog serving --output markdown`` prints.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from suanli.catalog import load_catalog
from suanli.catalog.models import ModelSpec, load_model_specs
from suanli.errors import InputError, Problem
from suanli.perf.serving import ServingEfficiency, replica_perf
from suanli.perf.serving_defaults import serving_efficiency

#: Columns the measurements file must have.
COLUMNS: tuple[str, ...] = (
    "system",
    "model",
    "accelerator",
    "devices",
    "phase",
    "tokens_per_s_per_device",
    "latency_target",
    "notes",
    "source",
)

# DeepSeek, 'Day 6: DeepSeek-V3/R1 Inference System Overview' (1 Mar 2025), 24-hour
# statistics: 608B input tokens (56.3 % prefix-cache hits), 168B output tokens, and an
# average KV-cache length of 4,989 tokens per output token. With mean input I and output
# O per request, I/O = 608/168 and I + O/2 = 4,989 give the mean request below (the
# mean-field assumption: every request has the mean lengths and the mean hit rate).
_DS_IO_RATIO = 608.0 / 168.0
_DS_KV_PER_OUTPUT = 4989.0
_DS_HIT = 0.563
_DS_OUTPUT = _DS_KV_PER_OUTPUT / (_DS_IO_RATIO + 0.5)
_DS_INPUT = _DS_IO_RATIO * _DS_OUTPUT


@dataclass(frozen=True, slots=True)
class Deployment:
    """How one published deployment is modelled: ``devices`` per replica, the mean
    context a decoded sequence holds, the mean context a prefilled token attends to,
    the share of input tokens served from a prefix cache, and the TPOT target when the
    row gives none (seconds)."""

    devices: int
    context_tokens: float
    prefill_context_tokens: float
    prefix_hit: float = 0.0
    default_tpot_s: float | None = None
    assumptions: str = ""


#: Deployments by (accelerator, phase).
DEPLOYMENTS: Mapping[tuple[str, str], Deployment] = {
    ("nvidia_h800_sxm5", "prefill"): Deployment(
        devices=32,
        context_tokens=_DS_INPUT,
        # computed tokens attend to the cached prefix and to half of their own part
        prefill_context_tokens=_DS_HIT * _DS_INPUT + (1 - _DS_HIT) * _DS_INPUT / 2,
        prefix_hit=_DS_HIT,
        assumptions=(
            "EP32 prefill unit of 4 nodes (DeepSeek Day 6); mean input "
            f"{_DS_INPUT:,.0f} tokens derived from 608B input / 168B output tokens and "
            "4,989 tokens of KV per output token; 56.3% of input tokens are cache hits and "
            "not computed, so the replica takes in X_p/(1-0.563)"
        ),
    ),
    ("nvidia_h800_sxm5", "decode"): Deployment(
        devices=144,
        context_tokens=_DS_KV_PER_OUTPUT,
        prefill_context_tokens=_DS_INPUT / 2,
        assumptions=(
            "EP144 decode unit of 18 nodes (DeepSeek Day 6); mean context 4,989 tokens "
            "(published); TPOT 1/21 s from 20-22 tokens/s per user"
        ),
    ),
    ("huawei_ascend_910c", "prefill"): Deployment(
        devices=16,
        context_tokens=4096,
        prefill_context_tokens=2048,
        assumptions=(
            "ASSUMPTION: 16 NPUs (EP32 over 32 dies) per prefill instance, 4,096-token "
            "prompts without cache hits; INT8 weights"
        ),
    ),
    ("huawei_ascend_910c", "decode"): Deployment(
        devices=160,
        context_tokens=4096,
        prefill_context_tokens=2048,
        assumptions=(
            "EP320 over 320 dies = 160 NPUs (Zuo et al.); ASSUMPTION: 4,096 tokens of "
            "context per sequence; INT8 weights"
        ),
    ),
    ("nvidia_h100_sxm5", "prefill"): Deployment(
        devices=32,
        context_tokens=2000,
        prefill_context_tokens=1000,
        assumptions="4 prefill nodes, EP32 (LMSYS); 2,000-token inputs, no cache hits",
    ),
    ("nvidia_h100_sxm5", "decode"): Deployment(
        devices=72,
        context_tokens=2000,
        prefill_context_tokens=1000,
        default_tpot_s=0.100,
        assumptions=(
            "9 decode nodes, EP72 (LMSYS); 2,000 tokens of context; ASSUMPTION: TPOT "
            "0.1 s, the ~100 ms inter-token latency the blog names as a limitation"
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class Measurement:
    """One row of the measurements file (``line``: its line number)."""

    system: str
    model: str
    accelerator: str
    devices: int
    phase: str
    tokens_per_s_per_device: float
    latency_target: str
    notes: str
    source: str
    line: int


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """A measured row beside the model's figure for it (tokens/s per device)."""

    system: str
    model: str
    accelerator: str
    stack: str
    phase: str
    latency_target: str
    replica_devices: int
    tpot_s: float | None
    measured: float
    modelled: float
    assumptions: str

    @property
    def ratio(self) -> float:
        """Modelled ÷ measured."""
        return self.modelled / self.measured


def read_measurements(path: Path) -> list[Measurement]:
    """Parse the measurements CSV (raises InputError naming the file, line and column)."""
    src = str(path)
    if not path.is_file():
        raise InputError(
            [
                Problem(
                    src,
                    "",
                    "no such file" if not path.exists() else "not a file",
                    "give the path of serving-measurements.csv "
                    "(shared/data/inference/serving-measurements.csv)",
                )
            ]
        )
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise InputError(
                [
                    Problem(
                        src,
                        "header",
                        f"missing column(s) {', '.join(missing)}",
                        f"the columns are {', '.join(COLUMNS)}",
                        1,
                    )
                ]
            )
        rows: list[Measurement] = []
        problems: list[Problem] = []
        for i, rec in enumerate(reader, start=1):
            line = reader.line_num
            where = f"row {i}"

            devices = _number(rec, "devices", src, where, line, problems, integer=True)
            tps = _number(rec, "tokens_per_s_per_device", src, where, line, problems)
            phase = (rec.get("phase") or "").strip()
            if phase not in ("prefill", "decode"):
                problems.append(
                    Problem(
                        src,
                        f"{where}.phase",
                        f"{phase!r} is not a phase",
                        "prefill or decode",
                        line,
                    )
                )
            if devices is None or tps is None:
                continue
            rows.append(
                Measurement(
                    system=(rec.get("system") or "").strip(),
                    model=(rec.get("model") or "").strip(),
                    accelerator=(rec.get("accelerator") or "").strip(),
                    devices=int(devices),
                    phase=phase,
                    tokens_per_s_per_device=tps,
                    latency_target=(rec.get("latency_target") or "").strip(),
                    notes=(rec.get("notes") or "").strip(),
                    source=(rec.get("source") or "").strip(),
                    line=line,
                )
            )
    if problems:
        raise InputError(problems)
    return rows


def _number(
    rec: Mapping[str, str | None],
    col: str,
    src: str,
    where: str,
    line: int,
    problems: list[Problem],
    *,
    integer: bool = False,
) -> float | None:
    """The positive number in column ``col`` of a row, else None with a problem noted."""
    text = (rec.get(col) or "").strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        problems.append(Problem(src, f"{where}.{col}", f"{text!r} is not {kind}", "", line))
        return None
    if value <= 0:
        problems.append(Problem(src, f"{where}.{col}", "must be > 0", "", line))
        return None
    return value


_TPOT_MS = re.compile(r"TPOT\s*<\s*([0-9.]+)\s*ms", re.IGNORECASE)
_PER_USER = re.compile(r"([0-9.]+)\s*(?:-|–)\s*([0-9.]+)\s*output tokens/s per user", re.IGNORECASE)


def tpot_target(latency_target: str) -> float | None:
    """The TPOT target (s) a latency column states: ``TPOT < 50 ms`` → 0.05; ``20-22
    output tokens/s per user`` → 1/21 (the midpoint's inverse); None if it states none."""
    m = _TPOT_MS.search(latency_target)
    if m:
        return float(m.group(1)) / 1000.0
    m = _PER_USER.search(latency_target)
    if m:
        return 2.0 / (float(m.group(1)) + float(m.group(2)))
    return None


def _model_for(m: Measurement, src: str) -> tuple[ModelSpec, Problem | None]:
    specs = load_model_specs()
    spec = specs["deepseek-v3"]
    if "deepseek" not in m.model.lower():
        return spec, Problem(
            src,
            f"line {m.line}.model",
            f"no built-in model matches {m.model!r}",
            f"the built-in models are {', '.join(specs)}",
            m.line,
        )
    if "int8" in m.model.lower():
        spec = replace(spec, model=replace(spec.model, precision="int8"))
    return spec, None


def calibrate(
    path: Path, efficiencies: Mapping[str, ServingEfficiency] | None = None
) -> list[CalibrationRow]:
    """Model every row of the measurements file at ``path`` (efficiencies by stack:
    the built-in ones unless given)."""
    src = str(path)
    catalog = load_catalog()
    out: list[CalibrationRow] = []
    problems: list[Problem] = []
    for m in read_measurements(path):
        spec, problem = _model_for(m, src)
        acc = catalog.get(m.accelerator)
        dep = DEPLOYMENTS.get((m.accelerator, m.phase))
        if problem is not None:
            problems.append(problem)
        if acc is None:
            problems.append(
                Problem(
                    src,
                    f"line {m.line}.accelerator",
                    f"unknown accelerator {m.accelerator!r}",
                    "use an id of 'suanli catalog'",
                    m.line,
                )
            )
            continue
        if dep is None:
            known = ", ".join(f"{a}/{p}" for a, p in DEPLOYMENTS)
            problems.append(
                Problem(
                    src,
                    f"line {m.line}.accelerator",
                    f"no deployment is described for {m.accelerator} {m.phase}",
                    f"add one to DEPLOYMENTS; known: {known}",
                    m.line,
                )
            )
            continue
        if problem is not None:
            continue
        eff = (efficiencies or {}).get(acc.stack) or serving_efficiency(acc.stack)
        tpot = tpot_target(m.latency_target) if m.phase == "decode" else None
        if m.phase == "decode" and tpot is None:
            tpot = dep.default_tpot_s
        if m.phase == "decode" and tpot is None:
            problems.append(
                Problem(
                    src,
                    f"line {m.line}.latency_target",
                    "no TPOT target",
                    "give e.g. 'TPOT < 50 ms'",
                    m.line,
                )
            )
            continue
        perf = replica_perf(
            spec.model,
            acc,
            dep.devices,
            eff,
            tpot if tpot is not None else 1.0,
            dep.context_tokens,
            attn_prefill_flops=spec.attn_prefill_flops,
            attn_decode_flops=spec.attn_decode_flops,
            prefill_context_tokens=dep.prefill_context_tokens,
        )
        if m.phase == "prefill":
            modelled = perf.prefill_tokens_s / (1.0 - dep.prefix_hit) / dep.devices
        else:
            modelled = perf.decode_tokens_s / dep.devices
        out.append(
            CalibrationRow(
                system=m.system,
                model=f"{spec.model.id} ({perf.precision})",
                accelerator=m.accelerator,
                stack=acc.stack,
                phase=m.phase,
                latency_target=m.latency_target,
                replica_devices=dep.devices,
                tpot_s=tpot,
                measured=m.tokens_per_s_per_device,
                modelled=modelled,
                assumptions=dep.assumptions,
            )
        )
    if problems:
        raise InputError(problems)
    return out


def calibration_markdown(rows: Sequence[CalibrationRow]) -> str:
    """The calibration table as a Markdown table (the one in docs/serving.md)."""
    lines = [
        "| system | accelerator | phase | latency target | replica | TPOT (ms) "
        "| measured tok/s/dev | modelled | ratio |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        tpot = "–" if r.tpot_s is None else f"{r.tpot_s * 1000:.1f}"
        lines.append(
            f"| {r.system} | {r.accelerator} | {r.phase} | {r.latency_target or '–'} "
            f"| {r.replica_devices} | {tpot} | {r.measured:,.0f} | {r.modelled:,.0f} "
            f"| {r.ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"
