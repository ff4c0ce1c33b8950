"""Custom groups: rows, their rule (families, sites, listed products), owner-scoped.

A group is only ever read or changed through its owner: every statement
takes the owner and organization and matches nothing for anyone else.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from db.fleet import VISIBLE_SITE, ViewerScope
from db.types import Conn, Executor

GROUP_COLUMNS = (
    "g.id, g.organization_id, g.owner_id, g.name, g.description, g.created_at, g.updated_at"
)


async def fetch_groups_by_ids(
    conn: Executor, scope: ViewerScope, ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        select {GROUP_COLUMNS} from custom_groups g
         where g.id = any($3::bigint[]) and g.owner_id = $2 and g.organization_id = $1
        """,
        scope.organization_id,
        scope.user_id,
        list(ids),
    )


async def fetch_groups_page(
    conn: Executor, scope: ViewerScope, *, after_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        select {GROUP_COLUMNS} from custom_groups g
         where g.owner_id = $2 and g.organization_id = $1
           and ($3::bigint is null or g.id > $3::bigint)
         order by g.id
         limit $4
        """,
        scope.organization_id,
        scope.user_id,
        after_id,
        limit,
    )


async def count_groups(conn: Executor, scope: ViewerScope) -> int:
    count: int = await conn.fetchval(
        "select count(*) from custom_groups g where g.owner_id = $2 and g.organization_id = $1",
        scope.organization_id,
        scope.user_id,
    )
    return count


async def fetch_group_families(conn: Executor, group_ids: Sequence[int]) -> list[asyncpg.Record]:
    """(group_id, id, name) of each group's families, by name."""
    return await conn.fetch(
        """
        select cf.group_id, f.id, f.name
          from custom_group_families cf join product_families f on f.id = cf.family_id
         where cf.group_id = any($1::bigint[])
         order by f.name, f.id
        """,
        list(group_ids),
    )


async def fetch_group_sites(
    conn: Executor, scope: ViewerScope, group_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """(group_id, site columns) of each group's sites that the viewer still sees."""
    return await conn.fetch(
        f"""
        select cs.group_id, s.id, s.organization_id, s.name, s.city, s.country
          from custom_group_sites cs join sites s on s.id = cs.site_id
         where cs.group_id = any($4::bigint[]) and s.organization_id = $1
           and {VISIBLE_SITE.format(site="s.id")}
         order by s.name, s.id
        """,
        scope.organization_id,
        scope.user_id,
        scope.all_sites,
        list(group_ids),
    )


# ---------------------------------------------------------------- changes


async def lock_owner_and_count_groups(conn: Conn, scope: ViewerScope) -> int:
    """Lock the owner's row (so that concurrent creations queue) and count their groups.

    Two statements on purpose: the count must see the groups committed by
    whoever held the lock before, which a snapshot taken before waiting for
    the lock would miss.
    """
    await conn.execute(
        "select 1 from users where id = $2 and organization_id = $1 for update",
        scope.organization_id,
        scope.user_id,
    )
    count: int = await conn.fetchval(
        "select count(*) from custom_groups g where g.owner_id = $2 and g.organization_id = $1",
        scope.organization_id,
        scope.user_id,
    )
    return count


async def fetch_visible_product_ids(
    conn: Executor, scope: ViewerScope, ids: Sequence[int]
) -> set[int]:
    rows = await conn.fetch(
        f"""
        select p.id from products p
         where p.organization_id = $1 and p.id = any($4::bigint[])
           and {VISIBLE_SITE.format(site="p.site_id")}
        """,
        scope.organization_id,
        scope.user_id,
        scope.all_sites,
        list(ids),
    )
    return {row["id"] for row in rows}


async def fetch_existing_family_ids(conn: Executor, ids: Sequence[int]) -> set[int]:
    rows = await conn.fetch(
        "select id from product_families where id = any($1::bigint[])", list(ids)
    )
    return {row["id"] for row in rows}


async def insert_group(
    conn: Conn, scope: ViewerScope, name: str, description: str | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        insert into custom_groups as g (organization_id, owner_id, name, description)
        values ($1, $2, $3, $4)
        returning {GROUP_COLUMNS}
        """,
        scope.organization_id,
        scope.user_id,
        name,
        description,
    )
    assert row is not None
    return row


async def lock_group(conn: Conn, scope: ViewerScope, group_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        select {GROUP_COLUMNS} from custom_groups g
         where g.id = $3 and g.owner_id = $2 and g.organization_id = $1
           for update
        """,
        scope.organization_id,
        scope.user_id,
        group_id,
    )


async def update_group(
    conn: Conn, group_id: int, name: str, description: str | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        update custom_groups g set name = $2, description = $3, updated_at = now()
         where g.id = $1
        returning {GROUP_COLUMNS}
        """,
        group_id,
        name,
        description,
    )
    assert row is not None
    return row


async def replace_group_rule(
    conn: Conn,
    organization_id: int,
    group_id: int,
    *,
    product_ids: Sequence[int] | None,
    family_ids: Sequence[int] | None,
    site_ids: Sequence[int] | None,
) -> None:
    """Replace each given part of the rule (None leaves that part as it is)."""
    if product_ids is not None:
        await conn.execute("delete from custom_group_products where group_id = $1", group_id)
        await conn.execute(
            """
            insert into custom_group_products (organization_id, group_id, product_id)
            select $1, $2, x from unnest($3::bigint[]) as x order by x
            """,
            organization_id,
            group_id,
            sorted(set(product_ids)),
        )
    if family_ids is not None:
        await conn.execute("delete from custom_group_families where group_id = $1", group_id)
        await conn.execute(
            """
            insert into custom_group_families (organization_id, group_id, family_id)
            select $1, $2, x from unnest($3::bigint[]) as x
            """,
            organization_id,
            group_id,
            sorted(set(family_ids)),
        )
    if site_ids is not None:
        await conn.execute("delete from custom_group_sites where group_id = $1", group_id)
        await conn.execute(
            """
            insert into custom_group_sites (organization_id, group_id, site_id)
            select $1, $2, x from unnest($3::bigint[]) as x
            """,
            organization_id,
            group_id,
            sorted(set(site_ids)),
        )


async def delete_group(conn: Conn, scope: ViewerScope, group_id: int) -> bool:
    deleted = await conn.fetchval(
        """
        with gone as (
            delete from custom_groups g
             where g.id = $3 and g.owner_id = $2 and g.organization_id = $1
            returning g.id
        ),
        uncached as (
            delete from summary_cache c using gone where c.user_id = $2 and c.view_key = gone.id
        )
        select id from gone
        """,
        scope.organization_id,
        scope.user_id,
        group_id,
    )
    return deleted is not None
