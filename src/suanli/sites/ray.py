"""``ray``: a site that is a Ray cluster, driven through the Ray Jobs REST API.

Each job is a Ray job: its command is the entrypoint, its *submission id* is suanli's tag
(``suanli:<installation>:<job>:<attempt>``, also in its metadata), so a second submission of
the same dispatch is refused by Ray as a duplicate and counts as accepted — dispatch stays
exactly once. A job asks for the accelerators of its site's pool as Ray resources:

* the pool's accelerator is a **custom resource** named by the sites file's
  ``device_types`` (by default the catalog id, e.g. ``nvidia_h100_sxm5``): start the nodes
  with ``ray start --resources '{"h100": 8}'``;
* with ``count_resource: GPU`` (the default) the same number of Ray ``GPU`` s, so that Ray
  sets ``CUDA_VISIBLE_DEVICES``; ``NPU`` for Ascend and other NPUs (a custom resource);
  ``none`` for neither.

A job on one node reserves its devices for its entrypoint. Ray gives an entrypoint no
gang across nodes, so a job on several nodes reserves nothing for its entrypoint: its
command reserves its gang itself, with a placement group of ``SUANLI_NODES`` bundles of
``{SUANLI_DEVICE_TYPE: SUANLI_DEVICES_PER_NODE}`` (environment variables every job gets;
docs/serve.md). A job's own environment variables go in its runtime environment, its
working directory is entered with ``cd`` before the command runs. A time limit wraps the
command in ``timeout`` (and is noted in the job's metadata); a job that reaches it fails
with exit status 124 and is listed as *timeout*.

Listing (``GET /api/jobs/``) maps Ray's states: PENDING → pending, RUNNING → running,
SUCCEEDED → done, FAILED → failed (timeout, at the time limit), STOPPED → cancelled. A
cluster that does not answer, or answers with a server error, is unreachable. Logs come
from ``GET /api/jobs/{id}/logs``. Only HTTP is used: the server running suanli needs no
Ray installed.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from suanli.clock import Clock
from suanli.sites.base import (
    Feature,
    Listing,
    LogChunk,
    LogsUnavailable,
    SiteJob,
    SiteJobState,
    SubmitRequest,
    SubmitResult,
    chunk_of,
)
from suanli.sites.registry import BackendSettings, register

#: Ray's job states, as suanli's neutral site states.
RAY_STATES: Mapping[str, SiteJobState] = {
    "PENDING": SiteJobState.PENDING,
    "RUNNING": SiteJobState.RUNNING,
    "SUCCEEDED": SiteJobState.DONE,
    "FAILED": SiteJobState.FAILED,
    "STOPPED": SiteJobState.CANCELLED,
}
#: The metadata key holding a job's tag.
TAG_KEY = "suanli_tag"
#: Metadata key of a job's time limit (real seconds), when it has one.
LIMIT_KEY = "suanli_time_limit_s"
#: Exit status of ``timeout`` when it ended the command.
TIMEOUT_EXIT = 124


class RaySettings(BackendSettings):
    """How to reach one site's Ray cluster (its entry in the sites file)."""

    address: str = Field(
        description="the Ray Jobs API (the dashboard) of the head node, e.g. http://head:8265"
    )
    count_resource: Literal["GPU", "NPU", "none"] = Field(
        "GPU", description="also reserve this many GPUs (CUDA_VISIBLE_DEVICES) or NPUs"
    )
    entrypoint_num_cpus: float = Field(0.0, ge=0, description="CPUs for each job's entrypoint")
    env: dict[str, str] = Field(default_factory=dict, description="environment of every job")
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers of every request (e.g. a token)"
    )
    timeout_s: float = Field(30.0, gt=0, le=600, description="per request")

    def url(self, path: str) -> str:
        """The URL of an API path."""
        return self.address.rstrip("/") + path


def entrypoint_request(cfg: RaySettings, req: SubmitRequest, scale: float = 1.0) -> dict[str, Any]:
    """The body of ``POST /api/jobs/`` for one dispatch (``scale``: seconds of the control
    plane's clock per real second, for the time limit)."""
    command = req.command
    if req.workdir is not None:
        command = f"cd {shlex.quote(req.workdir)} && {command}"
    meta = {TAG_KEY: req.tag, "suanli_name": req.name}
    if req.time_limit_s is not None:
        limit = max(1, round(req.time_limit_s / scale))
        command = f"timeout {limit}s sh -c {shlex.quote(command)}"
        meta[LIMIT_KEY] = str(limit)
    env = {**cfg.env, **req.job_env()}
    body: dict[str, Any] = {
        "entrypoint": command,
        "submission_id": req.tag,
        "metadata": meta,
        "runtime_env": {"env_vars": env},
        "entrypoint_num_cpus": cfg.entrypoint_num_cpus,
    }
    if req.nodes == 1:  # a gang on several nodes reserves itself (module docstring)
        n = float(req.devices_per_node)
        resources = {req.device_type: n}
        if cfg.count_resource == "GPU":
            body["entrypoint_num_gpus"] = n
        elif cfg.count_resource == "NPU":
            resources["NPU"] = n
        body["entrypoint_resources"] = resources
    return body


def site_job(j: Mapping[str, Any]) -> SiteJob:
    """A job of ``GET /api/jobs/`` as suanli sees it."""
    native = str(j.get("status") or "UNKNOWN")
    meta = j.get("metadata") or {}
    if not isinstance(meta, Mapping):
        meta = {}
    start, end = j.get("start_time"), j.get("end_time")
    code = j.get("driver_exit_code")
    state = RAY_STATES.get(native)
    if state is SiteJobState.FAILED and code == TIMEOUT_EXIT and LIMIT_KEY in meta:
        state = SiteJobState.TIMEOUT
    return SiteJob(
        external_id=str(j.get("submission_id") or j.get("job_id") or ""),
        state=state,
        native_state=native,
        reason=str(j.get("message") or ""),
        tag=str(meta.get(TAG_KEY, "")),
        exit_code=int(code) if isinstance(code, int) and native != "STOPPED" else None,
        start_time=start / 1000.0 if isinstance(start, int | float) and start > 0 else None,
        end_time=end / 1000.0 if isinstance(end, int | float) and end > 0 else None,
    )


@register("ray")
class RaySite:
    """One site's Ray cluster, reached through its Jobs API (see the module docstring)."""

    Settings: ClassVar[type[RaySettings]] = RaySettings
    #: What the backend lacks; an instance adds what its settings turn off.
    unsupported: dict[Feature, str] = {  # noqa: RUF012 (copied per instance)
        Feature.SUSPEND: "Ray jobs cannot be suspended and resumed",
    }
    needs_device_types: ClassVar[bool] = False

    def __init__(self, name: str, cfg: RaySettings, clock: Clock) -> None:
        self.name = name
        self.cfg = cfg
        self.clock = clock
        self.unsupported = {**self.unsupported, **cfg.disabled()}
        self.http = httpx.Client(headers=cfg.headers, timeout=cfg.timeout_s)

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """``POST /api/jobs/``: accepted, refused for good (a 4xx), or uncertain."""
        try:
            r = self.http.post(
                self.cfg.url("/api/jobs/"), json=entrypoint_request(self.cfg, req, self.clock.scale)
            )
        except httpx.HTTPError as exc:
            return SubmitResult(req, None, False, f"{type(exc).__name__}: {exc}", self._now())
        ended = self._now()
        if r.status_code == 200:
            return SubmitResult(
                req, str(r.json().get("submission_id") or req.tag), False, "", ended
            )
        text = _last_line(r.text)
        if "already exists" in r.text:  # an earlier try of this dispatch reached the cluster
            return SubmitResult(req, req.tag, False, "", ended)
        return SubmitResult(req, None, 400 <= r.status_code < 500, text, ended)

    def list_jobs(self) -> Listing:
        """``GET /api/jobs/``: every job the cluster knows, or why it could not say."""
        started = self._now()
        try:
            r = self.http.get(self.cfg.url("/api/jobs/"))
        except httpx.HTTPError as exc:
            return Listing(self.name, False, f"{type(exc).__name__}: {exc}", (), started)
        if r.status_code != 200:
            return Listing(
                self.name, False, f"HTTP {r.status_code}: {_last_line(r.text)}", (), started
            )
        try:
            doc = r.json()
        except ValueError:
            return Listing(self.name, False, "the Jobs API answered with no JSON", (), started)
        rows = doc.values() if isinstance(doc, dict) else doc
        jobs = tuple(site_job(j).on(self.clock) for j in rows if isinstance(j, Mapping))
        return Listing(self.name, True, "", jobs, started)

    def cancel(self, external_id: str) -> str | None:
        """``POST /api/jobs/{id}/stop``; a job the cluster no longer knows counts as gone."""
        try:
            r = self.http.post(self.cfg.url(f"/api/jobs/{_quoted(external_id)}/stop"))
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if r.status_code in (200, 404):
            return None
        return f"HTTP {r.status_code}: {_last_line(r.text)}"

    def logs(self, external_id: str, offset: int) -> LogChunk:
        """``GET /api/jobs/{id}/logs``: the job's output (the API gives it whole; the chunk
        from ``offset`` is cut here)."""
        try:
            r = self.http.get(self.cfg.url(f"/api/jobs/{_quoted(external_id)}/logs"))
        except httpx.HTTPError as exc:
            raise LogsUnavailable(f"the cluster did not answer: {exc}") from None
        if r.status_code == 404:
            raise LogsUnavailable(f"the cluster no longer knows job {external_id}")
        if r.status_code != 200:
            raise LogsUnavailable(f"HTTP {r.status_code}: {_last_line(r.text)}")
        return chunk_of(str(r.json().get("logs", "")).encode("utf-8"), offset)

    def before_recovery(self, install_id: str, timeout_s: float) -> None:
        """Nothing is left in flight: a submission either reached the cluster (and is found
        by its tag) or did not."""

    def _now(self) -> float:
        return self.clock.monotonic()


def _quoted(external_id: str) -> str:
    return quote(external_id, safe=":")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "(no message)"
