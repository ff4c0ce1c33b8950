"""Connection pool factory and per-request statement accounting.

The pool is created by the server's lifespan (never at import). Each request
may install a `StatementStats` in `current_stats`; a query logger attached to
every pooled connection adds each statement to it. asyncpg calls loggers with
`loop.call_soon`, which carries the caller's contextvars, so statements are
charged to the request that ran them.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

import asyncpg
from asyncpg.connection import LoggedQuery


@dataclass
class StatementStats:
    count: int = 0
    seconds: float = 0.0
    queries: list[str] = field(default_factory=list)
    keep_text: bool = False

    def add(self, record: LoggedQuery) -> None:
        self.count += 1
        self.seconds += record.elapsed
        if self.keep_text:
            self.queries.append(record.query)


current_stats: contextvars.ContextVar[StatementStats | None] = contextvars.ContextVar(
    "current_stats", default=None
)


def _charge_statement(record: LoggedQuery) -> None:
    stats = current_stats.get()
    if stats is not None:
        stats.add(record)


async def _init_connection(conn: asyncpg.Connection) -> None:
    conn.add_query_logger(_charge_statement)


async def _keep_session(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset runs one more statement per checkout. Our code
    # never changes session state outside transactions (only SET LOCAL), so
    # the internal reset of asyncpg is enough and saves a round trip.
    return None


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, connect_timeout: float = 10
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=60,
        # An unreachable host (packets dropped, not refused) fails in this
        # long rather than asyncpg's 60 s, so a request waits at most so much.
        timeout=connect_timeout,
        # JIT compiles plans whose estimated cost is high (the summary's is),
        # which costs ~100 ms per statement for queries that run in a few ms.
        server_settings={"application_name": "service360", "timezone": "UTC", "jit": "off"},
    )
    assert pool is not None
    return pool
