"""Sign-in limits count failures only, and nobody else can lock a user out
(issue 12, Low; NIST 800-63B §5.2.2): a few free failures, then a growing
delay, and a lockout only after many consecutive failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import asyncpg
import httpx
import pytest

from config import Settings
from tests.support.app import GraphQLClient, running_app, without_throttles
from tests.support.registration import (
    PASSWORD,
    REQUEST_RESET,
    RESET,
    SIGN_IN,
    error_codes,
    latest_code,
    no_errors,
    payload,
    signed_up,
)

OWNER = "owner@lockout.example"
NEW_PASSWORD = "copper-lantern-meadow-83"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_throttles(settings)


@asynccontextmanager
async def from_client(settings: Settings, client_ip: str) -> AsyncIterator[GraphQLClient]:
    async with running_app(settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


async def sign_in(client: GraphQLClient, password: str, email: str = OWNER) -> list[str]:
    return error_codes(
        await client.execute(SIGN_IN, {"email": email, "password": password}), "signIn"
    )


async def wait_seconds(client: GraphQLClient, password: str) -> int:
    answer = await client.execute(SIGN_IN, {"email": OWNER, "password": password})
    (error,) = payload(answer, "signIn")["userErrors"]
    assert error["code"] == "RATE_LIMITED"
    return int("".join(ch for ch in error["message"] if ch.isdigit()))


async def after_the_delay(db: asyncpg.Connection, seconds: int = 3600) -> None:
    await db.execute(
        "update sign_in_failures set last_failed_at = last_failed_at - make_interval(secs => $1)",
        float(seconds),
    )


async def test_correct_sign_ins_do_not_count_toward_any_limit(
    client: GraphQLClient, db: asyncpg.Connection, settings: Settings
) -> None:
    await signed_up(client, db, OWNER)
    # The defaults: 10 per address and 100 per client in a window.
    async with from_client(replace(settings, throttle_per_client=5), "10.6.0.1") as same:
        outcomes = [await sign_in(same, PASSWORD) for _ in range(12)]
    assert outcomes == [[]] * 12


async def test_ten_wrong_passwords_from_other_clients_do_not_lock_the_owner_out(
    client: GraphQLClient, db: asyncpg.Connection, settings: Settings
) -> None:
    await signed_up(client, db, OWNER)
    for n in range(10):
        # Each guess waits out the delay its predecessors earned.
        await after_the_delay(db, settings.sign_in_max_delay_seconds)
        async with from_client(settings, f"10.7.0.{n}") as attacker:
            assert await sign_in(attacker, f"guess-number-{n}-x") == ["INVALID_CREDENTIALS"]
    # At most a short delay, never a long lock.
    assert 0 < await wait_seconds(client, PASSWORD) <= settings.sign_in_max_delay_seconds
    await after_the_delay(db, settings.sign_in_max_delay_seconds)
    assert await sign_in(client, PASSWORD) == []


async def test_the_delay_grows_with_consecutive_failures_and_a_success_resets_it(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, OWNER)
    free = [await sign_in(client, f"wrong-guess-{n}-y") for n in range(5)]
    assert free == [["INVALID_CREDENTIALS"]] * 5
    assert await wait_seconds(client, PASSWORD) == 2
    await after_the_delay(db, 2)
    assert await sign_in(client, "wrong-guess-6-y") == ["INVALID_CREDENTIALS"]
    assert await wait_seconds(client, PASSWORD) == 4
    await after_the_delay(db, 4)
    assert await sign_in(client, PASSWORD) == []
    assert await db.fetchval("select count(*) from sign_in_failures") == 0
    assert await sign_in(client, "wrong-again-z-1") == ["INVALID_CREDENTIALS"]


async def test_many_consecutive_failures_lock_the_address_until_a_password_reset(
    client: GraphQLClient, db: asyncpg.Connection, settings: Settings
) -> None:
    await signed_up(client, db, OWNER)
    await db.execute(
        "insert into sign_in_failures (email, failures, last_failed_at) values ($1, $2, now())",
        OWNER,
        settings.sign_in_lockout_failures,
    )
    await after_the_delay(db, 3600)
    answer = await client.execute(SIGN_IN, {"email": OWNER, "password": PASSWORD})
    (error,) = payload(answer, "signIn")["userErrors"]
    assert error["code"] == "RATE_LIMITED" and "reset your password" in error["message"]
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    no_errors(await client.execute(REQUEST_RESET, {"email": OWNER}), "requestPasswordReset")
    code = await latest_code(db, OWNER, "password_reset")
    no_errors(
        await client.execute(RESET, {"email": OWNER, "code": code, "password": NEW_PASSWORD}),
        "resetPassword",
    )
    assert await sign_in(client, NEW_PASSWORD) == []


async def test_below_the_lockout_count_no_wait_exceeds_the_maximum_delay(
    client: GraphQLClient, db: asyncpg.Connection, settings: Settings
) -> None:
    await signed_up(client, db, OWNER)
    await db.execute(
        "insert into sign_in_failures (email, failures, last_failed_at) values ($1, $2, now())",
        OWNER,
        settings.sign_in_lockout_failures - 1,
    )
    assert await wait_seconds(client, PASSWORD) <= settings.sign_in_max_delay_seconds


async def test_concurrent_wrong_sign_ins_are_bounded_by_the_hashing_queue_then_delayed(
    client: GraphQLClient, db: asyncpg.Connection, settings: Settings
) -> None:
    async def burst() -> list[str]:
        answers = await asyncio.gather(
            *(
                client.execute(
                    SIGN_IN, {"email": "ghost@lockout.example", "password": f"g-{n}-guess"}
                )
                for n in range(20)
            )
        )
        return [error_codes(answer, "signIn")[0] for answer in answers]

    # 2 hashing threads and 4 waiting: at most 6 guesses judged at once.
    first = await burst()
    judged = first.count("INVALID_CREDENTIALS")
    assert 1 <= judged <= settings.argon2_concurrency + settings.argon2_max_queue
    assert first.count("RATE_LIMITED") == 20 - judged
    assert await db.fetchval("select failures from sign_in_failures") == judged
    await db.execute("update sign_in_failures set failures = greatest(failures, 5)")
    # Past the free failures, a burst is refused whole until the delay passed.
    assert set(await burst()) == {"RATE_LIMITED"}


async def test_the_per_client_limit_counts_failures_only(
    client: GraphQLClient, db: asyncpg.Connection, settings: Settings
) -> None:
    await signed_up(client, db, OWNER)
    async with from_client(replace(settings, throttle_per_client=3), "10.8.0.1") as one:
        assert [await sign_in(one, PASSWORD) for _ in range(5)] == [[]] * 5
        wrong = [await sign_in(one, "nope-nope-1", f"other{n}@lockout.example") for n in range(3)]
        assert wrong == [["INVALID_CREDENTIALS"]] * 3
        assert await sign_in(one, "nope-nope-1", "fourth@lockout.example") == ["RATE_LIMITED"]
