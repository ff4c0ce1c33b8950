"""Liveness and readiness probes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse

from db.migrate import pending_migrations

if TYPE_CHECKING:  # the app's state imports this edge's parts
    from app_state import AppResources


async def healthz(request: Request) -> JSONResponse:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The database answers and every migration on disk is applied."""
    pool: asyncpg.Pool = request.state.pool
    try:
        async with pool.acquire(timeout=2) as conn:
            pending = await pending_migrations(conn)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return JSONResponse({"status": "unavailable", "reason": type(error).__name__}, 503)
    if pending:
        return JSONResponse({"status": "unavailable", "pendingMigrations": pending}, 503)
    # Replicas out of rotation do not make the server unready: reads fall
    # back to the primary. They are shown for operators.
    resources: AppResources = request.state.resources
    replicas = resources.replicas
    if replicas.replicas:
        return JSONResponse({"status": "ok", "replicas": replicas.status()})
    return JSONResponse({"status": "ok"})
