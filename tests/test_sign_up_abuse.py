"""Sign-up cannot be used to flood (issue 12, Medium #5): createAccount is
throttled like sign-in, one credential mutation per document, and the argon2
queue refuses at once instead of queueing for seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from config import Settings
from security.passwords import HashingBusy, PasswordHashing
from tests.support.app import GraphQLClient, running_app, without_throttles
from tests.support.registration import (
    CREATE_ACCOUNT,
    ERRORS,
    PASSWORD,
    SIGN_IN,
    account_input,
    error_codes,
    signed_up,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_throttles(settings)


@asynccontextmanager
async def worker(settings: Settings, client_ip: str) -> AsyncIterator[GraphQLClient]:
    """One app instance (as one uvicorn worker would run it) and a client for it."""
    async with running_app(settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


async def sign_up(client: GraphQLClient, email: str) -> list[str]:
    answer = await client.execute(CREATE_ACCOUNT, {"input": account_input(email)})
    return error_codes(answer, "createAccount")


# --------------------------------------------------------------- throttling


async def test_create_account_is_limited_per_address_across_workers(
    settings: Settings, db: asyncpg.Connection
) -> None:
    tight = replace(settings, throttle_per_address=2)
    async with worker(tight, "10.3.0.1") as first, worker(tight, "10.3.0.2") as second:
        assert await sign_up(first, "target@signup.example") == []
        assert await sign_up(second, "target@signup.example") == []
        assert await sign_up(first, "target@signup.example") == ["RATE_LIMITED"]
        assert await sign_up(second, "other@signup.example") == []


async def test_create_account_is_limited_per_client_address(
    settings: Settings, db: asyncpg.Connection
) -> None:
    tight = replace(settings, throttle_per_client=3)
    async with worker(tight, "10.4.0.1") as flood, worker(tight, "10.4.0.2") as other:
        outcomes = [await sign_up(flood, f"user{n}@signup.example") for n in range(4)]
        assert outcomes == [[], [], [], ["RATE_LIMITED"]]
        assert await sign_up(other, "user9@signup.example") == []
    assert await db.fetchval("select count(*) from users") == 4


async def test_create_account_has_a_global_ceiling_over_every_client(
    settings: Settings, db: asyncpg.Connection
) -> None:
    tight = replace(settings, throttle_sign_up_global=3)
    outcomes = []
    for n in range(4):
        async with worker(tight, f"10.5.0.{n}") as client:
            outcomes.append(await sign_up(client, f"user{n}@global.example"))
    assert outcomes == [[], [], [], ["RATE_LIMITED"]]
    assert await db.fetchval("select count(*) from users") == 3
    assert await db.fetchval("select count(*) from mail_outbox") == 3


# ----------------------------------------- one credential mutation per document


def refusal(body: dict[str, Any]) -> str:
    assert body.get("data") is None, body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


@pytest.mark.parametrize(
    "document",
    [
        # Aliases of one mutation.
        "mutation { "
        + " ".join(
            f'a{n}: createAccount(input: {{email: "u{n}@alias.example", password: "{PASSWORD}",'
            f' firstName: "A", lastName: "B"}}) {{ {ERRORS} }}'
            for n in range(20)
        )
        + " }",
        # Two different credential mutations.
        f'mutation {{ signIn(email: "a@alias.example", password: "x") {{ {ERRORS} }}'
        f' verifyEmail(email: "a@alias.example", code: "123456") {{ {ERRORS} }} }}',
        # Hidden in a fragment and an inline fragment.
        f'mutation {{ ...Guess ... on Mutation {{ b: signIn(email: "b@alias.example",'
        f' password: "y") {{ {ERRORS} }} }} }}'
        f' fragment Guess on Mutation {{ a: signIn(email: "a@alias.example", password: "x")'
        f" {{ {ERRORS} }} }}",
    ],
    ids=["aliases", "two-kinds", "fragments"],
)
async def test_more_than_one_credential_mutation_in_a_document_is_refused_before_any_runs(
    client: GraphQLClient, db: asyncpg.Connection, document: str
) -> None:
    assert refusal(await client.execute(document)) == "TOO_MANY_CREDENTIAL_MUTATIONS"
    assert await db.fetchval("select count(*) from users") == 0
    assert await db.fetchval("select count(*) from throttle_hits") == 0


async def test_one_credential_mutation_beside_other_fields_still_runs(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "one@alias.example")
    body = await client.execute(
        f'mutation {{ signIn(email: "one@alias.example", password: "{PASSWORD}")'
        f" {{ session {{ token }} {ERRORS} }} }}"
    )
    assert body["data"]["signIn"]["session"]["token"]


# ------------------------------------------------------------ argon2 queue


async def test_a_full_hashing_queue_refuses_a_new_caller_at_once() -> None:
    slow = PasswordHasher(time_cost=4, memory_cost=64 * 1024, parallelism=1)
    hashing = PasswordHashing(concurrency=1, niceness=0, hasher=slow, max_waiting=1)
    try:
        running = asyncio.create_task(hashing.hash("first-password-1"))
        waiting = asyncio.create_task(hashing.hash("second-password-2"))
        await asyncio.sleep(0)
        assert hashing.waiting == 1
        with pytest.raises(HashingBusy):
            await hashing.hash("third-password-3")
        assert all(await asyncio.gather(running, waiting))
        # Once the queue drained, callers are served again.
        assert await hashing.hash("fourth-password-4")
    finally:
        hashing.close()


async def test_sign_up_and_sign_in_answer_rate_limited_while_hashing_is_saturated(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "busy@signup.example")
    hashing: PasswordHashing = client.state["resources"].passwords
    # Every thread busy and the queue full (2 threads, 4 waiting by default).
    occupying = [asyncio.create_task(hashing.hash(f"occupy-{n}-password")) for n in range(6)]
    await asyncio.sleep(0)
    try:
        assert await sign_up(client, "late@signup.example") == ["RATE_LIMITED"]
        answer = await client.execute(
            SIGN_IN, {"email": "busy@signup.example", "password": PASSWORD}
        )
        assert error_codes(answer, "signIn") == ["RATE_LIMITED"]
    finally:
        await asyncio.gather(*occupying)
    assert await db.fetchval("select count(*) from users") == 1
    assert await sign_up(client, "late@signup.example") == []
