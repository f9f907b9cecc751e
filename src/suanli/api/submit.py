"""Turning a submitted job — a :class:`~suanli.api.jobfile.JobFile` or the older
:class:`~suanli.api.models.JobIn` — into a stored job spec.

Names are checked against the scenario (profile, accelerator types — ids or the short
names of :mod:`suanli.catalog.names` —, stacks, data set) and the job must be able to run
some day (:func:`suanli.core.feasibility.never_runs`: a type the fleet has, a gang some pool
holds, within every quota its tenant has); each problem comes back as a 422 that names the
field (in the terms of what was sent) and the valid values. Hours of work become PFLOP with
the roofline speed of the job's profile on the accelerator they are on (the scenario's
reference by default), as the workload generator does:
``W = gang × hours × 3600 × s(acc, profile)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from suanli.api.errors import ApiError
from suanli.api.jobfile import JobFile
from suanli.api.models import JobIn
from suanli.catalog.names import AcceleratorNameError, by_vendor, resolve
from suanli.core.feasibility import Never, never_runs
from suanli.core.tables import build_tables
from suanli.model.fleet import Tenant
from suanli.model.job import DEFAULT_CHECKPOINT_INTERVAL_S, DEFAULT_PREEMPTIBLE, Job
from suanli.model.scenario import GeneratorSpec, Scenario, TraceSpec
from suanli.perf.roofline import speed_pflops

_PROBE = "_probe"
#: Fields of JobIn and what a job file calls them, for its errors.
_FILE_FIELDS = {
    "body.profile": "profile",
    "body.kind": "kind",
    "body.accepted_types": "resources.accelerators",
    "body.accepted_stacks": "resources.stacks",
    "body.dataset": "dataset",
    "body.hours_on_reference": "work",
    "body.gang": "resources.accelerators",
    "body.gang_min": "resources.elastic.min",
    "body.gang_max": "resources.elastic.max",
    "body": "resources",
}


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
        # the scenario's tenants (their quotas), and a probe for tenants made over the API
        tenants = (*scenario.tenants, Tenant(_PROBE, "probe"))
        self.tables = build_tables(replace(scenario, tenants=tenants))
        self.reference = reference_accelerator(scenario)
        self.stacks = sorted({a.stack for a in scenario.catalog.values()})
        self._never: dict[tuple[Any, ...], Never | None] = {}

    def spec(self, body: JobIn, tenant: str | None = None) -> dict[str, Any]:
        """The stored spec for ``body`` submitted by ``tenant``; :class:`ApiError` (422)
        naming what is wrong."""
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
        types = [
            self.accelerator(a, f"body.accepted_types.{i}")
            for i, a in enumerate(body.accepted_types)
        ]
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
            work = self._work(
                prof.id,
                ref,
                float(body.hours_on_reference or 0.0),
                body.gang,
                "body.hours_on_reference",
            )
        spec: dict[str, Any] = dict(
            kind=prof.kind.value,
            profile=prof.id,
            gang=body.gang,
            gang_max=body.gang_max,
            gang_min=body.gang_min,
            work_pflop=work,
            accepted_types=types,
            types_ordered=body.types_ordered,
            accepted_stacks=list(body.accepted_stacks),
            dataset=body.dataset,
            deadline_at=body.deadline.timestamp() if body.deadline is not None else None,
            deferrable=body.deferrable,
            preemptible=body.preemptible,
            priority=body.priority,
            checkpoint_interval_s=body.checkpoint_interval_s,
            restart_cost_s=body.restart_cost_s,
        )
        never = self.never_runs(spec, tenant)
        if never is not None:
            field = f"body.{never.field}" if never.field else "body"
            raise ApiError(422, never.what, field=field, hint=never.hint)
        return spec

    def accelerator(self, name: str, field: str) -> str:
        """The catalog id ``name`` stands for (422 naming ``field`` if none, or several)."""
        try:
            return resolve(name, self.scenario.catalog)
        except AcceleratorNameError as exc:
            raise ApiError(
                422,
                f"{exc}",
                field=field,
                hint=f"{exc.hint.split('valid: ')[0]}accelerators of this fleet: "
                f"{by_vendor(self.scenario.catalog, self.tables.acc_ids)}",
            ) from None

    def spec_of_file(self, f: JobFile, tenant: str | None = None) -> dict[str, Any]:
        """The stored spec for a job file submitted by ``tenant``; :class:`ApiError` (422)
        naming the file's field."""
        sc = self.scenario
        res = f.resources
        types = [
            self.accelerator(name, f"resources.accelerators.{i}")
            for i, (name, _) in enumerate(res.asks())
        ]
        if res.min_memory_gb is not None:
            pool = types or list(self.tables.acc_ids)
            types = [a for a in pool if (sc.catalog[a].mem_gb or 0.0) >= res.min_memory_gb]
            if not types:
                raise ApiError(
                    422,
                    f"no accelerator {'listed' if res.asks() else 'of this fleet'} has "
                    f"{res.min_memory_gb:g} GB per device",
                    field="resources.min_memory_gb",
                    hint="lower it, or list other accelerators",
                )
        if not res.ordered:  # a set: the fleet's order, no preference
            order = {a: i for i, a in enumerate(sorted(sc.catalog))}
            types = sorted(dict.fromkeys(types), key=order.__getitem__)
        work_pflop = f.work.pflop
        if work_pflop is None:
            on = f.work.on
            acc = (
                self.accelerator(on, "work.on")
                if on is not None
                else self.reference or (types[0] if types else None)
            )
            if acc is None:
                raise ApiError(
                    422,
                    "hours of work need an accelerator they are on",
                    field="work.on",
                    hint="name it (work: {hours: 6, on: H100}), or give pflop",
                )
            work_pflop = self._work(f.profile, acc, f.work.hours or 0.0, res.gang, "work")
        body = JobIn(
            profile=f.profile,
            command=f.run,
            name=f.name,
            kind=f.kind,
            gang=res.gang,
            gang_min=res.elastic.min if res.elastic else None,
            gang_max=res.elastic.max if res.elastic else None,
            work_pflop=work_pflop,
            accepted_types=list(dict.fromkeys(types)),
            types_ordered=res.ordered,
            accepted_stacks=res.stacks,
            dataset=f.dataset,
            deadline=f.deadline,
            deferrable=f.deferrable,
            preemptible=DEFAULT_PREEMPTIBLE if f.preemptible is None else f.preemptible,
            priority=f.priority,
            checkpoint_interval_s=f.checkpoint_interval or DEFAULT_CHECKPOINT_INTERVAL_S,
            **({"restart_cost_s": f.restart_cost} if f.restart_cost is not None else {}),
        )
        try:
            spec = self.spec(body, tenant)
        except ApiError as exc:
            field = exc.field or ""
            if field == "body.gang" and not res.asks():
                field = "body.count"
            for old, new in _FILE_FIELDS.items():
                if field == old or field.startswith(old + "."):
                    exc.field = new + field[len(old) :]
                    break
            raise
        spec.update(env=dict(sorted(f.env.items())), workdir=f.workdir, time_limit_s=f.time_limit)
        return spec

    def _work(self, profile: str, acc_id: str, hours: float, gang: int, field: str) -> float:
        """PFLOP of ``hours`` on ``gang`` devices of ``acc_id`` (422 naming ``field`` when
        the profile cannot run there)."""
        sc = self.scenario
        prof = sc.profiles.get(profile)
        if prof is None:
            raise ApiError(
                422,
                f"unknown profile {profile!r}",
                field="profile",
                hint=f"valid profiles: {', '.join(sorted(sc.profiles))}",
            )
        acc = sc.catalog[acc_id]
        eff = sc.efficiency.get((acc.stack, prof.kind))
        speed = speed_pflops(acc, prof, eff) if eff is not None else 0.0
        if speed <= 0:
            raise ApiError(
                422,
                f"profile {prof.id} cannot run on {acc_id}",
                field=field,
                hint="give the hours on another accelerator, or pflop",
            )
        return hours * 3600.0 * gang * speed

    def never_runs(self, spec: dict[str, Any], tenant: str | None) -> Never | None:
        """Why the job of ``spec`` submitted by ``tenant`` can never run (cached per
        signature and tenant; a tenant the scenario does not know has no quotas)."""
        who = tenant if tenant in self.tables.tenant_ids else _PROBE
        key = (
            who,
            spec["profile"],
            tuple(spec["accepted_types"]),
            tuple(spec["accepted_stacks"]),
            spec["dataset"],
            spec["gang"],
        )
        if key in self._never:
            return self._never[key]
        job = Job(
            id="probe",
            tenant=who,
            kind=spec["kind"],
            profile=spec["profile"],
            submit_s=0.0,
            gang=spec["gang"],
            work_pflop=spec["work_pflop"],
            accepted_types=key[2],
            accepted_stacks=key[3],
            dataset=spec["dataset"],
        )
        got = never_runs(self.tables, job)
        if len(self._never) > 10_000:
            self._never.clear()
        self._never[key] = got
        return got
