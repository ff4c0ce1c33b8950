"""References measured in the same run, with no HTTP and no GraphQL around them.

- The SQL floor: the statements that the server runs for one request,
  captured (text and arguments) from the app served in-process, then replayed
  with asyncpg at the bench's concurrency. Whatever the server does on top of
  that (parsing, execution, JSON, HTTP) is the distance to the floor.
- The argon2 limit of sign-in: cores / the time of one password check.

The naive resolver path is in `bench/naive.py`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import httpx
from asyncpg.connection import LoggedQuery

import db.pool as pool_module
from bench.load import percentile
from config import Settings

# PostgreSQL plans a prepared statement's first five executions on their own
# parameters, then may keep a generic plan (plan_cache_mode = auto).
PLAN_WARM_EXECUTIONS = 6


@dataclass(frozen=True)
class Statement:
    query: str
    args: tuple[Any, ...]


class _StateApp:
    """Hands the lifespan's state to every request, as uvicorn does."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app({**scope, "state": dict(self.state)}, receive, send)


async def capture_request(
    database_url: str, body: dict[str, Any], token: str | None, extra_env: dict[str, str]
) -> tuple[dict[str, Any], list[Statement]]:
    """Serve `body` in-process once warm; its answer and the statements it ran."""
    from server import create_app

    captured: list[Statement] = []
    charge = pool_module._charge_statement

    def record(logged: LoggedQuery) -> None:
        captured.append(Statement(logged.query, tuple(logged.args or ())))
        charge(logged)

    # The pool's connections look the logger up by name when they open.
    pool_module._charge_statement = record  # type: ignore[assignment]
    try:
        settings = replace(
            Settings.from_env({**os.environ, **extra_env}), database_url=database_url
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app) as state:
            transport = httpx.ASGITransport(
                app=_StateApp(app, dict(state or {})), client=("127.0.0.1", 50000)
            )
            headers = {"authorization": f"Bearer {token}"} if token else {}
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                await client.post("/graphql", json=body, headers=headers)
                # A pooled connection's first statements include asyncpg's
                # type introspection: keep the leanest of a few requests.
                best: list[Statement] | None = None
                for _ in range(4):
                    captured.clear()
                    response = await client.post("/graphql", json=body, headers=headers)
                    if best is None or len(captured) < len(best):
                        best = list(captured)
                answer: dict[str, Any] = response.json()
    finally:
        pool_module._charge_statement = charge
    return answer, best or []


@dataclass
class ClosedLoopResult:
    completed: int
    seconds: float
    latencies_ms: list[float]

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": self.completed,
            "rps": round(self.completed / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": percentile(ordered, 50),
            "p95_ms": percentile(ordered, 95),
            "p99_ms": percentile(ordered, 99),
        }


async def closed_loop(
    pool: asyncpg.Pool,
    one: Callable[[Any], Awaitable[object]],
    concurrency: int,
    warmup: float,
    duration: float,
) -> ClosedLoopResult:
    """`concurrency` clients calling `one` back to back.

    Throughput counts the calls that end inside the measured window; latencies
    are those of the calls that also began inside it, or, when calls are
    slower than the window, of every call that ended inside it.
    """
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + duration
    calls: list[tuple[float, float]] = []

    async def client() -> None:
        while time.perf_counter() < until:
            began = time.perf_counter()
            async with pool.acquire() as conn:
                await one(conn)
            calls.append((began, time.perf_counter()))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    ended_inside = [(b, e) for b, e in calls if measure_from <= e < until]
    if not ended_inside:
        # Every call outlasts the window: count all the calls made, over
        # the time they took (the clients waited for the last of them).
        finished = max(e for _, e in calls)
        return ClosedLoopResult(len(calls), finished - start, [(e - b) * 1000 for b, e in calls])
    whole = [(e - b) * 1000 for b, e in ended_inside if b >= measure_from]
    latencies = whole or [(e - b) * 1000 for b, e in ended_inside]
    return ClosedLoopResult(len(ended_inside), duration, latencies)


def reference_concurrency(concurrency: int) -> int:
    """Clients for the in-process references: enough to keep PostgreSQL busy.

    Two per core saturate the database (the client side is nearly free), and
    each of these connections must be warmed (see `warm_connections`).
    """
    return max(1, min(concurrency, 2 * (os.cpu_count() or 1)))


async def warm_connections(
    pool: asyncpg.Pool, one: Callable[[Any], Awaitable[object]], size: int, times: int
) -> None:
    """Run `one` `times` on each of the pool's `size` connections.

    The server's pooled connections live long: PostgreSQL has long switched
    their prepared statements from custom plans (the first five executions)
    to the generic plan, which can cost very differently (the summary
    statement at L: seconds with custom plans, ~0.2 s generic). A reference
    measured on fresh connections would measure the planner instead.
    """
    connections = [await pool.acquire() for _ in range(size)]
    try:

        async def warm(conn: Any) -> None:
            for _ in range(times):
                await one(conn)

        await asyncio.gather(*(warm(conn) for conn in connections))
    finally:
        for conn in connections:
            await pool.release(conn)


def replay(statements: list[Statement]) -> Callable[[Any], Awaitable[None]]:
    """One request's statements, in the order the server ran them, on one connection."""

    async def run(conn: asyncpg.Connection) -> None:
        for statement in statements:
            if statement.args:
                await conn.fetch(statement.query, *statement.args)
            else:
                await conn.execute(statement.query)

    return run


async def sql_floor(
    database_url: str,
    statements: list[Statement],
    concurrency: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    clients = reference_concurrency(concurrency)
    pool = await asyncpg.create_pool(database_url, min_size=clients, max_size=clients)
    assert pool is not None
    try:
        await warm_connections(pool, replay(statements), clients, PLAN_WARM_EXECUTIONS)
        result = await closed_loop(pool, replay(statements), clients, warmup, duration)
        single = await closed_loop(pool, replay(statements), 1, 0.2, min(duration, 3.0))
    finally:
        await pool.close()
    return {
        **result.as_dict(),
        "clients": clients,
        "statements": len(statements),
        "single_client_p50_ms": single.as_dict()["p50_ms"],
    }


def argon2_limit() -> dict[str, Any]:
    """One password check as sign-in runs it, and the rate the cores allow.

    argon2-cffi's default profile runs 4 lanes in threads, so one check takes
    more CPU time than wall time: the limit is cores / CPU seconds per check.
    """
    from security.passwords import _HASHER

    password_hash = _HASHER.hash("bench argon2 limit")
    _HASHER.verify(password_hash, "bench argon2 limit")
    wall, cpu = [], []
    for _ in range(7):
        began, began_cpu = time.perf_counter(), time.process_time()
        _HASHER.verify(password_hash, "bench argon2 limit")
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    cores = os.cpu_count() or 1
    cpu_seconds = statistics.median(cpu)
    return {
        "hash_ms": round(statistics.median(wall) * 1000, 2),
        "hash_cpu_ms": round(cpu_seconds * 1000, 2),
        "cores": cores,
        "limit_per_second": round(cores / cpu_seconds, 2),
    }
