"""The mail outbox: rows written in the caller's transaction, claimed by the sender."""

from __future__ import annotations

import asyncpg

from db.types import Conn, Executor


async def insert_mail(
    conn: Conn,
    *,
    recipient: str,
    subject: str,
    body: str,
    template: str,
    language: str,
) -> int:
    mail_id: int = await conn.fetchval(
        """
        insert into mail_outbox (recipient, subject, body, template, language)
        values ($1, $2, $3, $4, $5)
        returning id
        """,
        recipient,
        subject,
        body,
        template,
        language,
    )
    return mail_id


async def claim_due_mail(conn: Conn, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Lease up to `limit` due mails to the caller.

    A leased mail is still unsent, but not due again until the lease ends,
    so other senders skip it while this one talks to the SMTP server without
    holding a transaction. A sender that dies mid-lease leaves the mail to be
    sent again when the lease ends (at least once).
    """
    return await conn.fetch(
        """
        update mail_outbox m
           set leased_until = now() + make_interval(secs => $2)
          from (select id
                  from mail_outbox
                 where sent_at is null and abandoned_at is null and next_attempt_at <= now()
                   and (leased_until is null or leased_until <= now())
                 order by next_attempt_at, id
                 limit $1
                   for update skip locked) due
         where m.id = due.id
        returning m.id, m.recipient, m.subject, m.body, m.attempts
        """,
        limit,
        lease_seconds,
    )


async def release_mail(conn: Executor, mail_ids: list[int]) -> None:
    """Hand leased mails back untried: due again now (for any sender)."""
    await conn.execute(
        "update mail_outbox set leased_until = null "
        "where id = any($1::bigint[]) and sent_at is null",
        mail_ids,
    )


async def retry_backed_off_mail_now(conn: Executor) -> int:
    """Make every mail waiting on its back-off due now; how many there were.

    Leases are left alone: mail another sender holds stays with it.
    """
    status: str = await conn.execute(
        """
        update mail_outbox set next_attempt_at = now()
         where sent_at is null and abandoned_at is null and next_attempt_at > now()
        """
    )
    return int(status.rsplit(" ", 1)[-1])


async def mark_mail_sent(conn: Executor, mail_id: int) -> None:
    await conn.execute(
        """
        update mail_outbox
           set sent_at = now(), attempts = attempts + 1, last_error = null, leased_until = null
         where id = $1
        """,
        mail_id,
    )


async def mark_mail_failed(
    conn: Executor, mail_id: int, error: str, retry_in_seconds: float, *, abandon: bool
) -> None:
    await conn.execute(
        """
        update mail_outbox
           set attempts = attempts + 1, last_error = left($2, 1000), leased_until = null,
               next_attempt_at = now() + make_interval(secs => $3),
               abandoned_at = case when $4 then now() end
         where id = $1
        """,
        mail_id,
        error,
        retry_in_seconds,
        abandon,
    )
