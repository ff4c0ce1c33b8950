"""Pure ASGI middleware: refuse request bodies larger than a limit with 413,
and bodies that do not arrive in time with 408.

A declared Content-Length past the limit is refused before any byte is read;
a chunked body is counted as it arrives and refused once it passes the limit.
The whole body must arrive within `read_timeout_seconds` of the request's
headers: a client that declares 100 bytes and sends 10 would otherwise hold
its connection (and a file descriptor) for as long as it likes.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.failures import failure_body, send_failure

BODY_TIMEOUT_MESSAGE = "The request body did not arrive in time."


class _BodyTooLarge(Exception):
    pass


class BodyReadTimeout(Exception):
    """The request body did not arrive within the deadline (answered 408)."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout_seconds: float = 30.0) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if read_timeout_seconds <= 0:
            raise ValueError("read_timeout_seconds must be positive")
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_seconds = read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0
        body_complete = False
        response_started = False
        deadline = asyncio.get_running_loop().time() + self.read_timeout_seconds

        async def counting_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:
                # Only a disconnect is left to hear: no deadline on that.
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyReadTimeout from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
                body_complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if response_started:
                raise
            await self._refuse(send)
        except BodyReadTimeout:
            if response_started:
                raise
            await self._answer_timeout(send)

    async def _answer_timeout(self, send: Send) -> None:
        # The rest of the body may still come: never read as a request.
        body = failure_body(BODY_TIMEOUT_MESSAGE, "REQUEST_TIMEOUT")
        await send_failure(send, 408, body, [(b"connection", b"close")])

    async def _refuse(self, send: Send) -> None:
        refusal = failure_body(
            f"The request body is larger than {self.max_bytes} bytes.", "PAYLOAD_TOO_LARGE"
        )
        refusal["errors"][0]["extensions"]["maxBytes"] = self.max_bytes
        await send_failure(send, 413, refusal, [(b"connection", b"close")])
