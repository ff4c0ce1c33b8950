"""The mail outbox: rows written in the caller's transaction, claimed by the sender."""

from __future__ import annotations

import asyncpg

from db.accounts import Conn


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


async def claim_due_mail(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Lock up to `limit` due, unsent mails that no other sender holds.

    Call inside a transaction: the rows stay locked (other senders skip them)
    until it commits with their outcome.
    """
    return await conn.fetch(
        """
        select id, recipient, subject, body, attempts
          from mail_outbox
         where sent_at is null and next_attempt_at <= now()
         order by next_attempt_at, id
         limit $1
           for update skip locked
        """,
        limit,
    )


async def mark_mail_sent(conn: Conn, mail_id: int) -> None:
    await conn.execute(
        """
        update mail_outbox set sent_at = now(), attempts = attempts + 1, last_error = null
         where id = $1
        """,
        mail_id,
    )


async def mark_mail_failed(conn: Conn, mail_id: int, error: str, retry_in_seconds: float) -> None:
    await conn.execute(
        """
        update mail_outbox
           set attempts = attempts + 1, last_error = left($2, 1000),
               next_attempt_at = now() + make_interval(secs => $3)
         where id = $1
        """,
        mail_id,
        error,
        retry_in_seconds,
    )
