"""A small typed client of the suanli API (what ``suanli jobs`` and ``suanli admin`` use).

::

    from suanli.api.client import Client
    with Client("http://127.0.0.1:8000", token) as c:
        job = c.submit(JobFile.model_validate(yaml.safe_load(open("job.yaml"))))
        print(c.why(job.id).expected_start)

Every call returns the API's own response models (:mod:`suanli.api.models`); an error
answer raises :class:`ApiCallError` with the API's ``error``, ``field`` and ``hint``.
``url`` and ``token`` default to ``$SUANLI_URL`` and ``$SUANLI_TOKEN``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from suanli.api.jobfile import JobFile
from suanli.api.models import (
    EventOut,
    JobList,
    JobOut,
    LogsOut,
    NewToken,
    TenantIn,
    TenantOut,
    TokenOut,
    WhyOut,
)
from suanli.errors import SuanliError

URL_ENV, TOKEN_ENV = "SUANLI_URL", "SUANLI_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8000"
M = TypeVar("M", bound=BaseModel)


class ApiCallError(SuanliError):
    """The API answered with an error (or could not be reached)."""

    def __init__(
        self, status: int, error: str, field: str | None = None, hint: str | None = None
    ) -> None:
        self.status, self.error, self.field, self.hint = status, error, field, hint
        where = f" [{field}]" if field else ""
        tail = f" — {hint}" if hint else ""
        super().__init__(f"{error}{where}{tail}" + (f" (HTTP {status})" if status else ""))


class Client:
    """The API at ``url`` with bearer ``token``."""

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout: float = 30.0
    ) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get(TOKEN_ENV)
        if not token:
            raise SuanliError(f"no API token: pass --token or set ${TOKEN_ENV}")
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    # -- jobs ---------------------------------------------------------------------------------
    def submit(self, job: JobFile, idempotency_key: str | None = None) -> JobOut:
        """Submit a job file."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = job.model_dump(mode="json", exclude_none=True)
        return self._call("POST", "/v1/jobs", JobOut, json=body, headers=headers)

    def jobs(self, state: str | None = None, limit: int = 100) -> JobList:
        """The caller's jobs, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        return self._call("GET", "/v1/jobs", JobList, params=params)

    def job(self, job_id: int) -> JobOut:
        """One job."""
        return self._call("GET", f"/v1/jobs/{job_id}", JobOut)

    def why(self, job_id: int) -> WhyOut:
        """Why a job waits, its position and expected start."""
        return self._call("GET", f"/v1/jobs/{job_id}/why", WhyOut)

    def events(self, job_id: int) -> list[EventOut]:
        """A job's history."""
        raw = self._raw("GET", f"/v1/jobs/{job_id}/events")
        return TypeAdapter(list[EventOut]).validate_python(raw.json())

    def cancel(self, job_id: int) -> JobOut:
        """Ask for a job to be cancelled."""
        return self._call("POST", f"/v1/jobs/{job_id}/cancel", JobOut)

    def logs(self, job_id: int, tail_bytes: int = 64 * 1024) -> LogsOut:
        """A job's output (its last ``tail_bytes``; 0: all)."""
        return self._call(
            "GET", f"/v1/jobs/{job_id}/logs", LogsOut, params={"tail_bytes": tail_bytes}
        )

    def follow(self, job_id: int, tail_bytes: int = 64 * 1024) -> Iterator[str]:
        """A job's output as it comes, until the job ends."""
        params: dict[str, str | int] = {"tail_bytes": tail_bytes, "follow": "true"}
        with self.http.stream("GET", f"/v1/jobs/{job_id}/logs", params=params, timeout=None) as r:
            if r.status_code >= 400:
                r.read()
                raise _error(r)
            yield from r.iter_text()

    # -- administration -----------------------------------------------------------------------
    def tenants(self) -> list[TenantOut]:
        """Every tenant (admin)."""
        raw = self._raw("GET", "/v1/tenants")
        return TypeAdapter(list[TenantOut]).validate_python(raw.json())

    def create_tenant(self, tenant: TenantIn) -> TenantOut:
        """Create a tenant (admin)."""
        return self._call("POST", "/v1/tenants", TenantOut, json=tenant.model_dump())

    def tokens(self) -> list[TokenOut]:
        """Every token, without secrets (admin)."""
        raw = self._raw("GET", "/v1/tokens")
        return TypeAdapter(list[TokenOut]).validate_python(raw.json())

    def issue_token(self, tenant: str, label: str = "") -> NewToken:
        """A new token for a tenant (admin); its secret is shown only now."""
        return self._call("POST", f"/v1/tenants/{tenant}/tokens", NewToken, json={"label": label})

    def revoke_token(self, token_id: int) -> None:
        """Revoke a token (admin)."""
        self._raw("DELETE", f"/v1/tokens/{token_id}")

    # -- plumbing -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, model: type[M], **kw: Any) -> M:
        return model.model_validate(self._raw(method, path, **kw).json())

    def _raw(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ApiCallError(
                0,
                f"cannot reach {self.url}: {exc}",
                hint=f"is suanli serve running there? set ${URL_ENV} or --url",
            ) from None
        if r.status_code >= 400:
            raise _error(r)
        return r


def _error(r: httpx.Response) -> ApiCallError:
    try:
        body = r.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiCallError(
        r.status_code,
        str(body.get("error") or r.reason_phrase or "error"),
        body.get("field"),
        body.get("hint"),
    )
