"""Pure ASGI middleware: the client address from a trusted proxy's X-Forwarded-For.

Replaces uvicorn's ProxyHeadersMiddleware, which takes any text as the
address: here only a proxy in TRUSTED_PROXIES is believed, only entries that
are IP addresses are read, and the client is the nearest address that is not
itself a trusted proxy (walking from the right, the part a proxy appended).
An entry that is not an address stops the walk: the connection's own peer
address stays. X-Forwarded-Proto is read from the same proxies (http/https).
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):  # RFC 7239 style IPv6
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ForwardedForMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_proxies: tuple[str, ...]) -> None:
        self.app = app
        self.trust_any = "*" in trusted_proxies
        self.networks = [
            ipaddress.ip_network(item, strict=False) for item in trusted_proxies if item != "*"
        ]

    def _trusted(self, address: Address | None) -> bool:
        if address is None:
            return False
        return self.trust_any or any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if client and self._trusted(_address(client[0])):
                self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        """In place, as uvicorn's does: the request log (outer) reads the scope."""
        forwarded: list[str] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.extend(value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto
        client: Address | None = None
        for entry in reversed(forwarded):
            address = _address(entry)
            if address is None:
                break  # not an address: believe nothing further left
            client = address
            if not self._trusted(address):
                break
        if client is not None:
            scope["client"] = (str(client), 0)
