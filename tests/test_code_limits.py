"""One-time codes: a cumulative daily cap of wrong codes per account (issue 12
Medium #7), and a code its owner holds is not cancelled by someone else's
request (issue 12 Low)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest

from config import Settings
from tests.support.app import GraphQLClient, without_throttles
from tests.support.registration import (
    CREATE_ACCOUNT,
    REQUEST_RESET,
    RESEND,
    RESET,
    SIGN_IN,
    VERIFY_EMAIL,
    account_input,
    error_codes,
    latest_code,
    no_errors,
    signed_up,
)

EMAIL = "codes@limits.example"
NEW_PASSWORD = "saffron-glacier-pylon-64"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(without_throttles(settings), code_max_wrong_per_day=7)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def next_minute(db: asyncpg.Connection) -> None:
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")


async def verify(client: GraphQLClient, code: str) -> list[str]:
    return error_codes(
        await client.execute(VERIFY_EMAIL, {"email": EMAIL, "code": code}), "verifyEmail"
    )


async def test_new_codes_give_no_new_guesses_past_the_days_cap(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    no_errors(
        await client.execute(CREATE_ACCOUNT, {"input": account_input(EMAIL)}), "createAccount"
    )
    first = await latest_code(db, EMAIL)
    assert [await verify(client, wrong(first)) for _ in range(5)] == [["INVALID_CODE"]] * 5
    assert await verify(client, first) == ["TOO_MANY_ATTEMPTS"]  # spent
    await next_minute(db)
    no_errors(await client.execute(RESEND, {"email": EMAIL}), "resendVerificationCode")
    second = await latest_code(db, EMAIL)
    assert await verify(client, wrong(second)) == ["INVALID_CODE"]
    assert await verify(client, wrong(second)) == ["INVALID_CODE"]
    # Seven wrong codes today: even the right one is not checked any more.
    assert await verify(client, second) == ["TOO_MANY_ATTEMPTS"]
    assert await db.fetchval("select verified_at from users") is None
    await db.execute("update users set wrong_codes_since = wrong_codes_since - interval '1 day'")
    assert await verify(client, second) == []


async def test_the_cap_counts_reset_codes_too(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, EMAIL)
    for _ in range(2):
        await next_minute(db)
        no_errors(await client.execute(REQUEST_RESET, {"email": EMAIL}), "requestPasswordReset")
        code = await latest_code(db, EMAIL, "password_reset")
        for _ in range(5):
            await client.execute(
                RESET, {"email": EMAIL, "code": wrong(code), "password": NEW_PASSWORD}
            )
    await next_minute(db)
    no_errors(await client.execute(REQUEST_RESET, {"email": EMAIL}), "requestPasswordReset")
    code = await latest_code(db, EMAIL, "password_reset")
    answer = await client.execute(RESET, {"email": EMAIL, "code": code, "password": NEW_PASSWORD})
    assert error_codes(answer, "resetPassword") == ["TOO_MANY_ATTEMPTS"]


async def test_a_second_reset_request_keeps_the_owners_code_valid_beside_the_new_one(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, EMAIL)
    await next_minute(db)
    no_errors(await client.execute(REQUEST_RESET, {"email": EMAIL}), "requestPasswordReset")
    owners = await latest_code(db, EMAIL, "password_reset")
    # Someone else asks again a minute later.
    await next_minute(db)
    no_errors(await client.execute(REQUEST_RESET, {"email": EMAIL}), "requestPasswordReset")
    assert await latest_code(db, EMAIL, "password_reset") is not None
    answer = await client.execute(RESET, {"email": EMAIL, "code": owners, "password": NEW_PASSWORD})
    assert error_codes(answer, "resetPassword") == []
    signed = await client.execute(SIGN_IN, {"email": EMAIL, "password": NEW_PASSWORD})
    assert error_codes(signed, "signIn") == []
    # The reset spent every code, the other request's included.
    assert await db.fetchval("select count(*) from one_time_codes where consumed_at is null") == 0


async def test_wrong_codes_say_the_same_for_a_known_and_an_unknown_address(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    """Anyone may make codes live for an address (a reset request, a sign-up):
    guesses then must not tell an account with live codes from no account."""
    await signed_up(client, db, EMAIL)
    for address in (EMAIL, "nobody@limits.example"):
        await next_minute(db)
        no_errors(await client.execute(REQUEST_RESET, {"email": address}), "requestPasswordReset")
    answers = {}
    for address in (EMAIL, "nobody@limits.example"):
        answers[address] = [
            error_codes(
                await client.execute(
                    RESET, {"email": address, "code": "000000", "password": NEW_PASSWORD}
                ),
                "resetPassword",
            )
            for _ in range(8)
        ]
    assert answers[EMAIL] == answers["nobody@limits.example"] == [["INVALID_CODE"]] * 8
