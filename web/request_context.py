"""Pure ASGI middleware: a request id, statement accounting and one log line.

The id comes from a trusted proxy's `X-Request-ID` when it is well formed
(`TRUSTED_PROXIES`: the addresses or networks whose header is believed, `*`
for any), or is made here; it is echoed in the response and set in `telemetry` so that
every log line of the request carries it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.pool import StatementStats, current_stats
from telemetry import request_id_var

logger = logging.getLogger("service360.request")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


def _networks(
    trusted_proxies: tuple[str, ...],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in trusted_proxies if item != "*"]


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    ) -> None:
        self.app = app
        self.trust_any = "*" in trusted_proxies
        self.trusted_networks = _networks(trusted_proxies)

    def _trusts(self, scope: Scope) -> bool:
        if self.trust_any:
            return True
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.trusted_networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        if self._trusts(scope):
            for name, value in scope["headers"]:
                if name == b"x-request-id":
                    incoming = value.decode("latin-1")
                    break
        request_id = incoming if _VALID_ID.match(incoming) else secrets.token_hex(8)
        stats = StatementStats()
        id_token = request_id_var.set(request_id)
        stats_token = current_stats.set(stats)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # Probes and scrapes come every few seconds: not worth a line each.
            if scope["path"] not in ("/healthz", "/readyz", "/metrics"):
                logger.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "sql_statements": stats.count,
                        # After X-Forwarded-For from a trusted proxy was applied.
                        "client": (scope.get("client") or ("",))[0],
                        "operation": scope.get("state", {}).get("operation_name")
                        if isinstance(scope.get("state"), dict)
                        else None,
                    },
                )
            current_stats.reset(stats_token)
            request_id_var.reset(id_token)
