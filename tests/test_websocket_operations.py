"""The WebSocket carries subscriptions only, and no message larger than an
HTTP body: queries and mutations there would step around the HTTP edge
(trusted documents, the body limit), as the fuzz's attacker run found."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import websockets

from resolvers.ids import encode_id
from tests.fleet_data import create_tenant, create_user
from tests.live_server import live_server


@asynccontextmanager
async def connection(url: str, token: str) -> AsyncIterator[Any]:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
        yield ws


async def first_answer(
    ws: Any, id: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    await ws.send(
        json.dumps(
            {
                "id": id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )
    )
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return message


async def test_queries_and_mutations_are_refused_on_the_websocket_and_subscriptions_run(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    tenant = await create_tenant(db, sites=2, products=6)
    admin = await create_user(db, tenant, role="ADMIN")
    with live_server(database_url, tmp_path / "server.log", PERSISTED_QUERIES="only") as server:
        async with connection(server.url, admin.token) as ws:
            query = await first_answer(ws, "q", "{ viewer { email } products { totalCount } }")
            mutation = await first_answer(
                ws,
                "m",
                'mutation { createCustomGroup(input: {name: "via ws"}) { customGroup { id } } }',
            )
            live = await first_answer(ws, "s", "subscription { summary { productCount } }")
    for answer in (query, mutation):
        assert answer["type"] == "error", answer
        assert [e["extensions"]["code"] for e in answer["payload"]] == ["OPERATION_NOT_ALLOWED"]
    assert live == {
        "id": "s",
        "type": "next",
        "payload": {"data": {"summary": {"productCount": 6}}},
    }
    assert await db.fetchval("select count(*) from custom_groups") == 0


async def test_a_websocket_message_larger_than_an_http_body_closes_the_connection(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    tenant = await create_tenant(db, sites=2, products=6)
    admin = await create_user(db, tenant, role="ADMIN")
    site_ids = [encode_id("Site", n) for n in range(1, 150_001)]  # ~2.5 MB of JSON
    with live_server(database_url, tmp_path / "server.log") as server:
        async with connection(server.url, admin.token) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": "big",
                        "type": "subscribe",
                        "payload": {
                            "query": "subscription($s: [ID!]) { summary { productCount } }",
                            "variables": {"s": site_ids},
                        },
                    }
                )
            )
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


async def test_a_person_past_the_connection_cap_is_closed_with_4429_and_a_reason(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    tenant = await create_tenant(db, sites=1, products=2)
    hoarder = await create_user(db, tenant, role="ADMIN")
    colleague = await create_user(db, tenant)

    async def refused(url: str, token: str) -> websockets.ConnectionClosed:
        async with websockets.connect(
            url.replace("http://", "ws://") + "/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
        return closed.value

    with live_server(database_url, tmp_path / "server.log", WS_CONNECTIONS_PER_USER="2") as server:
        async with (
            connection(server.url, hoarder.token),
            connection(server.url, hoarder.token) as second,
        ):
            closed = await refused(server.url, hoarder.token)
            # Another person is not held to the first one's count.
            async with connection(server.url, colleague.token):
                pass
            await second.close()
            # Once the server has seen one close, the person may connect again.
            for _ in range(100):
                try:
                    async with connection(server.url, hoarder.token):
                        break
                except websockets.ConnectionClosed:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("a closed connection still counted against the cap")
    assert closed.rcvd is not None and closed.rcvd.code == 4429
    assert "at most 2" in closed.rcvd.reason
