"""Errors as JSON ``{"error", "field", "hint"}``, and a limit on request body size."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("suanli.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(Exception):
    """An error answered with ``status`` and a message that says how to fix it."""

    def __init__(
        self, status: int, error: str, *, field: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.hint = hint


def _body(
    error: str, field: str | None = None, hint: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": error, "field": field, "hint": hint, **extra}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the same JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            _body(exc.error, exc.field, exc.hint), status_code=exc.status, headers=headers
        )

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
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        hint = {404: "see /docs for the endpoints", 405: "see /docs for the allowed methods"}
        return JSONResponse(
            _body(str(exc.detail), None, hint.get(exc.status_code)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _crash(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return JSONResponse(_body("internal error", None, "see the server log"), status_code=500)


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
