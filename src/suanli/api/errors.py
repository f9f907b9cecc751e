"""Errors as JSON ``{"error", "field", "hint"}``, and a limit on request body size.

A database that is down, restarting, unreachable or locked is answered ``503`` with
``Retry-After`` (:func:`suanli.store.db.unavailable` says which errors are such), never
``500``; the answer goes through the normal exception handlers, so the HTTP connection is
kept.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from suanli.store.db import unavailable

log = logging.getLogger("suanli.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ``Retry-After`` (s) of a 503 for a database that is down or locked.
DB_RETRY_AFTER_S = 2
#: Seconds between two log lines about the database being unavailable.
_DB_LOG_EVERY_S = 10.0


class ApiError(Exception):
    """An error answered with ``status`` and a message that says how to fix it."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.hint = hint
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        """Headers of the answer: ``WWW-Authenticate`` for 401, ``Retry-After`` when set."""
        out: dict[str, str] = {}
        if self.status == 401:
            out["WWW-Authenticate"] = "Bearer"
        if self.retry_after is not None:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return out or None


def _body(
    error: str, field: str | None = None, hint: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": error, "field": field, "hint": hint, **extra}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the same JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            _body(exc.error, exc.field, exc.hint), status_code=exc.status, headers=exc.headers()
        )

    last_logged = [-math.inf]

    async def _database(_req: Request, exc: Exception) -> JSONResponse:
        cause = unavailable(exc)
        if cause is None:  # a constraint or a bug: as any other internal error
            log.exception("internal error", exc_info=exc)
            return JSONResponse(
                _body("internal error", None, "see the server log"), status_code=500
            )
        now = time.monotonic()
        if now - last_logged[0] >= _DB_LOG_EVERY_S:
            last_logged[0] = now
            log.warning("answering 503: %s", cause)
        return JSONResponse(
            _body(
                cause,
                None,
                f"the database is unavailable for now; retry after {DB_RETRY_AFTER_S} s "
                "(with the same Idempotency-Key for a submission)",
                retry_after_s=DB_RETRY_AFTER_S,
            ),
            status_code=503,
            headers={"Retry-After": str(DB_RETRY_AFTER_S)},
        )

    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(PoolTimeoutError, _database)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        details = [
            {
                "field": ".".join(str(x) for x in _loc(e.get("loc", ()))),
                "error": str(e.get("msg", "")),
            }
            for e in errors
        ]
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return JSONResponse(
                _body(
                    "malformed JSON: " + str(first.get("ctx", {}).get("error", first.get("msg"))),
                    "body",
                    "send a JSON object with Content-Type: application/json",
                ),
                status_code=400,
            )
        field = details[0]["field"] if details else None
        msg = details[0]["error"] if details else "invalid request"
        hint = "see the OpenAPI description at /docs" + (
            f" ({len(details)} problems, all in 'errors')" if len(details) > 1 else ""
        )
        return JSONResponse(_body(msg, field, hint, errors=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> JSONResponse:
        hint = {404: "see /docs for the endpoints", 405: "see /docs for the allowed methods"}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only its first route's
            headers["Allow"] = ", ".join(_allowed_methods(app, req.scope))
        return JSONResponse(
            _body(str(exc.detail), None, hint.get(exc.status_code)),
            status_code=exc.status_code,
            headers=headers or None,
        )

    @app.exception_handler(Exception)
    async def _crash(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return JSONResponse(_body("internal error", None, "see the server log"), status_code=500)


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods of every route whose path matches ``scope``'s (Starlette's 405 names
    only those of the first such route)."""
    from starlette.routing import Match

    methods = set()
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**scope, "method": method}
        if any(r.matches(probe)[0] is Match.FULL for r in app.router.routes):
            methods.add(method)
    return sorted(methods)


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes or declared < 0:
                    await self._refuse(send)
                    return
        seen = 0
        too_big = False

        async def limited() -> Message:
            nonlocal seen, too_big
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise _TooLarge
            return msg

        async def guarded_send(msg: Message) -> None:
            if not too_big:  # once the body is too large, the app's answer is dropped
                await send(msg)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited, guarded_send)
        if too_big:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        import json

        body = json.dumps(
            _body(
                f"request body larger than {self.max_bytes} bytes",
                "body",
                "send a smaller request",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


#: Tags of the forms a job may be submitted in (:mod:`suanli.api.routes_jobs`): not fields.
_FORM_TAGS = ("jobfile", "jobin")


def _loc(raw: Any) -> tuple[Any, ...]:
    """An error's location without the tag of the body's form; a job file's fields are
    named as in the file (``resources.accelerators``, not ``body.resources…``)."""
    loc: tuple[Any, ...] = tuple(raw)
    if len(loc) >= 2 and loc[0] == "body" and loc[1] in _FORM_TAGS:
        return loc[2:] if loc[1] == "jobfile" else ("body", *loc[2:])
    return loc
