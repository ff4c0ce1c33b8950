"""Sessions: hashed bearer tokens, expiry, sign-out, password reset revoking them all."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace

import asyncpg
import pytest

from config import Settings
from tests.support.app import GraphQLClient, without_throttles
from tests.support.registration import (
    CREATE_ACCOUNT,
    PASSWORD,
    REQUEST_RESET,
    RESET,
    SIGN_IN,
    SIGN_OUT,
    VIEWER,
    account_input,
    error_codes,
    latest_code,
    no_errors,
    payload,
    signed_up,
)

NEW_PASSWORD = "amber-meadow-kettle-19"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(without_throttles(settings), argon2_max_queue=16)


async def sign_in(client: GraphQLClient, email: str, password: str = PASSWORD) -> str:
    signed = no_errors(
        await client.execute(SIGN_IN, {"email": email, "password": password}), "signIn"
    )
    token: str = signed["session"]["token"]
    return token


async def viewer_email(client: GraphQLClient, token: str) -> str | None:
    viewer = (await client.execute(VIEWER, token=token))["data"]["viewer"]
    return viewer["email"] if viewer else None


async def test_sign_in_gives_a_bearer_token_that_is_stored_only_hashed(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "ann@sessions.example")
    token = await sign_in(client, "ANN@sessions.example")
    assert len(token) >= 43
    assert await viewer_email(client, token) == "ann@sessions.example"
    stored = [bytes(r["token_hash"]) for r in await db.fetch("select token_hash from sessions")]
    assert hashlib.sha256(token.encode()).digest() in stored
    assert all(token.encode() not in value for value in stored)


async def test_sign_out_revokes_the_session_and_only_that_one(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "bo@sessions.example")
    phone = await sign_in(client, "bo@sessions.example")
    laptop = await sign_in(client, "bo@sessions.example")
    no_errors(await client.execute(SIGN_OUT, token=phone), "signOut")
    assert await viewer_email(client, phone) is None
    assert await viewer_email(client, laptop) == "bo@sessions.example"
    again = await client.execute(SIGN_OUT, token=phone)
    assert again["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_expired_session_no_longer_signs_in(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token = await signed_up(client, db, "cy@sessions.example")
    await db.execute("update sessions set expires_at = now() - interval '1 second'")
    assert await viewer_email(client, token) is None


async def test_an_unverified_account_cannot_sign_in_and_a_wrong_password_says_nothing_more(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    no_errors(
        await client.execute(CREATE_ACCOUNT, {"input": account_input("dee@sessions.example")}),
        "createAccount",
    )
    right = await client.execute(SIGN_IN, {"email": "dee@sessions.example", "password": PASSWORD})
    assert error_codes(right, "signIn") == ["INVALID_CREDENTIALS"]
    assert payload(right, "signIn")["session"] is None
    wrong = await client.execute(
        SIGN_IN, {"email": "dee@sessions.example", "password": "wrong-password-123"}
    )
    assert error_codes(wrong, "signIn") == ["INVALID_CREDENTIALS"]
    assert await db.fetchval("select count(*) from sessions") == 0


async def test_reset_password_sets_the_new_one_and_revokes_every_session(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    email = "eve@sessions.example"
    first = await signed_up(client, db, email)
    second = await sign_in(client, email)
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    no_errors(await client.execute(REQUEST_RESET, {"email": email}), "requestPasswordReset")
    code = await latest_code(db, email, "password_reset")

    weak = await client.execute(RESET, {"email": email, "code": code, "password": "short"})
    assert payload(weak, "resetPassword")["userErrors"][0]["field"] == ["newPassword"]
    wrong = await client.execute(
        RESET, {"email": email, "code": f"{(int(code) + 1) % 10**6:06d}", "password": NEW_PASSWORD}
    )
    assert error_codes(wrong, "resetPassword") == ["INVALID_CODE"]
    assert await viewer_email(client, first) == email

    no_errors(
        await client.execute(RESET, {"email": email, "code": code, "password": NEW_PASSWORD}),
        "resetPassword",
    )
    assert await viewer_email(client, first) is None
    assert await viewer_email(client, second) is None
    old = await client.execute(SIGN_IN, {"email": email, "password": PASSWORD})
    assert error_codes(old, "signIn") == ["INVALID_CREDENTIALS"]
    assert await viewer_email(client, await sign_in(client, email, NEW_PASSWORD)) == email
    reused = await client.execute(RESET, {"email": email, "code": code, "password": PASSWORD})
    assert error_codes(reused, "resetPassword") == ["INVALID_CODE"]


async def test_reset_for_an_unknown_address_answers_like_a_wrong_code(
    client: GraphQLClient,
) -> None:
    answer = await client.execute(
        RESET, {"email": "nobody@sessions.example", "code": "123456", "password": NEW_PASSWORD}
    )
    assert error_codes(answer, "resetPassword") == ["INVALID_CODE"]


async def test_a_flood_of_sign_ins_queues_for_hashing_while_other_requests_are_served(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "flood@sessions.example")
    hashing = client.state["resources"].passwords
    flood = [
        asyncio.create_task(
            client.execute(SIGN_IN, {"email": "flood@sessions.example", "password": PASSWORD})
        )
        for _ in range(16)
    ]
    for _ in range(1000):
        if hashing.waiting > 0:
            break
        await asyncio.sleep(0.005)
    assert hashing.waiting > 0  # sign-ins beyond the limit wait their turn
    families = await client.execute("{ productFamilies { name } }")
    assert len(families["data"]["productFamilies"]) >= 12
    assert any(not task.done() for task in flood)  # answered while the flood is still queued
    answers = await asyncio.gather(*flood)
    assert all(payload(a, "signIn")["session"] is not None for a in answers)


async def test_create_account_then_sign_in_does_not_tell_whether_an_address_had_an_account(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    """An attacker registers an address with a password of their own, then signs in
    with it: a verified account keeps its password, a new one takes the attacker's.
    Both answer the same, so the pair is no test of which addresses exist."""
    await signed_up(client, db, "owner@sessions.example")
    attacker_password = "attacker-chosen-horse-battery-9"
    answers = []
    for email in ("owner@sessions.example", "nobody@sessions.example"):
        attempt = {**account_input(email), "password": attacker_password}
        no_errors(await client.execute(CREATE_ACCOUNT, {"input": attempt}), "createAccount")
        answer = await client.execute(SIGN_IN, {"email": email, "password": attacker_password})
        answers.append((error_codes(answer, "signIn"), payload(answer, "signIn")["session"]))
    assert answers[0] == answers[1] == (["INVALID_CREDENTIALS"], None)
