"""Jobs: submit, list, get, cancel, why it waits, its output, its history; decisions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import Discriminator, Tag

from suanli.api.auth import Caller, Svc, TenantCaller
from suanli.api.convert import decision_out, job_out
from suanli.api.errors import ApiError
from suanli.api.jobfile import JobFile
from suanli.api.models import (
    MAX_ID,
    DecisionOut,
    ErrorOut,
    EventOut,
    JobIn,
    JobList,
    JobOut,
    Line,
    LogsOut,
    PositionOut,
    WhyOut,
    iso,
)
from suanli.api.services import Services
from suanli.control.service import NotSupported
from suanli.sites.base import LogChunk, LogsUnavailable
from suanli.store.records import JobRecord, Principal
from suanli.store.schema import JobState

router = APIRouter(prefix="/v1", tags=["jobs"])
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 422)
}


def _form(v: Any) -> str:
    """Which form a submission is in: a job file has a ``version``."""
    has = "version" in v if isinstance(v, dict) else hasattr(v, "version")
    return "jobfile" if has else "jobin"


Submission = Annotated[
    Annotated[JobFile, Tag("jobfile")] | Annotated[JobIn, Tag("jobin")],
    Discriminator(_form),
]
MAX_LOG_BYTES = 16 * 1024 * 1024
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's id.")]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Submitting again with the same key returns the first job.",
    ),
]


def _own_job(svc: Svc, who: Principal, job_id: int) -> JobRecord:
    """The job, if the caller may see it (a tenant sees only its own); 404 otherwise."""
    rec = svc.jobs.get(job_id, None if who.is_admin else who.tenant_id)
    if rec is None:
        raise ApiError(
            404, f"no job {job_id}", field="job_id", hint="list your jobs with GET /v1/jobs"
        )
    return rec


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    response_model=JobOut,
    responses={
        **ERRORS,
        200: {
            "model": JobOut,
            "description": "A repeat with the same Idempotency-Key: the job submitted first.",
        },
        201: {"description": "The job, queued."},
        429: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="Submit a job",
)
def submit_job(
    body: Submission,
    svc: Svc,
    who: TenantCaller,
    response: Response,
    idempotency_key: IdemKey = None,
) -> JobOut:
    """Queue a job for the caller's tenant; it is scheduled by the policy and run at the
    site the policy chooses. The body is a job file (with ``version``; its JSON Schema at
    ``GET /v1/schema/jobfile``, docs/jobs.md) or the older flat form. 429 with
    ``Retry-After`` beyond the tenant's submission rate or queued-jobs limit; 503 with
    ``Retry-After`` while the database is unavailable (retry with the same
    ``Idempotency-Key``)."""
    assert who.tenant_id is not None
    svc.limits.check_submit(who.tenant_id)  # 429 beyond the tenant's rate or queue
    if isinstance(body, JobFile):
        spec, command = svc.validator.spec_of_file(body, who.tenant_id), body.run
    else:
        spec, command = svc.validator.spec(body, who.tenant_id), body.command
    rec, new = svc.jobs.submit(
        who.tenant_id,
        spec,
        command,
        name=body.name,
        client_key=idempotency_key,
        at=svc.control.clock.time(),
    )
    if new:
        svc.control.submitted(rec)
        svc.telemetry.submissions.inc()
    else:
        response.status_code = status.HTTP_200_OK
    return job_out(rec)


@router.get("/schema/jobfile", summary="The job file's JSON Schema")
def jobfile_schema() -> dict[str, Any]:
    """The JSON Schema of the job file (version 1) that ``POST /v1/jobs`` accepts."""
    return JobFile.model_json_schema()


@router.get("/jobs", response_model=JobList, responses=ERRORS, summary="List jobs")
def list_jobs(
    svc: Svc,
    who: Caller,
    state: JobState | None = None,
    tenant: Annotated[Line | None, Query(max_length=64, description="Admins only.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> JobList:
    """The caller's jobs (an admin's: everyone's, or ``tenant``'s), newest first."""
    if tenant is not None and not who.is_admin and tenant != who.tenant_id:
        raise ApiError(403, "tenants list only their own jobs", field="tenant")
    owner = who.tenant_id if not who.is_admin else tenant
    recs = svc.jobs.page(owner, state, limit, before_id)
    ctl = svc.control
    out = [job_out(r, ctl.reason(r.id) if r.state == "queued" else None) for r in recs]
    nxt = recs[-1].id if len(recs) == limit else None
    return JobList(jobs=out, next_before_id=nxt)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS, summary="Get a job")
def get_job(job_id: JobId, svc: Svc, who: Caller) -> JobOut:
    """One job (a tenant sees only its own)."""
    rec = _own_job(svc, who, job_id)
    return job_out(rec, svc.control.reason(rec.id) if rec.state == "queued" else None)


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses=ERRORS,
    summary="Cancel a job",
)
def cancel_job(job_id: JobId, svc: Svc, who: Caller) -> JobOut:
    """Ask for a job to be cancelled: at once while queued, else through ``scancel``."""
    _own_job(svc, who, job_id)
    rec = svc.jobs.request_cancel(job_id)
    assert rec is not None
    if rec.cancel_requested and not JobState(rec.state).final:
        svc.control.cancel_requested(job_id)
    return job_out(rec)


@router.get(
    "/jobs/{job_id}/why",
    response_model=WhyOut,
    responses=ERRORS,
    summary="Why is my job waiting?",
)
def why(job_id: JobId, svc: Svc, who: Caller) -> WhyOut:
    """The policy's reason for a waiting job; for others, where it is."""
    rec = _own_job(svc, who, job_id)
    queued = rec.state == "queued"
    live = svc.control.reason(job_id) if queued else None
    out = WhyOut(
        job_id=rec.id,
        state=JobState(rec.state),
        waiting=queued,
        reason=live if live is not None else rec.reason,
        policy=svc.control.policy_name,
    )
    seen = svc.control.outlook(job_id) if queued else None
    if seen is not None:
        ol, site = seen
        out.position = PositionOut(
            queue=ol.position, tenant=ol.tenant_position, sites=ol.site_positions
        )
        if ol.expected_start_s is not None:
            out.expected_start = iso(svc.control.epoch0 + ol.expected_start_s)
            out.expected_site = site
    return out


@router.get(
    "/jobs/{job_id}/logs",
    response_model=LogsOut,
    responses={
        **ERRORS,
        200: {"content": {"text/plain": {}}, "description": "with follow: the output as it comes"},
        409: {"model": ErrorOut},
        502: {"model": ErrorOut},
    },
    summary="A job's output",
)
def logs(
    job_id: JobId,
    svc: Svc,
    who: Caller,
    tail_bytes: Annotated[int, Query(ge=0, le=MAX_LOG_BYTES)] = 64 * 1024,
    offset: Annotated[int | None, Query(ge=0, description="from this byte on")] = None,
    follow: Annotated[bool, Query(description="stream as text until the job ends")] = False,
) -> Any:
    """The job's output from its site — its last ``tail_bytes`` (0: all), or from byte
    ``offset`` — where the site's backend keeps it (Ray; Slurm with a ``log_dir``). With
    ``follow`` the output streams as plain text until the job has ended. 409 with the
    reason when there is none to read — the job has not reached a site, or its site's
    backend keeps no logs; 502 when the site does not answer."""
    rec = _own_job(svc, who, job_id)
    if rec.site is None or rec.external_id is None:
        raise ApiError(
            409,
            f"job {job_id} has not reached a site yet (state {rec.state})",
            field="job_id",
            hint="logs exist once the job is pending or running at its site",
        )
    site, ext = rec.site, rec.external_id
    start = offset if offset is not None else (-tail_bytes if tail_bytes else 0)
    chunk = _read_logs(svc, site, ext, start, job_id)
    if not follow:
        return LogsOut(
            job_id=job_id,
            site=site,
            external_id=ext,
            logs=chunk.text,
            end=chunk.end,
            final=JobState(rec.state).final,
        )

    def stream() -> Iterator[str]:
        end = chunk.end
        yield chunk.text
        while True:
            now = svc.jobs.get(job_id, None)
            done = now is None or JobState(now.state).final or now.external_id != ext
            try:
                more = svc.control.logs(site, ext, end)
            except (NotSupported, LogsUnavailable):
                return
            if more.text:
                yield more.text
            end = more.end
            if done:
                return
            time.sleep(svc.settings.log_follow_s)

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")


def _read_logs(svc: Services, site: str, ext: str, start: int, job_id: int) -> LogChunk:
    try:
        return svc.control.logs(site, ext, start)
    except NotSupported as exc:
        raise ApiError(
            409, f"site {site} keeps no logs suanli can read: {exc}", field="job_id"
        ) from None
    except LogsUnavailable as exc:
        raise ApiError(502, f"site {site}: {exc}", field="job_id") from None


@router.get(
    "/jobs/{job_id}/events",
    response_model=list[EventOut],
    responses=ERRORS,
    summary="A job's history",
)
def events(job_id: JobId, svc: Svc, who: Caller) -> list[EventOut]:
    """State changes of a job, oldest first."""
    _own_job(svc, who, job_id)
    out = []
    for e in svc.jobs.events(job_id):
        at = iso(e.at)
        assert at is not None
        out.append(EventOut(at=at, state=e.state, message=e.message))
    return out


@router.get(
    "/decisions",
    response_model=list[DecisionOut],
    responses=ERRORS,
    summary="Decisions history",
)
def decisions(
    svc: Svc,
    who: Caller,
    job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[DecisionOut]:
    """The policy's decisions (starts, preemptions, waiting reasons), newest first."""
    if job_id is not None:
        _own_job(svc, who, job_id)
    recs = svc.jobs.decisions(
        job_id=job_id,
        tenant_id=None if who.is_admin else who.tenant_id,
        limit=limit,
        before_id=before_id,
    )
    return [decision_out(d) for d in recs]
