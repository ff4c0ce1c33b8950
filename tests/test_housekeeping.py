"""Tables that only grow are trimmed of rows no rule reads any more."""

from __future__ import annotations

import asyncpg

from db.housekeeping import delete_stale_rows


async def test_stale_throttle_windows_code_sends_codes_and_sessions_are_deleted(
    db: asyncpg.Connection,
) -> None:
    await db.execute(
        """
        insert into throttle_hits (bucket, window_started_at, hits) values
            ('old', now() - interval '2 hours', 3), ('live', now(), 1);
        insert into code_sends (email, sent_at) values
            ('a@acme.example', now() - interval '2 hours'), ('b@acme.example', now());
        insert into users (email, password_hash, first_name, last_name)
            values ('u@acme.example', 'x', 'U', 'Ser');
        insert into sessions (token_hash, user_id, expires_at)
            select 'old'::bytea, id, now() - interval '3 days' from users;
        insert into sessions (token_hash, user_id, expires_at)
            select 'live'::bytea, id, now() + interval '3 days' from users;
        insert into one_time_codes (user_id, purpose, code_hash, expires_at)
            select id, 'VERIFY_EMAIL', 'h'::bytea, now() - interval '2 days' from users;
        insert into one_time_codes (user_id, purpose, code_hash, expires_at)
            select id, 'VERIFY_EMAIL', 'h'::bytea, now() + interval '5 minutes' from users;
        insert into sign_in_failures (email, failures, last_failed_at) values
            ('old@acme.example', 3, now() - interval '31 days'),
            ('live@acme.example', 99, now() - interval '1 day');
        """
    )
    assert await delete_stale_rows(db, window_seconds=900) == 5
    assert await db.fetchval("select email::text from sign_in_failures") == "live@acme.example"
    assert [r["bucket"] for r in await db.fetch("select bucket from throttle_hits")] == ["live"]
    assert await db.fetchval("select count(*) from code_sends") == 1
    assert await db.fetchval("select count(*) from sessions") == 1
    assert await db.fetchval("select count(*) from one_time_codes") == 1
    assert await delete_stale_rows(db, window_seconds=900) == 0


async def test_fleet_change_images_older_than_ten_minutes_are_deleted(
    db: asyncpg.Connection,
) -> None:
    await db.execute(
        """
        insert into fleet_changes (organization_id, version, product_id, site_id, family_id,
                                   products, sr_open, sr_critical, sr_high, sr_medium, sr_low,
                                   recorded_at)
        values (1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, now() - interval '11 minutes'),
               (1, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0, now() - interval '1 minute')
        """
    )
    assert await delete_stale_rows(db, window_seconds=900) == 1
    assert await db.fetchval("select version from fleet_changes") == 2
