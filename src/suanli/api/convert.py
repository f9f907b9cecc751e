"""Records of the store as API response bodies."""

from __future__ import annotations

from suanli.api.models import DecisionOut, JobOut, TenantOut, TokenOut, iso
from suanli.model.job import DEFAULT_PREEMPTIBLE
from suanli.store.records import DecisionRecord, JobRecord, TenantRecord, TokenRecord
from suanli.store.schema import JobState


def job_out(r: JobRecord, live_reason: str | None = None) -> JobOut:
    """A job record as returned by the API (``live_reason``: the policy's current one)."""
    s = r.spec
    submitted = iso(r.submitted_at)
    updated = iso(r.updated_at)
    assert submitted is not None and updated is not None
    return JobOut(
        id=r.id,
        tenant=r.tenant_id,
        name=r.name,
        state=JobState(r.state),
        reason=live_reason if live_reason is not None else r.reason,
        cancel_requested=r.cancel_requested,
        profile=str(s.get("profile", "")),
        kind=str(s.get("kind", "")),
        gang=int(s.get("gang", 0)),
        gang_min=s.get("gang_min"),
        gang_max=s.get("gang_max"),
        work_pflop=None if s.get("work_pflop", 0.0) is None else float(s.get("work_pflop", 0.0)),
        accepted_types=list(s.get("accepted_types") or []),
        types_ordered=bool(s.get("types_ordered", True)),
        accepted_stacks=list(s.get("accepted_stacks") or []),
        dataset=s.get("dataset"),
        deadline=iso(s.get("deadline_at")),
        deferrable=bool(s.get("deferrable", False)),
        preemptible=bool(s.get("preemptible", DEFAULT_PREEMPTIBLE)),
        priority=int(s.get("priority", 0)),
        command=r.command,
        site=r.site,
        pool=r.pool,
        devices=r.devices,
        attempt=r.attempt,
        external_id=r.external_id,
        site_state=r.site_state,
        last_state=r.last_state,
        submitted_at=submitted,
        updated_at=updated,
        started_at=iso(r.started_at),
        ended_at=iso(r.ended_at),
        exit_code=r.exit_code,
        service=r.service_id,
    )


def tenant_out(t: TenantRecord) -> TenantOut:
    """A tenant record for the API."""
    created = iso(t.created_at)
    assert created is not None
    return TenantOut(
        id=t.id,
        name=t.name,
        weight=t.weight,
        priority=t.priority,
        origin=t.origin,
        created_at=created,
        max_queued=t.max_queued,
        submit_rate=t.submit_rate,
    )


def token_out(t: TokenRecord) -> TokenOut:
    """A token record (no secret) for the API."""
    created = iso(t.created_at)
    assert created is not None
    return TokenOut(
        id=t.id,
        role=t.role,
        tenant=t.tenant_id,
        label=t.label,
        created_at=created,
        revoked_at=iso(t.revoked_at),
    )


def decision_out(d: DecisionRecord) -> DecisionOut:
    """A decision record for the API."""
    at = iso(d.at)
    assert at is not None
    return DecisionOut(
        id=d.id,
        at=at,
        round=d.round,
        policy=d.policy,
        job_id=d.job_id,
        action=d.action,
        site=d.site,
        pool=d.pool,
        devices=d.devices,
        detail=d.detail,
    )
