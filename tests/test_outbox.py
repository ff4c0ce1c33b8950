"""The mail outbox: written with the change that causes it, delivered at least once,
retried with back-off while the SMTP server is down, never sent twice once acknowledged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from email import message_from_bytes
from email.header import decode_header, make_header

import asyncpg
import httpx
import pytest

from background import Supervisor
from config import Settings
from db.pool import create_pool
from mail.sender import MailSender, SMTPTarget, retry_delay
from resolvers.i18n import Mail
from resolvers.outbox import enqueue_mail
from tests.support.app import GraphQLClient, SMTPServer, running_app
from tests.support.registration import CREATE_ACCOUNT, account_input, payload


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


def smtp_settings(settings: Settings, smtp_server: SMTPServer) -> Settings:
    return replace(settings, smtp_url=smtp_server.url, mail_retry_base_seconds=30.0)


async def queue(db: asyncpg.Connection, to: str, language: str = "en") -> int:
    return await enqueue_mail(
        db,
        to=to,
        mail=Mail.VERIFICATION_CODE,
        language=language,
        code="123456",
        minutes=10,
    )


async def eventually(condition: Callable[[], bool], within_seconds: float = 10.0) -> None:
    """Wait until `condition()` holds (it may change in another thread)."""
    for _ in range(int(within_seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def subject_of(content: bytes) -> str:
    return str(make_header(decode_header(message_from_bytes(content)["Subject"])))


async def test_a_refused_input_writes_no_mail(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    answer = await client.execute(
        CREATE_ACCOUNT, {"input": account_input("jane@acme.example", password="short")}
    )
    assert payload(answer, "createAccount")["userErrors"]
    assert await db.fetchval("select count(*) from mail_outbox") == 0


async def test_mail_waits_while_the_smtp_server_refuses_and_goes_once_when_it_is_back(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    mail_id = await queue(db, "jane@acme.example")
    sender = MailSender(pool, smtp_settings(settings, smtp_server))
    smtp_server.refuse = True
    assert await sender.deliver_due() == 1
    row = await db.fetchrow(
        "select attempts, sent_at, last_error, next_attempt_at > now() as later "
        "from mail_outbox where id = $1",
        mail_id,
    )
    assert row is not None
    assert row["attempts"] == 1 and row["sent_at"] is None and row["later"]
    assert "451" in row["last_error"]
    assert smtp_server.messages == []
    # Not due yet: the next round leaves it alone.
    assert await sender.deliver_due() == 0

    smtp_server.refuse = False
    await db.execute("update mail_outbox set next_attempt_at = now() where id = $1", mail_id)
    assert await sender.deliver_due() == 1
    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.recipients == ["jane@acme.example"]
    assert "123456" in subject_of(received.content)
    row = await db.fetchrow("select attempts, sent_at from mail_outbox where id = $1", mail_id)
    assert row is not None
    assert row["attempts"] == 2 and row["sent_at"] is not None

    await db.execute("update mail_outbox set next_attempt_at = now()")
    assert await sender.deliver_due() == 0
    assert len(smtp_server.messages) == 1


async def test_an_unreachable_smtp_server_is_retried_later(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    first = await queue(db, "jane@acme.example")
    second = await queue(db, "joe@acme.example")
    unreachable = replace(settings, smtp_url="smtp://127.0.0.1:9", mail_retry_base_seconds=30.0)
    # The round stops at the first mail: the second stays due, not charged a try.
    assert await MailSender(pool, unreachable).deliver_due() == 1
    assert await db.fetchval("select attempts from mail_outbox where id = $1", second) == 0
    row = await db.fetchrow(
        "select attempts, sent_at, last_error from mail_outbox where id = $1", first
    )
    assert row is not None
    assert row["attempts"] == 1 and row["sent_at"] is None and row["last_error"]


async def test_two_senders_at_once_deliver_each_mail_exactly_once(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    for n in range(30):
        await queue(db, f"user{n}@acme.example")
    chosen = smtp_settings(settings, smtp_server)
    senders = [MailSender(pool, chosen) for _ in range(3)]
    while await db.fetchval("select count(*) from mail_outbox where sent_at is null"):
        await asyncio.gather(*(sender.deliver_due() for sender in senders))
    recipients = sorted(r for m in smtp_server.messages for r in m.recipients)
    assert recipients == sorted(f"user{n}@acme.example" for n in range(30))


async def test_a_round_that_dies_before_its_commit_leaves_the_mail_to_send_again(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    await queue(db, "jane@acme.example")
    sender = MailSender(pool, smtp_settings(settings, smtp_server))

    class Crash(BaseException):
        pass

    async def crash_after_sending(recipient: str, subject: str, body: str) -> None:
        await MailSender._send(sender, recipient, subject, body)
        raise Crash

    sender._send = crash_after_sending  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await sender.deliver_due()
    assert await db.fetchval("select sent_at from mail_outbox") is None
    del sender._send
    # Leased to the crashed round: nobody sends it until the lease ends.
    assert await sender.deliver_due() == 0
    await db.execute("update mail_outbox set leased_until = now()")  # the lease ends
    assert await sender.deliver_due() == 1
    # At least once: the crashed round's message and the retry both arrived.
    assert len(smtp_server.messages) == 2
    assert await db.fetchval("select sent_at is not null from mail_outbox")


async def test_a_permanent_refusal_sets_the_mail_aside_instead_of_retrying(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    mail_id = await queue(db, "jane@acme.example")
    smtp_server.refuse_with = "550 No such user here"
    sender = MailSender(pool, smtp_settings(settings, smtp_server))
    assert await sender.deliver_due() == 1
    row = await db.fetchrow(
        "select attempts, sent_at, abandoned_at, last_error from mail_outbox where id = $1", mail_id
    )
    assert row is not None and row["abandoned_at"] is not None and row["sent_at"] is None
    assert "550" in row["last_error"]
    await db.execute("update mail_outbox set next_attempt_at = now()")
    assert await sender.deliver_due() == 0


async def test_mail_is_set_aside_after_the_last_allowed_try(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    mail_id = await queue(db, "jane@acme.example")
    smtp_server.refuse = True
    sender = MailSender(pool, replace(smtp_settings(settings, smtp_server), mail_max_attempts=3))
    for _ in range(3):
        await db.execute("update mail_outbox set next_attempt_at = now()")
        assert await sender.deliver_due() == 1
    row = await db.fetchrow("select attempts, abandoned_at from mail_outbox where id = $1", mail_id)
    assert row is not None and row["attempts"] == 3 and row["abandoned_at"] is not None


async def test_the_running_sender_delivers_mail_queued_by_a_mutation(
    database_url: str, settings: Settings, smtp_server: SMTPServer, db: asyncpg.Connection
) -> None:
    live = replace(settings, smtp_url=smtp_server.url, mail_poll_seconds=0.05)
    async with running_app(live) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            client = GraphQLClient(http=http, state=state)
            await client.execute(
                CREATE_ACCOUNT,
                {"input": account_input("marie@acme.example", preferredLanguage="fr")},
            )
            for _ in range(200):
                if smtp_server.messages:
                    break
                await asyncio.sleep(0.05)
    assert len(smtp_server.messages) == 1
    assert subject_of(smtp_server.messages[0].content).startswith("Votre code de vérification")
    assert await db.fetchval("select sent_at is not null from mail_outbox")


async def test_without_smtp_url_mail_goes_to_the_console_log(
    db: asyncpg.Connection,
    pool: asyncpg.Pool,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await queue(db, "jane@acme.example")
    with caplog.at_level(logging.INFO, logger="service360.mail"):
        assert await MailSender(pool, settings).deliver_due() == 1
    assert "123456" in caplog.text and "jane@acme.example" in caplog.text
    assert await db.fetchval("select sent_at is not null from mail_outbox")


def test_retry_delays_grow_exponentially_up_to_the_ceiling() -> None:
    delays = [retry_delay(n, 10.0, 3600.0) for n in range(1, 12)]
    assert 8.0 <= delays[0] <= 10.0 and 16.0 <= delays[1] <= 20.0
    assert all(d <= 3600.0 for d in delays) and delays[-1] >= 2880.0


def test_smtp_urls_give_host_port_tls_and_credentials() -> None:
    plain = SMTPTarget.from_url("smtp://mail.example:2525")
    assert (plain.hostname, plain.port, plain.use_tls, plain.username) == (
        "mail.example",
        2525,
        False,
        None,
    )
    secure = SMTPTarget.from_url("smtps://bob%40x:p%3Ass@mail.example")
    assert (secure.port, secure.use_tls, secure.username, secure.password) == (
        465,
        True,
        "bob@x",
        "p:ss",
    )


async def test_the_first_delivery_after_an_outage_retries_every_waiting_mail_at_once(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    waiting = [await queue(db, f"user{n}@acme.example") for n in range(5)]
    sender = MailSender(pool, smtp_settings(settings, smtp_server))  # 30 s back-off
    smtp_server.refuse = True
    assert await sender.deliver_due() == 5
    assert await db.fetchval(
        "select bool_and(next_attempt_at > now() + interval '20 seconds') from mail_outbox"
    )
    smtp_server.refuse = False
    # A new mail (due now) goes through: the server is back, the others go too.
    await queue(db, "new@acme.example")
    assert await sender.deliver_due() == 1
    assert await sender.deliver_due() == 5
    recipients = sorted(r for m in smtp_server.messages for r in m.recipients)
    assert recipients == sorted(["new@acme.example"] + [f"user{n}@acme.example" for n in range(5)])
    assert (
        await db.fetchval(
            "select count(*) from mail_outbox where id = any($1) and sent_at is not null", waiting
        )
        == 5
    )


async def test_a_waiting_mail_that_goes_through_wakes_the_others_for_any_sender(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    for n in range(3):
        await queue(db, f"user{n}@acme.example")
    chosen = smtp_settings(settings, smtp_server)
    smtp_server.refuse = True
    assert await MailSender(pool, chosen).deliver_due() == 3
    smtp_server.refuse = False
    # Another worker's sender, which saw no failure itself: the first mail's
    # back-off ends, it goes, and it was a retried mail, so the rest follow.
    await db.execute(
        "update mail_outbox set next_attempt_at = now() "
        "where id = (select min(id) from mail_outbox)"
    )
    other = MailSender(pool, chosen)
    assert await other.deliver_due() == 1
    assert await other.deliver_due() == 2
    assert len(smtp_server.messages) == 3


async def test_a_graceful_stop_finishes_the_mail_being_sent_and_hands_the_rest_back(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    for n in range(4):
        await queue(db, f"user{n}@acme.example")
    smtp_server.delay_seconds = 0.5
    sender = MailSender(pool, replace(smtp_settings(settings, smtp_server), mail_poll_seconds=0.05))
    async with Supervisor() as background:
        background.start("mail-sender", sender.run, request_stop=sender.request_stop)
        await eventually(lambda: smtp_server.data_started > 0)
    assert len(smtp_server.messages) == 1
    rows = await db.fetch("select sent_at, leased_until, attempts from mail_outbox order by id")
    assert rows[0]["sent_at"] is not None
    # Untried, unleased: due at once for another worker or the next start.
    assert all(
        r["sent_at"] is None and r["leased_until"] is None and r["attempts"] == 0 for r in rows[1:]
    )


async def test_a_stop_past_its_grace_period_hands_back_the_mail_being_sent_too(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    for n in range(3):
        await queue(db, f"user{n}@acme.example")
    smtp_server.delay_seconds = 3.0
    sender = MailSender(pool, replace(smtp_settings(settings, smtp_server), mail_poll_seconds=0.05))
    async with Supervisor(stop_seconds=0.2) as background:
        background.start("mail-sender", sender.run, request_stop=sender.request_stop)
        await eventually(lambda: smtp_server.data_started > 0)
    rows = await db.fetch("select sent_at, leased_until from mail_outbox")
    assert all(r["sent_at"] is None and r["leased_until"] is None for r in rows)


async def test_no_mail_is_sent_after_its_lease_has_ended(
    db: asyncpg.Connection, pool: asyncpg.Pool, settings: Settings, smtp_server: SMTPServer
) -> None:
    for n in range(6):
        await queue(db, f"user{n}@acme.example")
    smtp_server.delay_seconds = 0.4
    # A 2 s lease: each send gets at most 1 s, and none starts with less left.
    sender = MailSender(pool, replace(smtp_settings(settings, smtp_server), mail_lease_seconds=2))
    started = asyncio.get_running_loop().time()
    tried = await sender.deliver_due()
    assert asyncio.get_running_loop().time() - started < 2.0
    assert 1 <= tried < 6
    rows = await db.fetch("select sent_at, leased_until from mail_outbox")
    assert sum(r["sent_at"] is not None for r in rows) == tried == len(smtp_server.messages)
    # The rest is handed back untried, due again for the next round.
    assert all(r["leased_until"] is None for r in rows)
    while await sender.deliver_due():
        pass
    assert len(smtp_server.messages) == 6


def test_mail_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"MAIL_LEASE_SECONDS": "5", "MAIL_RETRY_MAX_SECONDS": "2.5", "MAIL_POLL_SECONDS": "0.1"}
    )
    assert (settings.mail_lease_seconds, settings.mail_retry_max_seconds) == (5, 2.5)
    assert settings.mail_poll_seconds == 0.1
    assert Settings.from_env({}).mail_lease_seconds <= 60
