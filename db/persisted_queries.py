"""Persisted GraphQL documents (table persisted_queries, migration 0030)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

Executor = asyncpg.Pool | asyncpg.Connection


async def fetch_persisted_query(conn: Executor, sha256: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "select document, trusted from persisted_queries where sha256 = $1", sha256
    )


async def touch_persisted_query(conn: Executor, sha256: str, older_than_seconds: int) -> None:
    """Mark a document used, at most once per `older_than_seconds` (few writes)."""
    await conn.execute(
        "update persisted_queries set last_used_at = now() "
        "where sha256 = $1 and last_used_at < now() - make_interval(secs => $2)",
        sha256,
        older_than_seconds,
    )


async def store_automatic_query(conn: Executor, sha256: str, document: str, cap: int) -> None:
    """Keep an automatic persisted query; past `cap` of them, drop the least used.

    One statement: the insert and the eviction see the same snapshot, so the
    table may briefly hold a few more than `cap` under concurrent inserts.
    """
    await conn.execute(
        """
        with inserted as (
            insert into persisted_queries (sha256, document)
            values ($1, $2)
            on conflict (sha256) do update set last_used_at = now()
            returning sha256
        ), ranked as (
            select sha256,
                   row_number() over (order by last_used_at desc, created_at desc) as rank
            from persisted_queries
            where not trusted
        )
        delete from persisted_queries p
        using ranked r
        where p.sha256 = r.sha256 and r.rank >= $3 and p.sha256 <> all(
            select sha256 from inserted
        )
        """,
        sha256,
        document,
        cap,
    )


async def store_trusted_queries(
    conn: asyncpg.Connection, documents: Iterable[tuple[str, str]]
) -> int:
    """Register trusted documents (hash, text); returns how many were new or promoted."""
    rows = [(sha, text) for sha, text in documents]
    result = await conn.fetchval(
        """
        with incoming as (
            select * from unnest($1::text[], $2::text[]) as t(sha256, document)
        ), upserted as (
            insert into persisted_queries (sha256, document, trusted)
            select sha256, document, true from incoming
            on conflict (sha256) do update set trusted = true
            where not persisted_queries.trusted
            returning 1
        )
        select count(*) from upserted
        """,
        [sha for sha, _ in rows],
        [text for _, text in rows],
    )
    return int(result or 0)
