"""`subscription { summary(groupId) }` over graphql-transport-ws, driven by the
reference client (the `graphql-ws` npm package, tests/graphql_ws/) against a
real server: the summary at once, then only when it changes; scoped like the
query; a revoked session or a narrowed scope acts at once; the limits hold."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from resolvers.ids import encode_id
from tests.fleet_data import FleetUser, Tenant, create_tenant, create_user
from tests.live_server import LiveServer, live_server

CLIENT_DIR = Path(__file__).resolve().parent / "graphql_ws"
SHALLOW = "subscription($groupId: ID) { summary(groupId: $groupId) { productCount } }"
SUMMARY = """
subscription Live($groupId: ID) {
  summary(groupId: $groupId) {
    productCount siteCount health { good warning critical unknown }
    bySite(first: 3) { site { name } count }
  }
}
"""


@pytest.fixture(scope="session")
def graphql_ws_client() -> Path:
    """npm ci from the lock file when the pinned graphql-ws is not installed."""
    npm = shutil.which("npm")
    assert npm is not None and shutil.which("node"), "the graphql-ws client needs node and npm"
    if not (CLIENT_DIR / "node_modules" / "graphql-ws").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT_DIR, check=True
        )
    return CLIENT_DIR / "client.mjs"


class WSClient:
    """One graphql-ws client process (one WebSocket connection)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    async def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(command) + b"\n")
        await self.process.stdin.drain()

    async def subscribe(self, id: str, group_id: str | None = None, query: str = SUMMARY) -> None:
        await self.send(op="subscribe", id=id, query=query, variables={"groupId": group_id})

    async def event(self, seconds: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), seconds)
        assert line, "the client exited"
        event: dict[str, Any] = orjson.loads(line)
        self.events.append(event)
        return event

    async def events_for(self, seconds: float) -> list[dict[str, Any]]:
        """Every event in the next `seconds` (to show that nothing came)."""
        got = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                got.append(await self.event(left))
            except TimeoutError:
                break
        return got

    async def until(
        self, kind: str, id: str | None = None, seconds: float = 10.0
    ) -> dict[str, Any]:
        while True:
            event = await self.event(seconds)
            if event["event"] == kind and (id is None or event.get("id") == id):
                return event


@asynccontextmanager
async def ws_client(script: Path, server: LiveServer, token: str | None) -> AsyncIterator[WSClient]:
    config = {"url": server.url.replace("http://", "ws://") + "/graphql", "token": token}
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        str(script),
        orjson.dumps(config).decode(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = WSClient(process)
    try:
        yield client
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


METRICS_TOKEN = "m" * 40


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(database_url, tmp_path / "server.log", METRICS_TOKEN=METRICS_TOKEN) as running:
        yield running


def metric(server: LiveServer, name: str) -> float:
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = httpx.get(server.url + "/metrics", headers=scraper).text
    found = re.search(rf"^{name}(?:\{{[^}}]*\}})? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def tenant_with_group(db: asyncpg.Connection) -> tuple[Tenant, FleetUser, str]:
    tenant = await create_tenant(db, sites=4, products=40, seed=11)
    user = await create_user(db, tenant, role="ADMIN")
    group = await db.fetchval(
        "insert into custom_groups (organization_id, owner_id, name) values ($1, $2, 'Site 0') "
        "returning id",
        tenant.organization_id,
        user.pk,
    )
    await db.execute(
        "insert into custom_group_sites (group_id, site_id, organization_id) values ($1, $2, $3)",
        group,
        tenant.site_ids[0],
        tenant.organization_id,
    )
    return tenant, user, encode_id("CustomGroup", group)


async def test_the_summary_comes_at_once_then_only_when_it_changes(
    graphql_ws_client: Path, server: LiveServer, db: asyncpg.Connection
) -> None:
    tenant, user, group_id = await tenant_with_group(db)
    other = await create_tenant(db, sites=2, products=10, seed=12)
    site0_product = await db.fetchval(
        "select id from products where site_id = $1 and health <> 'CRITICAL' limit 1",
        tenant.site_ids[0],
    )
    async with (
        ws_client(graphql_ws_client, server, user.token) as first,
        ws_client(graphql_ws_client, server, user.token) as second,
    ):
        for client in (first, second):
            await client.until("connected")
            await client.subscribe("fleet")
            await client.subscribe("group", group_id)
        initial = {}
        for client in (first, second):
            for _ in range(2):
                event = await client.until("next")
                initial[event["id"]] = event["payload"]["data"]["summary"]
        assert initial["fleet"]["productCount"] == 40
        assert initial["fleet"]["siteCount"] == 4
        critical = initial["fleet"]["health"]["critical"]
        recomputed = metric(server, "service360_live_recomputed_views_total")

        # A rename shows in no summary; another tenant's change is not ours.
        await db.execute("update products set name = 'Renamed' where id = $1", site0_product)
        await db.execute(
            "update products set health = 'CRITICAL' where organization_id = $1",
            other.organization_id,
        )
        assert await first.events_for(1.0) == []

        # A product of site 0 turns critical: both views change, for both clients.
        await db.execute("update products set health = 'CRITICAL' where id = $1", site0_product)
        for client in (first, second):
            pushed = {}
            for _ in range(2):
                event = await client.until("next")
                pushed[event["id"]] = event["payload"]["data"]["summary"]
            assert pushed["fleet"]["health"]["critical"] == critical + 1
            assert (
                pushed["group"]["health"]["critical"] == initial["group"]["health"]["critical"] + 1
            )
        # Two topics (fleet, group) shared by two connections: two computations.
        assert metric(server, "service360_live_recomputed_views_total") == recomputed + 2
        assert await second.events_for(0.5) == []

        # A product outside the group's site changes: only the fleet's summary moves.
        elsewhere = await db.fetchval(
            "select id from products where site_id = $1 and health <> 'UNKNOWN' limit 1",
            tenant.site_ids[1],
        )
        await db.execute("update products set health = 'UNKNOWN' where id = $1", elsewhere)
        event = await first.until("next")
        assert event["id"] == "fleet"
        assert [e for e in await first.events_for(0.5) if e["event"] == "next"] == []


async def test_a_narrowed_scope_narrows_and_a_revoked_session_ends_at_once(
    graphql_ws_client: Path, server: LiveServer, db: asyncpg.Connection
) -> None:
    tenant, _, _ = await tenant_with_group(db)
    member = await create_user(db, tenant, site_scope="ALL_SITES")
    async with ws_client(graphql_ws_client, server, member.token) as client:
        await client.until("connected")
        await client.subscribe("fleet")
        event = await client.until("next")
        assert event["payload"]["data"]["summary"]["siteCount"] == 4
        async with db.transaction():
            await db.execute(
                "insert into user_sites (user_id, site_id, organization_id) values ($1, $2, $3)",
                member.pk,
                tenant.site_ids[2],
                tenant.organization_id,
            )
            await db.execute(
                "update users set site_scope = 'SELECTED_SITES' where id = $1", member.pk
            )
        event = await client.until("next")
        narrowed = event["payload"]["data"]["summary"]
        assert narrowed["siteCount"] == 1
        assert narrowed["productCount"] == await db.fetchval(
            "select count(*) from products where site_id = $1", tenant.site_ids[2]
        )
        await db.execute("update sessions set revoked_at = now() where user_id = $1", member.pk)
        closed = await client.until("closed", seconds=5)
        assert closed["code"] == 4403


async def test_a_connection_without_a_valid_token_is_refused(
    graphql_ws_client: Path, server: LiveServer
) -> None:
    for token in (None, "not-a-session"):
        async with ws_client(graphql_ws_client, server, token) as client:
            closed = await client.until("closed")
            assert closed["code"] == 4403


@pytest.fixture
def limited_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(
        database_url,
        tmp_path / "server.log",
        SUBSCRIPTIONS_PER_CONNECTION="2",
        SUBSCRIPTIONS_PER_USER="3",
        WS_IDLE_TIMEOUT_SECONDS="2",
        WS_INIT_TIMEOUT_SECONDS="1",
        MAX_QUERY_DEPTH="2",
    ) as running:
        yield running


async def test_limits_per_connection_per_user_idle_auth_timeout_and_depth(
    graphql_ws_client: Path, limited_server: LiveServer, db: asyncpg.Connection
) -> None:
    server = limited_server
    _, user, group_id = await tenant_with_group(db)
    async with (
        ws_client(graphql_ws_client, server, user.token) as first,
        ws_client(graphql_ws_client, server, user.token) as second,
    ):
        await first.until("connected")
        await second.until("connected")
        for id in ("a", "b", "c"):
            await first.subscribe(id, group_id if id == "b" else None, query=SHALLOW)
        refused = await first.until("error", "c")
        assert refused["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        await second.subscribe("d", query=SHALLOW)
        await second.subscribe("e", query=SHALLOW)
        event = await second.until("next", "e")
        assert event["payload"]["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"

        deep = "subscription { summary { byFamily { family { id } } bySite { site { name } } } }"
        await second.send(op="subscribe", id="deep", query=deep, variables={})
        refused = await second.until("error", "deep")
        assert "depth" in orjson.dumps(refused["errors"]).decode().lower()

        # Idle: a connection whose subscriptions all ended is closed.
        await first.send(op="unsubscribe", id="a")
        await first.send(op="unsubscribe", id="b")
        closed = await first.until("closed", seconds=10)
        assert closed["code"] == 4408

    # No connection_init within the auth timeout: closed by the server.
    import websockets

    url = server.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as raw:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed_by_server:
            await asyncio.wait_for(raw.recv(), 10)
    assert closed_by_server.value.rcvd is not None
    assert closed_by_server.value.rcvd.code == 4408
