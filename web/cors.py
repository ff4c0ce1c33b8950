"""CORS for browser clients on other origins, by configuration (none by default)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from web.failures import failure_response

# What browser GraphQL clients send (Apollo adds its client name and version).
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "X-Request-ID",
    "apollographql-client-name",
    "apollographql-client-version",
)
EXPOSED_HEADERS = ("X-Request-ID", "Retry-After", "ETag")


class JSONRefusalCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in JSON with a
    code (Starlette's is plain text) and the same CORS headers."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-type", "content-length")
        }
        message = bytes(response.body).decode(errors="replace") + "."
        return failure_response(response.status_code, message, "CORS_REFUSED", headers)


def cors_middleware(origins: tuple[str, ...]) -> list[Middleware]:
    """The CORS middleware for `CORS_ORIGINS`, or nothing when none is set."""
    if not origins:
        return []
    return [
        Middleware(
            JSONRefusalCORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=False,
            max_age=600,
        )
    ]
