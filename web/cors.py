"""CORS for browser clients on other origins, by configuration (none by default)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

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


def cors_middleware(origins: tuple[str, ...]) -> list[Middleware]:
    """The CORS middleware for `CORS_ORIGINS`, or nothing when none is set."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=False,
            max_age=600,
        )
    ]
