"""Operator-side account changes (command line)."""

from __future__ import annotations

import asyncpg


async def create_staff_user(conn: asyncpg.Connection, email: str, password_hash: str) -> bool:
    """Create or promote a platform staff account; True when created."""
    row = await conn.fetchrow(
        """
        insert into users (email, password_hash, first_name, last_name, step, is_staff, verified_at)
        values ($1, $2, 'Platform', 'Staff', 'COMPLETE', true, now())
        on conflict (email) do update
           set password_hash = excluded.password_hash, is_staff = true, updated_at = now()
        returning (xmax = 0) as created
        """,
        email.strip().lower(),
        password_hash,
    )
    assert row is not None
    return bool(row["created"])
