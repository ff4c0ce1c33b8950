"""Members of an organization: listing, site access, roles and the default site scope of
new members (administrators only)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from db.accounts import ORGANIZATION_COLUMNS, USER_COLUMNS
from db.types import Conn, Executor


async def fetch_members_page(
    conn: Executor, organization_id: int, *, after_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        select {USER_COLUMNS} from users u
         where u.organization_id = $1 and ($2::bigint is null or u.id > $2::bigint)
         order by u.id
         limit $3
        """,
        organization_id,
        after_id,
        limit,
    )


async def count_members(conn: Executor, organization_id: int) -> int:
    count: int = await conn.fetchval(
        "select count(*) from users u where u.organization_id = $1", organization_id
    )
    return count


async def fetch_users_in_organization(
    conn: Executor, organization_id: int, user_ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        select {USER_COLUMNS} from users u
         where u.organization_id = $1 and u.id = any($2::bigint[])
        """,
        organization_id,
        list(user_ids),
    )


async def lock_organization_admins(conn: Conn, organization_id: int) -> list[int]:
    """Lock the organization's administrators (in id order) and return their ids.

    Role changes take these locks first, so that two concurrent demotions
    cannot both see another administrator left.
    """
    rows = await conn.fetch(
        "select id from users where organization_id = $1 and role = 'ADMIN' order by id for update",
        organization_id,
    )
    return [row["id"] for row in rows]


async def lock_member(conn: Conn, organization_id: int, user_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {USER_COLUMNS} from users u where u.organization_id = $1 and u.id = $2 for update",
        organization_id,
        user_id,
    )


async def fetch_organization_site_ids(
    conn: Executor, organization_id: int, site_ids: Sequence[int]
) -> set[int]:
    rows = await conn.fetch(
        "select id from sites where organization_id = $1 and id = any($2::bigint[])",
        organization_id,
        list(site_ids),
    )
    return {row["id"] for row in rows}


async def set_site_access(
    conn: Conn,
    organization_id: int,
    user_id: int,
    scope: str,
    site_ids: Sequence[int],
) -> asyncpg.Record:
    await conn.execute("delete from user_sites where user_id = $1", user_id)
    if scope == "SELECTED_SITES" and site_ids:
        await conn.execute(
            """
            insert into user_sites (organization_id, user_id, site_id)
            select $1, $2, x from unnest($3::bigint[]) as x order by x
            """,
            organization_id,
            user_id,
            sorted(set(site_ids)),
        )
    row = await conn.fetchrow(
        f"""
        update users u set site_scope = $3, updated_at = now()
         where u.organization_id = $1 and u.id = $2
        returning {USER_COLUMNS}
        """,
        organization_id,
        user_id,
        scope,
    )
    assert row is not None
    return row


async def set_role(conn: Conn, organization_id: int, user_id: int, role: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        update users u set role = $3, updated_at = now()
         where u.organization_id = $1 and u.id = $2
        returning {USER_COLUMNS}
        """,
        organization_id,
        user_id,
        role,
    )
    assert row is not None
    return row


async def set_default_site_scope(conn: Conn, organization_id: int, scope: str) -> asyncpg.Record:
    """Set the scope new members start with; current members keep theirs."""
    row = await conn.fetchrow(
        f"""
        update organizations o set default_site_scope = $2
         where o.id = $1
        returning {ORGANIZATION_COLUMNS}
        """,
        organization_id,
        scope,
    )
    assert row is not None
    return row
