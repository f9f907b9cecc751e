"""Load planning inputs: a built-in name or a YAML file, its ``extends`` chain, and the scenario.

Each file is validated on its own (shapes by pydantic, names against the scenario
and the catalog), so every problem names the file and line it is in. Files are then
merged base first: a field set in an extending file replaces the base's, except
``supply`` (rules merge by accelerators and kind; ``scale`` and ``remove`` act on
the base rule), ``classes`` (merge by name; ``remove: true`` drops one) and the
maps ``prices``, ``sites``, ``currency_rates`` and ``sources`` (merged key by key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from suanli.config import read_scenario_text
from suanli.config.loader import parse_scenario
from suanli.config.yaml_lines import format_path, line_of, load_yaml, read_text
from suanli.errors import InputError, Problem
from suanli.model.scenario import Scenario
from suanli.plan.input_checks import check_file, check_merged
from suanli.plan.schema import DemandClass, PlanningFile, SupplyRule
from suanli.plan.service_demand import scenario_shapes
from suanli.scenarios import builtin_names

Lines = dict[tuple[str | int, ...], int]

#: Built-in planning files (``src/suanli/plan/data``), by name.
BUILTIN: dict[str, str] = {
    "cn-2026": "cn-2026-demand.yaml",
    "cn-2026-no-h200": "cn-2026-no-h200.yaml",
    "cn-2026-h200-cap-x2": "cn-2026-h200-cap-x2.yaml",
    "cn-2026-910c-halved": "cn-2026-910c-halved.yaml",
}
DEFAULT_PLANNING = "cn-2026"
#: The four-way demo ``suanli plan --compare`` runs with no files.
DEFAULT_COMPARISON: tuple[str, ...] = (
    "cn-2026",
    "cn-2026-no-h200",
    "cn-2026-h200-cap-x2",
    "cn-2026-910c-halved",
)


@dataclass(frozen=True, slots=True)
class ScenarioInput:
    """The scenario a plan starts from, with its YAML text (to write the plan's scenario)."""

    scenario: Scenario
    text: str
    source: str
    base_dir: Path


@dataclass(frozen=True, slots=True)
class Planning:
    """Validated planning inputs merged along their ``extends`` chain, with the scenario.

    ``locations`` maps ``classes.<name>``, ``supply.<i>`` (index in the merged
    list) and top-level field names to the file and line that set them.
    """

    file: PlanningFile
    source: str
    chain: tuple[str, ...]
    scenario: ScenarioInput
    locations: Mapping[str, tuple[str, int | None]]

    def where(self, key: str) -> tuple[str, int | None]:
        """File and line of a merged entry (the top file when unknown)."""
        return self.locations.get(key, (self.source, None))


@dataclass(frozen=True, slots=True)
class _Parsed:
    file: PlanningFile
    source: str
    lines: Lines
    base_dir: Path


def builtin_planning_names() -> list[str]:
    """Names of the built-in planning files."""
    return sorted(BUILTIN)


def builtin_planning_dir() -> Path:
    """Folder of the built-in planning files."""
    return Path(str(resources.files("suanli.plan").joinpath("data")))


def read_planning_text(ref: str | Path, relative_to: Path | None = None) -> tuple[str, str, Path]:
    """YAML text of a planning file or built-in name, a label, and its folder."""
    if isinstance(ref, str) and ref in BUILTIN:
        path = builtin_planning_dir() / BUILTIN[ref]
        return path.read_text("utf-8"), f"built-in:{ref}", builtin_planning_dir()
    path = Path(ref)
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if not path.is_file():
        raise InputError(
            [
                Problem(
                    str(path),
                    "",
                    "no such planning file" if not path.exists() else "not a file",
                    "give the path of a planning YAML file or a built-in name "
                    f"({', '.join(builtin_planning_names())})",
                )
            ]
        )
    return read_text(path), str(path), path.resolve().parent


def load_planning(
    ref: str | Path | None = None, scenario_ref: str | Path | None = None
) -> Planning:
    """Load planning inputs ``ref`` (default: the built-in national demand) and their scenario.

    ``scenario_ref`` (a built-in name or a path) overrides the file's ``scenario:``.
    Raises :class:`InputError` with every problem found.
    """
    chain = _read_chain(DEFAULT_PLANNING if ref is None else ref)
    scenario_in = _scenario_for(chain, scenario_ref)
    problems: list[Problem] = []
    for p in chain:
        problems += check_file(p.file, p.source, p.lines, scenario_in.scenario)
    if problems:
        raise InputError(problems)
    merged, locations, merge_problems = _merge(chain)
    if merge_problems:
        raise InputError(merge_problems)
    top = chain[-1]
    shapes = scenario_shapes(scenario_in.text) if scenario_in.scenario.services else None
    problems = check_merged(merged, top.source, top.lines, scenario_in.scenario, shapes)
    if problems:
        raise InputError(problems)
    return Planning(
        merged, top.source, tuple(p.source for p in chain), scenario_in, dict(locations)
    )


def _read_chain(ref: str | Path) -> list[_Parsed]:
    """The file and those it extends, base first."""
    chain: list[_Parsed] = []
    seen: set[str] = set()
    relative_to: Path | None = None
    current: str | Path | None = ref
    while current is not None:
        text, source, base_dir = read_planning_text(current, relative_to)
        if source in seen:
            raise InputError(
                [
                    Problem(
                        source, "extends", "files extend each other in a cycle", "break the cycle"
                    )
                ]
            )
        seen.add(source)
        parsed = _parse(text, source, base_dir)
        chain.append(parsed)
        current, relative_to = parsed.file.extends, base_dir
    return chain[::-1]


def _parse(text: str, source: str, base_dir: Path) -> _Parsed:
    data, lines = load_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            [Problem(source, "", "a planning file must be a YAML mapping", "see docs/planning.md")]
        )
    try:
        pf = PlanningFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(_pydantic_problems(exc, source, lines)) from None
    return _Parsed(pf, source, lines, base_dir)


def _pydantic_problems(exc: ValidationError, source: str, lines: Lines) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        field = format_path(loc)
        if field in seen:
            continue
        seen.add(field)
        message = str(err["msg"]).removeprefix("Value error, ")
        hint = ""
        if err["type"] == "extra_forbidden":
            message, hint = f"unknown field {loc[-1]!r}", "remove it or fix the spelling"
        elif err["type"] == "missing":
            message, hint = "required field is missing", f"add {loc[-1]!r}"
        elif "input" in err and err["type"] not in ("value_error", "assertion_error"):
            hint = f"got {err['input']!r}"
        problems.append(Problem(source, field, message, hint, line_of(lines, loc)))
    return problems


def _scenario_for(chain: list[_Parsed], scenario_ref: str | Path | None) -> ScenarioInput:
    ref: str | Path | None = scenario_ref
    if ref is None:
        for p in reversed(chain):
            if p.file.scenario is not None:
                ref = p.file.scenario
                if ref not in builtin_names():
                    ref = p.base_dir / ref
                break
    text, source, base_dir = read_scenario_text(ref)
    return ScenarioInput(parse_scenario(text, source, base_dir), text, source, base_dir)


def _merge(
    chain: list[_Parsed],
) -> tuple[PlanningFile, dict[str, tuple[str, int | None]], list[Problem]]:
    """Merge ``chain`` (base first) into one file; record where each entry came from."""
    problems: list[Problem] = []
    base = chain[0]
    merged = base.file
    locations: dict[str, tuple[str, int | None]] = {}
    _note_locations(base, None, locations)
    supply: list[tuple[SupplyRule, tuple[str, int | None]]] = [
        (r, (base.source, line_of(base.lines, ("supply", i))))
        for i, r in enumerate(base.file.supply)
    ]
    classes: dict[str, tuple[DemandClass, tuple[str, int | None]]] = {
        c.name: (c, (base.source, line_of(base.lines, ("classes", i))))
        for i, c in enumerate(base.file.classes)
    }
    for i, rule in enumerate(base.file.supply):
        if rule.scale is not None or rule.remove:
            problems.append(_located(base, ("supply", i), "scale and remove need a base rule"))
    for ext in chain[1:]:
        update: dict[str, Any] = {}
        for name in ext.file.model_fields_set - {"supply", "classes", "extends"}:
            value = getattr(ext.file, name)
            if name in ("prices", "sites", "currency_rates", "sources"):
                value = {**getattr(merged, name), **value}
            update[name] = value
        merged = merged.model_copy(update=update)
        _note_locations(ext, ext.file.model_fields_set, locations)
        for i, rule in enumerate(ext.file.supply):
            where = (ext.source, line_of(ext.lines, ("supply", i)))
            problems += _merge_rule(supply, rule, where, ext, i)
        for i, cls in enumerate(ext.file.classes):
            where = (ext.source, line_of(ext.lines, ("classes", i)))
            if cls.remove and cls.name not in classes:
                problems.append(_located(ext, ("classes", i), f"no class {cls.name!r} to remove"))
            elif cls.remove:
                del classes[cls.name]
            else:
                classes[cls.name] = (cls, where)
    merged = merged.model_copy(
        update={
            "supply": [r for r, _ in supply],
            "classes": [c for c, _ in classes.values() if not c.remove],
        }
    )
    for i, (_, where) in enumerate(supply):
        locations[f"supply.{i}"] = where
    for name, (_, where) in classes.items():
        locations[f"classes.{name}"] = where
    return merged, locations, problems


def _merge_rule(
    supply: list[tuple[SupplyRule, tuple[str, int | None]]],
    rule: SupplyRule,
    where: tuple[str, int | None],
    ext: _Parsed,
    i: int,
) -> list[Problem]:
    match = [k for k, (r, _) in enumerate(supply) if r.key == rule.key]
    if rule.scale is None and not rule.remove:
        if match:
            supply[match[0]] = (rule, where)
        else:
            supply.append((rule, where))
        return []
    if not match:
        return [
            _located(
                ext,
                ("supply", i),
                f"no {rule.kind} rule on {', '.join(rule.accelerators)} in the base file",
                "scale and remove act on a rule of the file this one extends",
            )
        ]
    k = match[0]
    base_rule = supply[k][0]
    if rule.remove:
        del supply[k]
        return []
    limit = base_rule.limit()
    if limit is None:
        return [_located(ext, ("supply", i), "a ban has no limit to scale", "use remove: true")]
    assert rule.scale is not None
    scaled = base_rule.model_copy(
        update={
            "units": round(limit * rule.scale),
            "us_customer_units": None,
            "max_ratio": None,
            "network_share": 1.0,
            "source": f"{base_rule.source} — scaled ×{rule.scale:g} in {ext.source}"
            + (f": {rule.source}" if rule.source else ""),
        }
    )
    supply[k] = (scaled, where)
    return []


def _note_locations(
    parsed: _Parsed, fields: set[str] | None, locations: dict[str, tuple[str, int | None]]
) -> None:
    for name in fields if fields is not None else PlanningFile.model_fields:
        locations[name] = (parsed.source, line_of(parsed.lines, (name,)))


def _located(parsed: _Parsed, path: tuple[str | int, ...], message: str, hint: str = "") -> Problem:
    return Problem(parsed.source, format_path(path), message, hint, line_of(parsed.lines, path))
