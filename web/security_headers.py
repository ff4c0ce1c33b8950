"""Pure ASGI middleware: security headers on every response.

Answers that set their own Content-Security-Policy (the GraphiQL page) keep
it; every other answer is data, which no browser should run or frame.
Answers to POST get `Cache-Control: no-store` unless they set their own:
mutations answer with session tokens, which no cache may keep (GET answers
are queries and carry their own `private, no-cache`). With `hsts`, set when
the service is reached over TLS only, every answer carries
Strict-Transport-Security.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HSTS = b"max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        is_post = scope.get("method") == "POST"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", DEFAULT_CSP))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if is_post and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts and b"strict-transport-security" not in names:
                    headers.append((b"strict-transport-security", HSTS))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
