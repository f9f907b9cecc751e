"""Whether a job can ever run on a fleet, and if not, why — in the terms of what was asked.

A job runs on one pool: one accelerator type at one site. A gang never spans pools or
sites, only the nodes of its pool (whole nodes beyond one node,
:func:`~suanli.core.tables.node_shape`), so the largest gang a fleet can ever run is the
size of its largest pool of a type the job accepts. A job can never run when

* none of the accelerator types it accepts is in the fleet (``accepted_types``);
* its gang (or the devices its profile's memory needs) is more than every pool of the
  types it can use holds (``gang``);
* every place it could run is inside one of its tenant's quotas that is smaller than what
  it holds there (``gang``): it would wait for ever;
* nothing else fits: stacks, memory, data residency, a site's power (the job as a whole).

:func:`never_runs` answers from the same candidates the scheduling core places jobs on
(:class:`~suanli.core.jobtable.JobTable`) and the same quota rule as
:class:`~suanli.core.capacity.Capacity`; the API refuses such a job at submission.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from suanli.core.jobtable import Candidate, JobTable
from suanli.core.sharing import MILLI
from suanli.core.tables import FleetTables, node_shape
from suanli.model.job import Job

#: A job no pool can run for reasons other than its types, gang or quota, and the fix.
NO_POOL = "no pool of the fleet can run this job"
NO_POOL_HINT = (
    "check the accepted stacks, the data set's residency and the profile's memory needs "
    "against the fleet (GET /v1/sites)"
)


@dataclass(frozen=True, slots=True)
class Never:
    """Why a job can never run: the field of the job it is about (``accepted_types``,
    ``gang``; empty for the job as a whole), what is wrong and how to fix it."""

    field: str
    what: str
    hint: str


def never_runs(tables: FleetTables, job: Job) -> Never | None:
    """Why ``job`` (its tenant one of ``tables``') can never run on the fleet, or ``None``
    if it can (see the module docstring)."""
    missing = _types_outside(tables, job)
    if missing is not None:
        return missing
    jobs = JobTable([], tables)
    j = jobs.add(job)
    cands = jobs.candidates(j)
    if not cands:
        return _too_big(jobs, job) or Never(
            "", "no pool of the fleet can run this job", NO_POOL_HINT
        )
    return _above_quota(tables, job, jobs.tenant[j], cands)


def _types_outside(t: FleetTables, job: Job) -> Never | None:
    """A job whose accepted types are all missing from the fleet."""
    if not job.accepted_types or any(a in t.acc_ids for a in job.accepted_types):
        return None
    return Never(
        "accepted_types",
        f"no site of this fleet has {' or '.join(job.accepted_types)}",
        f"accelerators of this fleet: {', '.join(t.acc_ids)}",
    )


def _too_big(jobs: JobTable, job: Job) -> Never | None:
    """A job that could run somewhere with one device, but no pool it can use holds its
    gang (node shapes and its profile's memory needs included)."""
    t = jobs.tables
    one = jobs.add(replace(job, gang=1, gang_max=None, device_fraction=1.0))
    places = jobs.candidates(one)
    if not places:
        return None
    prof = jobs.profile[one]

    def need(c: Candidate) -> int:
        devices = max(job.gang, int(t.nmin[prof, t.pool_acc[c.pool]]))
        return node_shape(devices, t.pool_per_node[c.pool], t.pool_in_node_sizes[c.pool])

    if any(need(c) <= t.pool_count[c.pool] for c in places):
        return None  # another reason (a site's power): not the gang
    big = max(places, key=lambda c: (t.pool_count[c.pool], -c.pool))
    site = t.site_ids[t.pool_site[big.pool]]
    acc = t.acc_ids[t.pool_acc[big.pool]]
    return Never(
        "gang",
        f"a gang of {job.gang} devices is more than any pool it can run on holds: the "
        f"largest is {site}/{acc} with {t.pool_count[big.pool]} devices (a gang runs in one "
        "pool — one accelerator type at one site — across whole nodes)",
        f"ask for at most {t.pool_count[big.pool]} devices, or for other accelerators",
    )


def _above_quota(
    t: FleetTables, job: Job, tenant: int, cands: tuple[Candidate, ...]
) -> Never | None:
    """A job each of whose places is inside a quota of its tenant smaller than it."""
    blocking: list[int] = []
    for c in cands:
        qi = next(
            (
                qi
                for qi, (who, mask, most, _) in enumerate(t.quotas)
                if who == tenant and mask[c.pool] and c.milli > most * MILLI
            ),
            None,
        )
        if qi is None:
            return None
        blocking.append(qi)
    quotas = sorted(set(blocking))
    most = max(t.quotas[qi][2] for qi in quotas)
    return Never(
        "gang",
        f"a gang of {job.gang} devices is more than tenant {t.tenant_ids[tenant]} may ever "
        f"hold where it can run ({'; '.join(t.quotas[qi][3] for qi in quotas)})",
        f"ask for at most {most} devices, or for accelerators outside the quota",
    )


def raised_gang(jobs: JobTable, j: int, pool: int) -> int:
    """The devices job *j* computes on at ``pool`` when more than its gang — its model's
    memory needs them there (:mod:`suanli.core.jobtable`: ``max(gang, n_min)``) — else 0."""
    cand = next((c for c in jobs.candidates(j) if c.pool == pool), None)
    return cand.used if cand is not None and cand.used > jobs.gang[j] else 0
