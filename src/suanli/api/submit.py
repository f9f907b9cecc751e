"""Turning a submitted :class:`~suanli.api.models.JobIn` into a stored job spec.

Names are checked against the scenario (profile, accelerator types, stacks, data set)
and the job must fit some pool of the fleet; each problem comes back as a 422 that
names the field and the valid values. ``hours_on_reference`` becomes work with the
roofline speed of the job's profile on the scenario's reference accelerator, as the
workload generator does: ``W = gang × hours × 3600 × s(ref, profile)`` PFLOP.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from suanli.api.errors import ApiError
from suanli.api.models import JobIn
from suanli.core.jobtable import JobTable
from suanli.core.tables import build_tables
from suanli.model.fleet import Tenant
from suanli.model.job import Job
from suanli.model.scenario import GeneratorSpec, Scenario, TraceSpec
from suanli.perf.roofline import speed_pflops

_PROBE = "_probe"


def reference_accelerator(sc: Scenario) -> str | None:
    """The accelerator ``hours_on_reference`` refers to (the workload's), if any."""
    w = sc.workload
    if isinstance(w, GeneratorSpec):
        return w.reference
    if isinstance(w, TraceSpec) and w.reference:
        return w.reference
    return None


class SubmitValidator:
    """Checks job submissions against one scenario (thread-safe; results cached)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.tables = build_tables(replace(scenario, tenants=(Tenant(_PROBE, "probe"),)))
        self.reference = reference_accelerator(scenario)
        self.stacks = sorted({a.stack for a in scenario.catalog.values()})
        self._fits: dict[tuple[Any, ...], bool] = {}

    def spec(self, body: JobIn) -> dict[str, Any]:
        """The stored spec for ``body``; :class:`ApiError` (422) naming what is wrong."""
        sc = self.scenario
        prof = sc.profiles.get(body.profile)
        if prof is None:
            raise ApiError(
                422,
                f"unknown profile {body.profile!r}",
                field="body.profile",
                hint=f"valid profiles: {', '.join(sorted(sc.profiles))}",
            )
        if body.kind is not None and body.kind != prof.kind:
            raise ApiError(
                422,
                f"profile {body.profile} is for {prof.kind.value} jobs, not {body.kind.value}",
                field="body.kind",
                hint="leave kind out to take the profile's",
            )
        for i, a in enumerate(body.accepted_types):
            if a not in sc.catalog:
                raise ApiError(
                    422,
                    f"unknown accelerator {a!r}",
                    field=f"body.accepted_types.{i}",
                    hint=f"accelerators of this fleet: {', '.join(self.tables.acc_ids)}",
                )
        for i, s in enumerate(body.accepted_stacks):
            if s not in self.stacks:
                raise ApiError(
                    422,
                    f"unknown software stack {s!r}",
                    field=f"body.accepted_stacks.{i}",
                    hint=f"valid stacks: {', '.join(self.stacks)}",
                )
        if body.dataset is not None and body.dataset not in self.tables.dataset_ids:
            raise ApiError(
                422,
                f"unknown data set {body.dataset!r}",
                field="body.dataset",
                hint=f"data sets: {', '.join(self.tables.dataset_ids) or 'none'}",
            )
        if body.work_pflop is not None:
            work = body.work_pflop
        else:
            ref = self.reference
            if ref is None:
                raise ApiError(
                    422,
                    "this scenario names no reference accelerator",
                    field="body.hours_on_reference",
                    hint="give work_pflop instead",
                )
            acc = sc.catalog[ref]
            eff = sc.efficiency.get((acc.stack, prof.kind))
            speed = speed_pflops(acc, prof, eff) if eff is not None else 0.0
            if speed <= 0:
                raise ApiError(
                    422,
                    f"profile {prof.id} cannot run on the reference accelerator {ref}",
                    field="body.hours_on_reference",
                    hint="give work_pflop instead",
                )
            work = float(body.hours_on_reference or 0.0) * 3600.0 * body.gang * speed
        spec: dict[str, Any] = dict(
            kind=prof.kind.value,
            profile=prof.id,
            gang=body.gang,
            work_pflop=work,
            accepted_types=list(body.accepted_types),
            accepted_stacks=list(body.accepted_stacks),
            dataset=body.dataset,
            deadline_at=body.deadline.timestamp() if body.deadline is not None else None,
            deferrable=body.deferrable,
            preemptible=body.preemptible,
            priority=body.priority,
            checkpoint_interval_s=body.checkpoint_interval_s,
            restart_cost_s=body.restart_cost_s,
        )
        if not self._runnable(spec):
            raise ApiError(
                422,
                "no pool of the fleet can run this job",
                field="body",
                hint="check gang size against pool sizes (GET /v1/sites), accepted types and "
                "stacks, the data set's residency, and the profile's memory needs",
            )
        return spec

    def _runnable(self, spec: dict[str, Any]) -> bool:
        key = (
            spec["profile"],
            tuple(spec["accepted_types"]),
            tuple(spec["accepted_stacks"]),
            spec["dataset"],
            spec["gang"],
        )
        got = self._fits.get(key)
        if got is None:
            table = JobTable([], self.tables)
            j = table.add(
                Job(
                    id="probe",
                    tenant=_PROBE,
                    kind=spec["kind"],
                    profile=spec["profile"],
                    submit_s=0.0,
                    gang=spec["gang"],
                    work_pflop=spec["work_pflop"],
                    accepted_types=key[1],
                    accepted_stacks=key[2],
                    dataset=spec["dataset"],
                )
            )
            got = bool(table.candidates(j))
            if len(self._fits) > 10_000:
                self._fits.clear()
            self._fits[key] = got
        return got
