"""Effective priorities of jobs: ``π_j = (P_t(j), p_j)``, the tenant's priority then the
job's, compared lexicographically (the rule and why: :mod:`suanli.policy.priority`).

The scheduling state keeps its waiting jobs by effective priority with these
(:attr:`~suanli.core.policy.PolicyInput.waiting_levels`), so that a policy serving the
queue by priority need not group it anew each round."""

from __future__ import annotations

from collections.abc import Sequence

from suanli.core.jobtable import JobTable
from suanli.core.tables import FleetTables

#: An effective priority: (tenant priority, job priority), compared lexicographically.
Level = tuple[int, int]


def tenant_priorities(tables: FleetTables) -> tuple[int, ...]:
    """``P_t`` per tenant index (0 for a tenant the scenario does not list)."""
    by_id = {t.id: int(t.priority) for t in tables.scenario.tenants}
    return tuple(by_id.get(t, 0) for t in tables.tenant_ids)


def effective(jobs: JobTable, j: int, tenant_prio: Sequence[int]) -> Level:
    """``π_j = (P_t(j), p_j)``: job ``j``'s effective priority."""
    return (tenant_prio[jobs.tenant[j]], int(jobs.priority[j]))
