"""The sender task: delivers the outbox, at least once, never twice once acknowledged.

Each round leases due rows (`FOR UPDATE SKIP LOCKED` in a short
transaction: several workers share the outbox without sending a row twice),
sends them with no database connection held, and records each outcome. A
crash between sending and recording leaves the row unsent, so it goes again
when its lease ends (`MAIL_LEASE_SECONDS`: at least once); a recorded
`sent_at` is never sent again. A graceful stop (`request_stop`, then the
supervisor's cancellation past its deadline) hands claimed mail back at
once. Failures wait an exponentially growing delay, capped
(`MAIL_RETRY_MAX_SECONDS`); the first success after failures makes every
waiting mail due at once, so a backlog drains as soon as the server is back.
A permanent refusal (5xx) or too many tries sets the mail aside
(`abandoned_at`).

Without `SMTP_URL` the mail is written to the console log (development:
the one-time codes are readable there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib
import asyncpg

from config import Settings
from db.outbox import (
    claim_due_mail,
    mark_mail_failed,
    mark_mail_sent,
    release_mail,
    retry_backed_off_mail_now,
)

logger = logging.getLogger("service360.mail")
BATCH_SIZE = 20
# The longest one mail may take (connect to QUIT); less with a short lease.
SMTP_TIMEOUT_SECONDS = 30.0


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
        self._lease_seconds = float(settings.mail_lease_seconds)
        # Every send ends within half a lease: a mail is never sent after
        # its lease has ended and another sender may have taken it.
        self._send_timeout = min(SMTP_TIMEOUT_SECONDS, self._lease_seconds / 2)
        self._wake = asyncio.Event()
        self._stopping = False
        # A send failed for a reason that may pass (server down, 4xx): the
        # next success means the server is back.
        self._failing = False

    def request_stop(self) -> None:
        """`run` finishes the mail being sent, hands the rest back and returns.

        Mail claimed but not tried is released, due again at once for
        another worker or the next start, instead of waiting for its lease.
        Cancelled mid-send (the supervisor's deadline), the round releases
        the mail being sent too as it unwinds.
        """
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        """Look for due mail now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver due mail until `request_stop` (a background service)."""
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
        Likewise when the sender stops, or too little of the lease is left to
        send one more mail within it.
        """
        started = time.monotonic()
        async with self._pool.acquire() as conn:
            mails = await claim_due_mail(conn, BATCH_SIZE, self._lease_seconds)
        # The database's lease began after `started`: this deadline is earlier.
        deadline = started + self._lease_seconds
        unrecorded = [row["id"] for row in mails]
        tried = 0
        try:
            for row in mails:
                if self._stopping:
                    break
                if deadline - time.monotonic() < self._send_timeout:
                    self._wake.set()  # the rest is due again now: next round
                    break
                tried += 1
                reachable = await self._deliver(row)
                unrecorded.remove(row["id"])
                if not reachable:
                    break
        except (Exception, asyncio.CancelledError):
            # Still alive (an error, or stopped past the grace period): hand
            # back every mail whose outcome is not recorded, the one being
            # sent included (it may go twice: at least once). A process that
            # dies outright leaves them to their lease.
            await self._release(unrecorded)
            raise
        await self._release(unrecorded)
        return tried

    async def _deliver(self, row: asyncpg.Record) -> bool:
        """Send one mail and record the outcome; False when the server is unreachable."""
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._send(row["recipient"], row["subject"], row["body"])
        except (ConnectionError, TimeoutError, OSError) as error:
            # aiosmtplib's connect, disconnect and timeout errors are among these.
            await self._failed(row, error, permanent=False)
            return False
        except aiosmtplib.SMTPResponseException as error:
            await self._failed(row, error, permanent=500 <= error.code < 600)
        except aiosmtplib.SMTPRecipientsRefused as error:
            await self._failed(row, error, permanent=True)
        except aiosmtplib.SMTPException as error:
            await self._failed(row, error, permanent=False)
        else:
            await mark_mail_sent(self._pool, row["id"])
            if self._failing or row["attempts"] > 0:
                await self._server_is_back()
        return True

    async def _server_is_back(self) -> None:
        """A send went through after failures: mail waiting on its back-off goes now.

        Each failed mail waits its own exponential delay; without this, a
        backlog from an outage would trickle out over minutes after the
        server returned. A mail that failed before (seen by any worker) and
        now went through tells the same as this sender's own failures.
        """
        self._failing = False
        woken = await retry_backed_off_mail_now(self._pool)
        if woken:
            logger.info(
                "SMTP server reachable again: retrying waiting mail now", extra={"mails": woken}
            )
            self._wake.set()

    async def _release(self, mail_ids: list[int]) -> None:
        if not mail_ids:
            return
        try:
            await release_mail(self._pool, mail_ids)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            # Their lease ends by itself.
            logger.warning("could not hand back claimed mail", extra={"error": str(error)})

    async def _failed(self, row: asyncpg.Record, error: Exception, *, permanent: bool) -> None:
        attempts = row["attempts"] + 1
        abandon = permanent or attempts >= self._settings.mail_max_attempts
        if not permanent:
            self._failing = True
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
            timeout=self._send_timeout,
        )
