"""Pure ASGI middleware: no exception ever reaches the client as plain text.

Whatever escapes the app before its answer has started (the GraphQL view,
the persisted-query lookup, a probe, another middleware) is answered in
JSON like a GraphQL error, with the request id:

- the database unavailable (`db.availability`): 503, `Retry-After`, code
  `SERVICE_UNAVAILABLE`, logged at WARNING (an outage, not a bug);
- anything else: 500, masked as `INTERNAL_SERVER_ERROR`, logged at ERROR
  with its traceback.

Once an answer has started nothing can replace it: the error is logged and
re-raised, so the server closes the connection instead of pretending the
truncated answer was complete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.availability import database_unavailable
from schema.extensions import INTERNAL_MESSAGE, UNAVAILABLE_MESSAGE
from telemetry import current_request_id

logger = logging.getLogger("service360.errors")

# A PostgreSQL restart takes a second or two; clients should not hammer it.
UNAVAILABLE_RETRY_AFTER_SECONDS = 2


def failure_body(message: str, code: str) -> dict[str, Any]:
    """A GraphQL-shaped error answer carrying the request's id."""
    return {
        "errors": [
            {"message": message, "extensions": {"code": code, "requestId": current_request_id()}}
        ]
    }


async def send_failure(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A JSON error answer sent over ASGI itself, where no Response fits (a
    middleware that read the body, or uvicorn before the app); never cached."""
    encoded = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(encoded)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})


# What a refusal by the router, a static file or a small endpoint is told,
# by status (Starlette raises HTTPException; its own answers are plain text).
HTTP_REFUSALS: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "The request could not be read."),
    401: ("UNAUTHENTICATED", "Authentication is required."),
    403: ("FORBIDDEN", "Not allowed."),
    404: ("NOT_FOUND", "Nothing is served at this path; the API is at /graphql."),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed here."),
    408: ("REQUEST_TIMEOUT", "The request did not arrive in time."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    503: ("SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE),
}


def failure_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    """A JSON error answer in the GraphQL shape, never stored by a cache."""
    return Response(
        orjson.dumps(failure_body(message, code)),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def http_refusal(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for HTTPException (unknown path, wrong
    method, static files): JSON with a code and the request id."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    fallback = (
        ("BAD_REQUEST", "Refused.") if status < 500 else ("INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE)
    )
    code, message = HTTP_REFUSALS.get(status, fallback)
    headers = dict(exc.headers or {})
    if status == 405 and "Allow" in headers:
        # Starlette joins a set: the same order on every answer.
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
        message = f"{request.method} is not allowed here; allowed: {headers['Allow']}."
    return failure_response(status, message, code, headers)


class FailureMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except (Exception, asyncio.CancelledError) as error:
            if isinstance(error, asyncio.CancelledError) and _being_cancelled():
                raise  # this request itself is being cancelled: let it go
            # Anything else, a stray cancellation from inside the app (a
            # future shared with cancelled work) included, is answered.
            await self._answer_failure(error, scope, send, started)

    async def _answer_failure(
        self, error: BaseException, scope: Scope, send: Send, started: bool
    ) -> None:
        unavailable = database_unavailable(error)
        where = {"method": scope.get("method"), "path": scope.get("path")}
        if unavailable:
            logger.warning(
                "database unavailable",
                extra={**where, "error": f"{type(error).__name__}: {error}"},
            )
        else:
            logger.error("unexpected error", exc_info=error, extra=where)
        if started:
            raise error
        if unavailable:
            await send_failure(
                send,
                503,
                failure_body(UNAVAILABLE_MESSAGE, "SERVICE_UNAVAILABLE"),
                [(b"retry-after", str(UNAVAILABLE_RETRY_AFTER_SECONDS).encode())],
            )
        else:
            await send_failure(send, 500, failure_body(INTERNAL_MESSAGE, "INTERNAL_SERVER_ERROR"))


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
