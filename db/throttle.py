"""Throttling counters and the one-time code send history.

Both change inside PostgreSQL in one statement (or under a transaction-scoped
advisory lock), so many workers and many concurrent requests share one count.
"""

from __future__ import annotations

from collections.abc import Sequence

from db.types import Conn, Executor


async def hit_buckets(
    conn: Executor, buckets: Sequence[str], window_seconds: int
) -> dict[str, tuple[int, int]]:
    """Count one hit in each bucket's current fixed window, in one statement.

    Answers, per bucket, (hits in the window so far, seconds until it ends).
    A window older than `window_seconds` restarts at now with one hit. The
    buckets are locked in sorted order, so concurrent calls cannot deadlock.
    """
    rows = await conn.fetch(
        """
        insert into throttle_hits as t (bucket, window_started_at, hits)
        select bucket, now(), 1 from unnest($1::text[]) as b (bucket)
        on conflict (bucket) do update set
            hits = case when t.window_started_at <= now() - make_interval(secs => $2)
                        then 1 else t.hits + 1 end,
            window_started_at = case when t.window_started_at <= now() - make_interval(secs => $2)
                                     then now() else t.window_started_at end
        -- now() is the transaction's start: a transaction that began before
        -- another opened the window would compute a wait past its end.
        returning bucket, hits,
                  least($2, ceil(extract(epoch from
                      window_started_at + make_interval(secs => $2) - now())))::integer as wait
        """,
        sorted(set(buckets)),
        window_seconds,
    )
    return {row["bucket"]: (row["hits"], max(1, row["wait"])) for row in rows}


async def release_buckets(conn: Executor, buckets: Sequence[str]) -> None:
    """Take back one hit from each bucket (an attempt that did not fail)."""
    await conn.execute(
        """
        update throttle_hits set hits = greatest(hits - 1, 0)
         where bucket = any($1::text[])
        """,
        sorted(set(buckets)),
    )


async def lock_address(conn: Conn, email: str) -> None:
    """Serialize code sends to one address until the transaction ends."""
    await conn.execute(
        "select pg_advisory_xact_lock(hashtextextended('code-send:' || lower($1), 0))", email
    )


async def code_send_wait_seconds(
    conn: Conn, email: str, min_interval: int, max_per_hour: int
) -> int:
    """Seconds to wait before another code may go to `email` (0: now).

    Call with the address locked (`lock_address`) and record the send in the
    same transaction, so concurrent requests cannot both pass.
    """
    row = await conn.fetchrow(
        """
        with recent as (
            select sent_at, row_number() over (order by sent_at desc) as rank
              from code_sends
             where email = $1 and sent_at > now() - interval '1 hour'
        )
        select greatest(
                   0,
                   ceil(extract(epoch from
                       (select max(sent_at) from recent) + make_interval(secs => $2) - now())),
                   ceil(extract(epoch from
                       (select sent_at from recent where rank = $3)
                       + interval '1 hour' - now()))
               )::integer as wait
        """,
        email,
        min_interval,
        max_per_hour,
    )
    assert row is not None
    return int(row["wait"] or 0)


async def record_code_send(conn: Conn, email: str) -> None:
    await conn.execute(
        """
        with pruned as (
            delete from code_sends where email = $1 and sent_at <= now() - interval '1 hour'
        )
        insert into code_sends (email) values ($1)
        """,
        email,
    )


async def sign_in_wait(
    conn: Executor,
    email: str,
    *,
    free: int,
    max_delay: int,
    lockout_at: int,
    lockout_seconds: int,
) -> tuple[int, bool]:
    """Seconds before `email` may try to sign in again (0: now), and whether
    it is locked out. The delay grows with its consecutive failures
    (`sign_in_delay`, migration 0012)."""
    row = await conn.fetchrow(
        """
        select greatest(0, ceil(extract(epoch from
                   last_failed_at + sign_in_delay(failures, $2, $3, $4, $5) - now())))::integer
                   as wait,
               failures >= $4 as locked
          from sign_in_failures where email = $1
        """,
        email,
        free,
        max_delay,
        lockout_at,
        lockout_seconds,
    )
    if row is None or not row["wait"]:
        return 0, False
    return int(row["wait"]), bool(row["locked"])


async def record_sign_in_failure(conn: Executor, email: str) -> None:
    await conn.execute(
        """
        insert into sign_in_failures as f (email, failures, last_failed_at)
        values ($1, 1, now())
        on conflict (email) do update set failures = f.failures + 1, last_failed_at = now()
        """,
        email,
    )


async def forget_sign_in_failures(conn: Executor, email: str) -> None:
    """A success (or a password reset): the consecutive count starts again."""
    await conn.execute("delete from sign_in_failures where email = $1", email)
