"""Deleting what no rule reads any more: old throttle windows, code sends,
sessions, one-time codes, sign-in failures and old fleet change images."""

from __future__ import annotations

import asyncpg


async def delete_stale_rows(conn: asyncpg.Pool | asyncpg.Connection, window_seconds: int) -> int:
    """Delete rows past every window that reads them; return how many went."""
    rows = await conn.fetch(
        """
        with throttles as (
            delete from throttle_hits
             where window_started_at < now() - make_interval(secs => $1)
            returning 1
        ), sends as (
            -- "at most 5 an hour": older sends count for nothing.
            delete from code_sends where sent_at < now() - interval '1 hour'
            returning 1
        ), codes as (
            delete from one_time_codes
             where expires_at < now() - interval '1 day'
            returning 1
        ), failures as (
            -- Past the longest lockout (SIGN_IN_LOCKOUT_SECONDS at most 30 days).
            delete from sign_in_failures where last_failed_at < now() - interval '30 days'
            returning 1
        ), changes as (
            -- A summary stored longer ago than this is computed again rather
            -- than moved forward (fleet_advance_summaries checks the log is whole).
            delete from fleet_changes where recorded_at < now() - interval '10 minutes'
            returning 1
        ), old_sessions as (
            delete from sessions
             where coalesce(revoked_at, expires_at) < now() - interval '1 day'
            returning 1
        )
        select (select count(*) from throttles) + (select count(*) from sends)
             + (select count(*) from codes) + (select count(*) from old_sessions)
             + (select count(*) from failures) + (select count(*) from changes) as deleted
        """,
        window_seconds,
    )
    return int(rows[0]["deleted"])
