"""Throttling counters live in PostgreSQL: exact under concurrency, shared by workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import asyncpg
import httpx
import pytest

from config import Settings
from db.pool import create_pool
from db.throttle import hit_buckets
from resolvers.throttle import client_bucket
from tests.support.app import GraphQLClient, running_app
from tests.support.registration import (
    REQUEST_RESET,
    RESEND,
    SIGN_IN,
    VERIFY_EMAIL,
    error_codes,
    payload,
)


@asynccontextmanager
async def worker(settings: Settings, client_ip: str) -> AsyncIterator[GraphQLClient]:
    """One app instance (as one uvicorn worker would run it) and a client for it."""
    async with running_app(settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


async def test_concurrent_hits_are_all_counted(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=5)
    try:
        results = await asyncio.gather(
            *(hit_buckets(pool, ["a:address:x", "a:client:y"], 60) for _ in range(40))
        )
    finally:
        await pool.close()
    assert sorted(r["a:address:x"][0] for r in results) == list(range(1, 41))
    assert sorted(r["a:client:y"][0] for r in results) == list(range(1, 41))
    assert all(0 < r["a:address:x"][1] <= 60 for r in results)


async def test_a_window_that_ended_starts_again_at_one(
    database_url: str, db: asyncpg.Connection
) -> None:
    for _ in range(3):
        await hit_buckets(db, ["b:address:x"], 60)
    await db.execute("update throttle_hits set window_started_at = now() - interval '61 seconds'")
    assert (await hit_buckets(db, ["b:address:x"], 60))["b:address:x"][0] == 1


@pytest.mark.parametrize(
    ("query", "name", "variables"),
    [
        (VERIFY_EMAIL, "verifyEmail", {"email": "t@throttle.example", "code": "000000"}),
        (RESEND, "resendVerificationCode", {"email": "t@throttle.example"}),
        (REQUEST_RESET, "requestPasswordReset", {"email": "t@throttle.example"}),
    ],
)
async def test_each_guarded_mutation_is_limited_per_address_across_workers(
    settings: Settings, db: asyncpg.Connection, query: str, name: str, variables: dict[str, str]
) -> None:
    tight = replace(settings, throttle_per_address=4, throttle_per_client=100)
    async with worker(tight, "10.1.1.1") as first, worker(tight, "10.2.2.2") as second:
        answers = []
        for n in range(4):
            # Past the one-code-a-minute rule, which has its own tests.
            await db.execute("delete from code_sends")
            answers.append(await (first if n % 2 else second).execute(query, variables))
        assert all("RATE_LIMITED" not in error_codes(a, name) for a in answers)
        await db.execute("delete from code_sends")
        blocked = await first.execute(query, variables)
        assert error_codes(blocked, name) == ["RATE_LIMITED"]
        message = payload(blocked, name)["userErrors"][0]["message"]
        wait = int("".join(ch for ch in message if ch.isdigit()))
        assert 0 < wait <= tight.throttle_window_seconds
        other_address = {**variables, "email": "u@throttle.example"}
        assert "RATE_LIMITED" not in error_codes(await second.execute(query, other_address), name)


async def test_a_clients_limit_covers_its_whole_ipv6_network(settings: Settings) -> None:
    """Rotating addresses within one /64 (any IPv6 subscriber has one) brings
    no fresh per-client counts; another /64 is another client."""
    tight = replace(settings, throttle_per_address=100, throttle_per_client=3)
    wrong = {"password": "not-the-password-1"}
    rotating = ["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::1", "2001:db8:1:2::c"]
    answers = []
    for n, address in enumerate(rotating):
        async with worker(tight, address) as client:
            answer = await client.execute(SIGN_IN, {**wrong, "email": f"n{n}@rotating.example"})
            answers.append(error_codes(answer, "signIn"))
    assert answers == [["INVALID_CREDENTIALS"]] * 3 + [["RATE_LIMITED"]]
    async with worker(tight, "2001:db8:1:3::a") as neighbour:
        answer = await neighbour.execute(SIGN_IN, {**wrong, "email": "n9@rotating.example"})
        assert error_codes(answer, "signIn") == ["INVALID_CREDENTIALS"]


def test_client_buckets() -> None:
    assert client_bucket("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_bucket("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_bucket("192.0.2.7") == "192.0.2.7"
    assert client_bucket("unknown") == "unknown"
