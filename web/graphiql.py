"""GraphiQL served from the server's own assets, under a strict CSP.

Strawberry's page loads React and GraphiQL from a CDN: blank with no internet
and refused under a Content-Security-Policy that allows only 'self'. Here the
page refers only to files in `web/static/graphiql/` (built from the npm
`graphiql` package by `tools/graphiql/build.sh`), and its start-up code is a
file too, since the policy allows no inline script.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
STATIC_PATH = "/static/graphiql"

GRAPHIQL_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Service360 · GraphiQL</title>
<link rel="stylesheet" href="{static}/graphiql.min.css">
<link rel="stylesheet" href="{static}/page.css">
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}">Loading GraphiQL…</div>
<script src="{static}/react.production.min.js"></script>
<script src="{static}/react-dom.production.min.js"></script>
<script src="{static}/graphiql.min.js"></script>
<script src="{static}/init.js"></script>
</body>
</html>
"""


def graphiql_page(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = _PAGE.format(static=escape(root + STATIC_PATH), endpoint=escape(root + request.url.path))
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": GRAPHIQL_CSP,
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
        },
    )


def graphiql_assets() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)
