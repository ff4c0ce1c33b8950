"""Persisted GraphQL documents (table persisted_queries, migrations 0030, 0031)."""

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


async def store_automatic_query(
    conn: Executor, sha256: str, document: str, *, cap: int, client: str, per_client: int
) -> bool:
    """Keep an automatic persisted query registered by `client`, unless that
    client already has `per_client` of them; past `cap` in all, drop the least
    used. Returns whether the document is stored.

    One statement: the quota, the insert and the eviction see the same
    snapshot, so under concurrent inserts a client may briefly hold a few more
    than its quota, and the table a few more than `cap`.
    """
    stored = await conn.fetchval(
        """
        with quota as (
            select count(*) as used from persisted_queries
            where registered_by = $4 and not trusted
        ), inserted as (
            insert into persisted_queries (sha256, document, registered_by)
            select $1, $2, $4 where (select used from quota) < $5
            on conflict (sha256) do update set last_used_at = now()
            returning sha256
        ), ranked as (
            select sha256,
                   row_number() over (order by last_used_at desc, created_at desc) as rank
            from persisted_queries
            where not trusted
        ), evicted as (
            delete from persisted_queries p
            using ranked r
            where p.sha256 = r.sha256 and r.rank >= $3
              and exists (select 1 from inserted)
              and p.sha256 <> all(select sha256 from inserted)
            returning 1
        )
        select exists (select 1 from inserted)
        """,
        sha256,
        document,
        cap,
        client,
        per_client,
    )
    return bool(stored)


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
