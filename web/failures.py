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
from typing import Any

import orjson
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
            status, headers = 503, [(b"retry-after", str(UNAVAILABLE_RETRY_AFTER_SECONDS).encode())]
            body = failure_body(UNAVAILABLE_MESSAGE, "SERVICE_UNAVAILABLE")
        else:
            status, headers = 500, []
            body = failure_body(INTERNAL_MESSAGE, "INTERNAL_SERVER_ERROR")
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


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
