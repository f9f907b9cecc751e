"""Frozen domain objects (no I/O): accelerators, sites, pools, links, datasets,
tenants, jobs and the scenario that ties them together."""

from suanli.model.accelerator import Accelerator, Precision
from suanli.model.fleet import (
    CarbonIntensity,
    Dataset,
    Failure,
    Link,
    Pool,
    Quota,
    Site,
    Subsidy,
    Tariff,
    Tenant,
)
from suanli.model.job import Job, JobKind, WorkloadProfile
from suanli.model.scenario import Scenario

__all__ = [
    "Accelerator",
    "CarbonIntensity",
    "Dataset",
    "Failure",
    "Job",
    "JobKind",
    "Link",
    "Pool",
    "Precision",
    "Quota",
    "Scenario",
    "Site",
    "Subsidy",
    "Tariff",
    "Tenant",
    "WorkloadProfile",
]
