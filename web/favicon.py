"""The site icon: browsers ask every server for /favicon.ico (GraphiQL's page too)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

ICON = (Path(__file__).parent / "static" / "favicon.svg").read_bytes()


async def favicon(request: Request) -> Response:
    # An SVG under the conventional name: every current browser renders it.
    return Response(
        ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )
