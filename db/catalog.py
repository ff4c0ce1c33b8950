"""Product families: the public catalogue."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from db.snapshot import ReadSnapshot


async def fetch_families(
    conn: asyncpg.Pool | asyncpg.Connection | ReadSnapshot,
) -> list[asyncpg.Record]:
    return await conn.fetch("select id, name from product_families order by name")


async def fetch_families_by_ids(
    conn: asyncpg.Pool | asyncpg.Connection | ReadSnapshot, ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select id, name from product_families where id = any($1::bigint[])", list(ids)
    )
