"""The sender task: delivers the outbox, at least once, never twice once acknowledged.

Each round leases due rows (`FOR UPDATE SKIP LOCKED` in a short
transaction: several workers share the outbox without sending a row twice),
sends them with no database connection held, and records each outcome. A
crash between sending and recording leaves the row unsent, so it goes again
when its lease ends (at least once); a recorded `sent_at` is never sent
again. Failures wait an exponentially growing delay; a permanent refusal
(5xx) or too many tries sets the mail aside (`abandoned_at`).

Without `SMTP_URL` the mail is written to the console log (development:
the one-time codes are readable there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib
import asyncpg

from config import Settings
from db.outbox import claim_due_mail, mark_mail_failed, mark_mail_sent, release_mail

logger = logging.getLogger("service360.mail")
BATCH_SIZE = 20
# Long enough for a batch to be sent, short enough that mail of a crashed
# worker is not held up for long.
LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class SMTPTarget:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SMTPTarget:
        parts = urlsplit(url)
        use_tls = parts.scheme == "smtps"
        assert parts.hostname is not None  # checked by Settings
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            use_tls=use_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def retry_delay(attempts: int, base: float, ceiling: float) -> float:
    """Exponential back-off with jitter, after `attempts` failed tries (>= 1)."""
    delay = min(ceiling, base * 2 ** min(attempts - 1, 20))
    return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not security


class MailSender:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._smtp = SMTPTarget.from_url(settings.smtp_url) if settings.smtp_url else None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-sender")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the current round finish (up to the grace period), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=grace_seconds)
        if not done:
            # Cancelled mid-round: the transaction rolls back, the mail stays due.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        """Look for due mail now instead of at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.deliver_due()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                logger.warning(
                    "mail sender could not reach the database", extra={"error": str(error)}
                )
                handled = 0
            # A full batch means more may be due; otherwise wait for the poll or a wake-up.
            if handled < BATCH_SIZE and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.mail_poll_seconds)
                self._wake.clear()

    async def deliver_due(self) -> int:
        """One round: lease due mail, send it, record each outcome; how many were tried.

        When the server cannot be reached the round stops at the first mail
        and hands the rest back untried, instead of each waiting for a timeout.
        """
        async with self._pool.acquire() as conn:
            mails = await claim_due_mail(conn, BATCH_SIZE, LEASE_SECONDS)
        for index, row in enumerate(mails):
            try:
                await self._send(row["recipient"], row["subject"], row["body"])
            except (ConnectionError, TimeoutError, OSError) as error:
                # aiosmtplib's connect, disconnect and timeout errors are among these.
                await self._failed(row, error, permanent=False)
                await release_mail(self._pool, [r["id"] for r in mails[index + 1 :]])
                return index + 1
            except aiosmtplib.SMTPResponseException as error:
                await self._failed(row, error, permanent=500 <= error.code < 600)
            except aiosmtplib.SMTPRecipientsRefused as error:
                await self._failed(row, error, permanent=True)
            except aiosmtplib.SMTPException as error:
                await self._failed(row, error, permanent=False)
            else:
                await mark_mail_sent(self._pool, row["id"])
        return len(mails)

    async def _failed(self, row: asyncpg.Record, error: Exception, *, permanent: bool) -> None:
        attempts = row["attempts"] + 1
        abandon = permanent or attempts >= self._settings.mail_max_attempts
        delay = retry_delay(
            attempts, self._settings.mail_retry_base_seconds, self._settings.mail_retry_max_seconds
        )
        if abandon:
            logger.error(
                "mail abandoned",
                extra={"mail_id": row["id"], "attempts": attempts, "error": str(error)},
            )
        else:
            logger.warning(
                "mail not delivered, will retry",
                extra={"mail_id": row["id"], "attempts": attempts, "error": str(error)},
            )
        await mark_mail_failed(
            self._pool, row["id"], str(error) or type(error).__name__, delay, abandon=abandon
        )

    async def _send(self, recipient: str, subject: str, body: str) -> None:
        if self._smtp is None:
            logger.info(f"mail to {recipient}: {subject}\n{body}")
            return
        message = EmailMessage()
        message["From"] = self._settings.mail_from
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="service360.example")
        message.set_content(body)
        await aiosmtplib.send(
            message,
            hostname=self._smtp.hostname,
            port=self._smtp.port,
            username=self._smtp.username,
            password=self._smtp.password,
            use_tls=self._smtp.use_tls,
            timeout=30,
        )
