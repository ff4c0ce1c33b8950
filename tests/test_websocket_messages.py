"""graphql-transport-ws messages of the wrong shape, written by hand: each
closes the connection with 4400 and a reason, never a traceback or a socket
dropped without a close code; the per-connection limit answers with a code."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import websockets

from tests.fleet_data import create_tenant, create_user
from tests.live_server import LiveServer, live_server

SHALLOW = "subscription { summary { productCount } }"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(
        database_url, tmp_path / "server.log", SUBSCRIPTIONS_PER_CONNECTION="2"
    ) as running:
        yield running


async def session_token(db: asyncpg.Connection) -> str:
    tenant = await create_tenant(db, sites=1, products=3, seed=5)
    return (await create_user(db, tenant, role="ADMIN")).token


async def exchange(server: LiveServer, token: str, *messages: Any) -> tuple[list[Any], int | None]:
    """Send connection_init then `messages`; what came back and the close code."""
    url = server.url.replace("http://", "ws://") + "/graphql"
    received: list[Any] = []
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            orjson.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            ).decode()
        )
        for message in messages:
            await ws.send(message if isinstance(message, str) else orjson.dumps(message).decode())
        try:
            while True:
                received.append(orjson.loads(await asyncio.wait_for(ws.recv(), 3)))
        except TimeoutError:
            return received, None
        except websockets.ConnectionClosed as closed:
            return received, closed.rcvd.code if closed.rcvd else None


MALFORMED: list[Any] = [
    {"type": "subscribe", "id": "1", "payload": "x"},
    {"type": "subscribe", "id": "1"},
    {"type": "subscribe", "id": ["1"], "payload": {"query": SHALLOW}},
    {"type": "subscribe", "id": 1, "payload": {"query": SHALLOW}},
    {"type": "subscribe", "id": "x" * 5000, "payload": {"query": SHALLOW}},
    {"type": "subscribe", "id": "1", "payload": {"query": 5}},
    {"type": "subscribe", "id": "1", "payload": {"query": None}},
    {"type": "subscribe", "id": "1", "payload": {"query": SHALLOW, "variables": "x"}},
    {"type": "subscribe", "id": "1", "payload": {"query": SHALLOW, "operationName": 5}},
    {"type": "complete", "id": {"a": 1}},
    {"type": 5},
    [1, 2],
    "null",
]


async def test_a_malformed_message_closes_with_4400(
    server: LiveServer, db: asyncpg.Connection
) -> None:
    token = await session_token(db)
    for message in MALFORMED:
        received, code = await exchange(server, token, message)
        assert (received, code) == ([{"type": "connection_ack"}], 4400), message
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log


async def test_the_connection_limit_answers_with_a_code(
    server: LiveServer, db: asyncpg.Connection
) -> None:
    token = await session_token(db)
    subscribe = [
        {"type": "subscribe", "id": id, "payload": {"query": SHALLOW}} for id in ("a", "b", "c")
    ]
    received, code = await exchange(server, token, *subscribe)
    assert code is None
    refused = [m for m in received if m.get("id") == "c"]
    assert refused[0]["type"] == "error"
    assert refused[0]["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert {m["id"] for m in received if m.get("type") == "next"} == {"a", "b"}
