"""Bearer sessions: looked up by the hash of the token."""

from __future__ import annotations

import asyncpg


async def fetch_viewer_by_token_hash(
    conn: asyncpg.Pool | asyncpg.Connection, token_hash: bytes
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        select u.id, u.email, u.organization_id, u.role, u.site_scope, u.step,
               u.is_staff, u.preferred_language, u.verified_at, s.expires_at,
               u.last_write_lsn
          from sessions s
          join users u on u.id = s.user_id
         where s.token_hash = $1 and s.revoked_at is null and s.expires_at > now()
        """,
        token_hash,
    )


async def record_write_position(conn: asyncpg.Pool | asyncpg.Connection, user_id: int) -> None:
    """Remember where the WAL stands after this user's latest write (read-your-writes).

    The insert position is at or past the end of every commit acknowledged
    before this statement, including the user's own.
    """
    await conn.execute(
        "update users set last_write_lsn = pg_current_wal_insert_lsn() where id = $1", user_id
    )


async def extend_idle_expiry(
    conn: asyncpg.Pool | asyncpg.Connection, token_hash: bytes, idle_minutes: int
) -> None:
    """The session was used: its idle expiry moves to now + idle, never past its
    absolute expiry, and only when that gains more than a minute (so a busy
    session costs one write a minute, not one a request)."""
    await conn.execute(
        """
        update sessions
           set expires_at = least(absolute_expires_at, now() + make_interval(mins => $2))
         where token_hash = $1 and revoked_at is null
           and expires_at < least(absolute_expires_at, now() + make_interval(mins => $2))
                            - interval '1 minute'
        """,
        token_hash,
        idle_minutes,
    )
