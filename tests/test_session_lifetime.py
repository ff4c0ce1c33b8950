"""Sessions end after an idle timeout and an absolute lifetime (settings), can
be revoked everywhere at once, and their idle clock moves at most once a
minute (issue 12 Low; NIST 800-63B §7.2)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import httpx
import pytest

from config import Settings
from tests.support.app import GraphQLClient, running_app, without_throttles
from tests.support.registration import (
    ERRORS,
    PASSWORD,
    SIGN_IN,
    VIEWER,
    no_errors,
    signed_up,
)

EMAIL = "sam@lifetime.example"
SIGN_OUT_EVERYWHERE = f"mutation {{ signOutEverywhere {{ {ERRORS} }} }}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(without_throttles(settings), session_ttl_hours=12, session_idle_minutes=30)


async def sign_in(client: GraphQLClient) -> str:
    signed = no_errors(
        await client.execute(SIGN_IN, {"email": EMAIL, "password": PASSWORD}), "signIn"
    )
    token: str = signed["session"]["token"]
    return token


async def is_signed_in(client: GraphQLClient, token: str) -> bool:
    return (await client.execute(VIEWER, token=token))["data"]["viewer"] is not None


async def test_a_session_unused_for_the_idle_timeout_ends(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token = await signed_up(client, db, EMAIL)
    # 31 minutes without a request.
    await db.execute(
        "update sessions set expires_at = now() - interval '1 minute',"
        " absolute_expires_at = absolute_expires_at - interval '31 minutes'"
    )
    assert not await is_signed_in(client, token)


async def test_use_slides_the_idle_expiry_at_most_once_a_minute_and_never_past_the_absolute(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token = await signed_up(client, db, EMAIL)
    row = await db.fetchrow("select expires_at, absolute_expires_at, created_at from sessions")
    assert row is not None
    assert (row["absolute_expires_at"] - row["created_at"]).total_seconds() == 12 * 3600
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 30 * 60
    # Used again at once: nothing is written.
    assert await is_signed_in(client, token)
    assert await db.fetchval("select expires_at from sessions") == row["expires_at"]
    # Twenty minutes later (10 left on the idle clock): a request moves it to now + 30.
    await db.execute("update sessions set expires_at = now() + interval '10 minutes'")
    assert await is_signed_in(client, token)
    moved = await db.fetchval("select expires_at - now() from sessions")
    assert moved.total_seconds() > 29 * 60
    # Near the absolute end, activity does not extend the session past it.
    await db.execute(
        "update sessions set absolute_expires_at = now() + interval '5 minutes',"
        " expires_at = now() + interval '2 minutes'"
    )
    assert await is_signed_in(client, token)
    assert await db.fetchval("select expires_at = absolute_expires_at from sessions")
    await db.execute(
        "update sessions set absolute_expires_at = now() - interval '1 second',"
        " expires_at = now() - interval '1 second'"
    )
    assert not await is_signed_in(client, token)


async def test_the_lifetimes_come_from_settings(
    settings: Settings, db: asyncpg.Connection, client: GraphQLClient
) -> None:
    await signed_up(client, db, EMAIL)
    short = replace(settings, session_ttl_hours=2, session_idle_minutes=5)
    async with running_app(short) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await sign_in(GraphQLClient(http=http, state=state))
    row = await db.fetchrow(
        "select expires_at - created_at as idle, absolute_expires_at - created_at as absolute"
        " from sessions order by created_at desc limit 1"
    )
    assert row is not None
    assert row["idle"].total_seconds() == 5 * 60
    assert row["absolute"].total_seconds() == 2 * 3600


async def test_sign_out_everywhere_revokes_every_session_of_the_user_only(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    first = await signed_up(client, db, EMAIL)
    second = await sign_in(client)
    other = await signed_up(client, db, "other@lifetime.example")
    no_errors(await client.execute(SIGN_OUT_EVERYWHERE, token=second), "signOutEverywhere")
    assert not await is_signed_in(client, first)
    assert not await is_signed_in(client, second)
    assert await is_signed_in(client, other)
    again = await client.execute(SIGN_OUT_EVERYWHERE, token=first)
    assert again["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Signing in again works.
    assert await is_signed_in(client, await sign_in(client))
