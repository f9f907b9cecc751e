"""Load a scenario: a built-in name or a YAML file → a validated :class:`Scenario`.

Problems are reported all at once, each naming the file, the line, the field path,
what is wrong and how to fix it (:class:`suanli.errors.InputError`).
"""

from __future__ import annotations

import re
import types
import typing
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from suanli.catalog import load_catalog
from suanli.config.build import Builder
from suanli.config.schema import PerfDefaults, ScenarioConfig
from suanli.config.summary import scaled
from suanli.config.yaml_lines import format_path, line_of, load_yaml, read_text
from suanli.errors import InputError, Problem
from suanli.model.scenario import GeneratorSpec, Scenario
from suanli.scenarios import (
    DEFAULT,
    batch_text,
    builtin_dir,
    builtin_names,
    builtin_text,
    load_variant,
)


def load_scenario(ref: str | Path | None = None) -> Scenario:
    """Load the scenario ``ref``: a built-in name, a file path, or ``None`` for the default."""
    text, source, base_dir = read_scenario_text(ref)
    return parse_scenario(text, source, base_dir)


def read_scenario_text(ref: str | Path | None) -> tuple[str, str, Path]:
    """The YAML text of ``ref``, a label for messages, and the directory for relative paths."""
    if ref is None:
        ref = DEFAULT
    if isinstance(ref, str) and ref in builtin_names():
        text = _load_variant_text(ref) if load_variant(ref) else builtin_text(ref)
        return text, f"built-in:{ref}", builtin_dir()
    path = Path(ref)
    if not path.is_file():
        raise InputError(
            [
                Problem(
                    str(path),
                    "",
                    "no such scenario file" if not path.exists() else "not a file",
                    f"give the path of a YAML scenario, or a built-in name "
                    f"({', '.join(builtin_names())}); start from "
                    f"'suanli scenario export {DEFAULT} > my.yaml'",
                )
            ]
        )
    return read_text(path), str(path), path.resolve().parent


def parse_scenario(text: str, source: str, base_dir: Path) -> Scenario:
    """Validate scenario YAML ``text`` and build the scenario (raises InputError)."""
    data, lines = load_yaml(text, source)
    if not isinstance(data, dict):
        raise InputError(
            [Problem(source, "", "a scenario must be a YAML mapping", "start from the default")]
        )
    try:
        cfg = ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError(_pydantic_problems(exc, source, lines)) from None
    builder = Builder(cfg, load_catalog(), perf_defaults(), source, base_dir, lines)
    scenario = builder.build()
    if scenario is None:
        raise InputError(builder.problems)
    return scenario


@cache
def perf_defaults() -> PerfDefaults:
    """The package's default efficiencies and workload profiles."""
    text = resources.files("suanli.perf").joinpath("defaults.yaml").read_text("utf-8")
    return PerfDefaults.model_validate(yaml.safe_load(text))


def _pydantic_problems(
    exc: ValidationError, source: str, lines: dict[tuple[str | int, ...], int]
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        field = format_path(loc)
        if field in seen:
            continue
        seen.add(field)
        kind = err["type"]
        message = str(err["msg"]).removeprefix("Value error, ")
        hint = ""
        if kind == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
            allowed = _allowed_fields(loc[:-1])
            hint = "remove it or fix the spelling" + (
                f"; fields allowed here: {', '.join(allowed)}" if allowed else ""
            )
        elif kind == "missing":
            message = "required field is missing"
            hint = f"add {loc[-1]!r}"
        elif "input" in err and kind not in ("value_error", "assertion_error"):
            hint = f"got {err['input']!r}"
        problems.append(Problem(source, field, message, hint, line_of(lines, loc)))
    return problems


def _allowed_fields(loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the pydantic model found at ``loc`` inside ScenarioConfig."""
    model: Any = ScenarioConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(str(part))
        if info is None:
            return []
        model = _inner_model(info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``list[X]``, ``X | None``, ``dict[str, X]`` …, else the annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, dict, typing.Union, types.UnionType):
        for arg in reversed(typing.get_args(annotation)):
            inner = _inner_model(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


@cache
def _load_variant_text(name: str) -> str:
    """The text of a load variant: its base's batch week, renamed, with every class's
    ``jobs_per_day`` scaled as ``suanli sweep --loads`` scales it (cached: the base is
    parsed once per process)."""
    variant = load_variant(name)
    assert variant is not None
    base, load = variant
    batch = batch_text(name)
    sc = parse_scenario(batch, f"built-in:{name}", builtin_dir())
    busy = scaled(sc, load).workload
    assert isinstance(busy, GeneratorSpec) and isinstance(sc.workload, GeneratorSpec)
    factor = busy.classes[0].jobs_per_day / sc.workload.classes[0].jobs_per_day
    rates = {c.name: c.jobs_per_day for c in busy.classes}
    note = (
        f"# {name} — {base}'s batch week (no user_regions, services) with every job class's\n"
        f"# jobs_per_day × {factor:.6g}, so that it offers a load of {load:g} of the fleet:\n"
        f"# queues form. Derived from {base} when loaded (suanli.config.loader), scaled as\n"
        f"# 'suanli sweep --loads {load:g}' scales it (suanli.config.summary.scaled).\n"
    )
    return note + _with_rates(batch, rates, name)


def _with_rates(text: str, rates: dict[str, float], name: str) -> str:
    """``text`` with the ``jobs_per_day`` of each workload class ``c`` set to ``rates[c]``
    (a comment keeps the old figure)."""
    lines = text.split("\n")
    start = lines.index("workload:")
    current, done = "", set()
    for i in range(start, len(lines)):
        if m := re.match(r"^\s*- name: (\S+)\s*$", lines[i]):
            current = m.group(1)
        elif (m := re.match(r"^(\s*jobs_per_day: )(\S+)\s*$", lines[i])) and current in rates:
            lines[i] = f"{m.group(1)}{rates[current]:.6g}  # was {m.group(2)}"
            done.add(current)
    if done != set(rates):
        raise RuntimeError(f"built-in {name}: no jobs_per_day line for {set(rates) - done}")
    return "\n".join(lines)
