"""uvicorn's answer past MAX_CONNECTIONS (its `limit_concurrency`), in JSON.

Past the limit uvicorn answers a request itself, before the app sees it,
with a plain-text 503 (`service_unavailable` in its HTTP protocol modules,
looked up at each request). Replaced here, in each worker, by an answer like
the app's own: JSON with a code, the request id, Retry-After, and the
connection closed. uvicorn is pinned (pyproject.toml);
tests/test_slow_clients.py fails if an upgrade moves the function.
"""

from __future__ import annotations

import importlib
import secrets

from starlette.types import Receive, Scope, Send

from web.failures import UNAVAILABLE_RETRY_AFTER_SECONDS, send_failure

OVERLOAD_MESSAGE = "The server has too many connections open. Try again in a few seconds."
PROTOCOL_MODULES = ("uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl")


async def connection_limit_answer(scope: Scope, receive: Receive, send: Send) -> None:
    # Before the app: no request context, so the id is made here.
    request_id = secrets.token_hex(8)
    body = {
        "errors": [
            {
                "message": OVERLOAD_MESSAGE,
                "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": request_id},
            }
        ]
    }
    await send_failure(
        send,
        503,
        body,
        [
            (b"retry-after", str(UNAVAILABLE_RETRY_AFTER_SECONDS).encode()),
            (b"x-request-id", request_id.encode()),
            (b"connection", b"close"),
        ],
    )


def answer_connection_limit_in_json() -> None:
    """Install the JSON answer in uvicorn's HTTP protocols (those importable:
    httptools is optional)."""
    for name in PROTOCOL_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if not hasattr(module, "service_unavailable"):
            raise RuntimeError(f"{name} no longer has service_unavailable (uvicorn upgraded?)")
        setattr(module, "service_unavailable", connection_limit_answer)  # noqa: B010
