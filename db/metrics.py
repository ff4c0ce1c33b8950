"""Database-wide numbers read when Prometheus scrapes `/metrics`."""

from __future__ import annotations

import asyncpg

Executor = asyncpg.Pool | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def fetch_outbox_backlog(conn: Executor) -> asyncpg.Record:
    """Mails still to send (not set aside) and the age in seconds of the oldest one."""
    row = await conn.fetchrow(
        "select count(*) as backlog, "
        "extract(epoch from now() - min(created_at))::float8 as oldest_age_seconds "
        "from mail_outbox where sent_at is null and abandoned_at is null"
    )
    assert row is not None
    return row
