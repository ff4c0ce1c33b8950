"""Fleet reads on a real streaming replica (DATABASE_REPLICA_URLS).

A primary and a replica are built for this module from real binaries
(initdb, pg_basebackup -R: tests/support/pg_cluster.py): the machine's
PostgreSQL when the suite runs on it, else the embedded one.

Which server answered is proved by what it answers: with the replica's
replay paused, a change written on the primary by the install-base feed (SQL)
is invisible on the replica, so an answer without it came from the replica.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest

from config import Settings
from db.migrate import apply_migrations
from tests.fleet_data import Tenant, create_tenant, create_user
from tests.support.app import GraphQLClient, running_app
from tests.support.pg_cluster import Cluster, new_primary, new_replica, pick_binaries
from tests.support.pg_cluster import scratch_directory as scratch

DATABASE = "s360_replicas"

FLEET_HEALTH = "{ summary { health { critical } } }"
DASHBOARD = """
query Dashboard {
  summary { productCount health { good warning critical unknown }
            connectivity { connected disconnected notConfigured } }
  customGroups(first: 50) { nodes { id name summary { productCount
      health { good warning critical unknown } } } }
}
"""
CREATE_GROUP = """
mutation ($name: String!, $families: [ID!]) {
  createCustomGroup(input: { name: $name, familyIds: $families }) {
    customGroup { id name } userErrors { code message }
  }
}
"""
MY_GROUPS = "{ customGroups(first: 50) { nodes { name } } }"


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[Cluster, Cluster]]:
    binaries = pick_binaries()
    with scratch() as root:
        primary = new_primary(binaries, root)
        try:
            asyncio.run(_create_database(primary.dsn_for("postgres"), primary.dsn_for(DATABASE)))
            replica = new_replica(primary, root)
            try:
                yield primary, replica
            finally:
                if replica.is_running():
                    replica.stop("immediate")
        finally:
            primary.stop("immediate")


async def _create_database(admin_dsn: str, dsn: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'create database "{DATABASE}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


@pytest.fixture
async def primary_db(replicated: tuple[Cluster, Cluster]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(replicated[0].dsn_for(DATABASE))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def replica_db(replicated: tuple[Cluster, Cluster]) -> AsyncIterator[asyncpg.Connection]:
    replica = replicated[1]
    if not replica.is_running():
        replica.start()
    conn = await asyncpg.connect(replica.dsn_for(DATABASE))
    try:
        yield conn
    finally:
        if replica.is_running():
            resume = await asyncpg.connect(replica.dsn_for(DATABASE))
            await resume.execute("select pg_wal_replay_resume()")
            await resume.close()
        conn.terminate()


def app_settings(replicated: tuple[Cluster, Cluster], **overrides: Any) -> Settings:
    primary, replica = replicated
    base = Settings(
        env="test",
        database_url=primary.dsn_for(DATABASE),
        database_replica_urls=(replica.dsn_for(DATABASE),),
        replica_check_seconds=0.05,
        replica_max_lag_seconds=30,
        pool_min_size=1,
        pool_max_size=5,
    )
    return replace(base, **overrides)


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with running_app(settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


async def caught_up(primary_db: asyncpg.Connection, replica_db: asyncpg.Connection) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    target = await primary_db.fetchval("select pg_current_wal_insert_lsn()")
    deadline = time.monotonic() + 20
    while await replica_db.fetchval("select pg_last_wal_replay_lsn()") < target:
        assert time.monotonic() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.02)


async def in_rotation(client: GraphQLClient, state: str = "up", within: float = 10) -> None:
    """Until the app's monitor says the replica is `state`."""
    deadline = time.monotonic() + within
    while True:
        body = (await client.http.get("/readyz")).json()
        if body["replicas"][0]["state"] == state:
            return
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.02)


async def critical_count(client: GraphQLClient, token: str) -> int:
    body = await client.execute(FLEET_HEALTH, token=token)
    assert "errors" not in body, body
    count: int = body["data"]["summary"]["health"]["critical"]
    return count


async def feed_makes_critical(primary_db: asyncpg.Connection, tenant: Tenant) -> None:
    """The install-base feed turns one more product critical (SQL on the primary)."""
    await primary_db.execute(
        """
        update products set health = 'CRITICAL'
         where id = (select min(id) from products
                      where organization_id = $1 and health <> 'CRITICAL')
        """,
        tenant.organization_id,
    )


async def pause_replay(replica_db: asyncpg.Connection) -> None:
    await replica_db.execute("select pg_wal_replay_pause()")
    for _ in range(500):  # polled: the server has no event for it
        if await replica_db.fetchval("select pg_get_wal_replay_pause_state()") == "paused":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("replay did not pause")


async def test_queries_read_the_replica_while_mutations_write_the_primary(
    replicated: tuple[Cluster, Cluster],
    primary_db: asyncpg.Connection,
    replica_db: asyncpg.Connection,
) -> None:
    tenant = await create_tenant(primary_db, products=40, seed=3)
    user = await create_user(primary_db, tenant)
    async with app_client(app_settings(replicated)) as client:
        await caught_up(primary_db, replica_db)
        before = await critical_count(client, user.token)

        await pause_replay(replica_db)
        await feed_makes_critical(primary_db, tenant)
        # The replica has not replayed the change: reads still come from it.
        assert await critical_count(client, user.token) == before
        # A mutation writes the primary even while the replica is frozen.
        body = await client.execute(CREATE_GROUP, {"name": "Racks"}, token=user.token)
        assert body["data"]["createCustomGroup"]["userErrors"] == [], body
        assert await primary_db.fetchval(
            "select count(*) from custom_groups where owner_id = $1", user.pk
        )

        await replica_db.execute("select pg_wal_replay_resume()")
        await caught_up(primary_db, replica_db)
        assert await critical_count(client, user.token) == before + 1


async def test_a_writer_reads_its_write_at_once_while_others_keep_the_replica(
    replicated: tuple[Cluster, Cluster],
    primary_db: asyncpg.Connection,
    replica_db: asyncpg.Connection,
) -> None:
    tenant = await create_tenant(primary_db, products=40, seed=4)
    writer = await create_user(primary_db, tenant)
    other = await create_user(primary_db, tenant)
    async with app_client(app_settings(replicated)) as client:
        await caught_up(primary_db, replica_db)
        await in_rotation(client)
        other_before = await critical_count(client, other.token)

        await pause_replay(replica_db)
        body = await client.execute(CREATE_GROUP, {"name": "Edge"}, token=writer.token)
        assert body["data"]["createCustomGroup"]["userErrors"] == [], body
        # The writer sees the group at once (the replica has not replayed it).
        body = await client.execute(MY_GROUPS, token=writer.token)
        assert [n["name"] for n in body["data"]["customGroups"]["nodes"]] == ["Edge"]
        # Another user keeps reading the (paused) replica.
        await feed_makes_critical(primary_db, tenant)
        assert await critical_count(client, other.token) == other_before

        await replica_db.execute("select pg_wal_replay_resume()")
        await caught_up(primary_db, replica_db)
        await asyncio.sleep(0.2)  # a monitor round sees the replay
        assert await critical_count(client, other.token) == other_before + 1


async def test_a_lagging_replica_leaves_the_rotation_and_comes_back(
    replicated: tuple[Cluster, Cluster],
    primary_db: asyncpg.Connection,
    replica_db: asyncpg.Connection,
) -> None:
    tenant = await create_tenant(primary_db, products=30, seed=5)
    user = await create_user(primary_db, tenant)
    settings = app_settings(replicated, replica_max_lag_seconds=0.3)
    async with app_client(settings) as client:
        await caught_up(primary_db, replica_db)
        await in_rotation(client)
        before = await critical_count(client, user.token)

        await pause_replay(replica_db)
        await feed_makes_critical(primary_db, tenant)
        await in_rotation(client, "lagging")
        # Out of rotation: the primary answers, with the change.
        assert await critical_count(client, user.token) == before + 1
        ready = (await client.http.get("/readyz")).json()
        assert ready["status"] == "ok" and ready["replicas"][0]["lagSeconds"] > 0.3

        await replica_db.execute("select pg_wal_replay_resume()")
        await in_rotation(client, "up")
        assert await critical_count(client, user.token) == before + 1


async def test_a_stopped_replica_fails_over_to_the_primary_with_no_client_error(
    replicated: tuple[Cluster, Cluster],
    primary_db: asyncpg.Connection,
    replica_db: asyncpg.Connection,
) -> None:
    replica = replicated[1]
    tenant = await create_tenant(primary_db, products=30, seed=6)
    user = await create_user(primary_db, tenant)
    async with app_client(app_settings(replicated)) as client:
        await caught_up(primary_db, replica_db)
        await in_rotation(client)
        stop = asyncio.Event()
        answers: list[dict[str, Any]] = []

        answered = asyncio.Event()

        async def reader() -> None:
            while not stop.is_set():
                answers.append(await client.execute(DASHBOARD, token=user.token))
                answered.set()

        async def answers_reach(count: int) -> None:
            while len(answers) < count:
                answered.clear()
                await answered.wait()

        readers = [asyncio.create_task(reader()) for _ in range(4)]
        await answers_reach(8)  # reading the replica
        await asyncio.to_thread(replica.stop, "immediate")
        await in_rotation(client, "down")
        await answers_reach(len(answers) + 8)  # reading the primary
        stop.set()
        await asyncio.gather(*readers)
        failed = [a for a in answers if "errors" in a]
        assert failed == [], failed[:3]

        await asyncio.to_thread(replica.start)
        await in_rotation(client, "up", within=30)
        assert (await client.execute(DASHBOARD, token=user.token)).get("errors") is None


async def test_replica_answers_equal_the_primarys(
    replicated: tuple[Cluster, Cluster],
    primary_db: asyncpg.Connection,
    replica_db: asyncpg.Connection,
) -> None:
    tenant = await create_tenant(primary_db, sites=4, products=80, seed=7)
    user = await create_user(primary_db, tenant)
    families = [r["id"] for r in await primary_db.fetch("select id from product_families")]
    async with app_client(app_settings(replicated, database_replica_urls=())) as on_primary:
        for i, family in enumerate(families[:5]):
            body = await on_primary.execute(
                CREATE_GROUP,
                {"name": f"G{i}", "families": [_family_gid(family)]},
                token=user.token,
            )
            assert body["data"]["createCustomGroup"]["userErrors"] == [], body
        expected = await on_primary.execute(DASHBOARD, token=user.token)
    await caught_up(primary_db, replica_db)
    async with app_client(app_settings(replicated)) as on_replica:
        await in_rotation(on_replica)
        await pause_replay(replica_db)  # proves the answer is the replica's
        answer = await on_replica.execute(DASHBOARD, token=user.token)
    assert "errors" not in expected and answer == expected
    assert len(answer["data"]["customGroups"]["nodes"]) == 5


async def test_two_servers_on_one_primary_and_replica_see_each_others_changes(
    replicated: tuple[Cluster, Cluster],
    primary_db: asyncpg.Connection,
    replica_db: asyncpg.Connection,
) -> None:
    tenant = await create_tenant(primary_db, products=30, seed=8)
    user = await create_user(primary_db, tenant)
    settings = app_settings(replicated)
    async with app_client(settings) as first, app_client(settings) as second:
        await caught_up(primary_db, replica_db)
        await in_rotation(first)
        await in_rotation(second)
        body = await first.execute(CREATE_GROUP, {"name": "Shared"}, token=user.token)
        assert body["data"]["createCustomGroup"]["userErrors"] == [], body
        # The author's next read, through the other server, sees the change
        # (its write position is on the primary, not in the first server).
        body = await second.execute(MY_GROUPS, token=user.token)
        assert [n["name"] for n in body["data"]["customGroups"]["nodes"]] == ["Shared"]


def _family_gid(pk: int) -> str:
    from tests.fleet_data import family_gid

    return family_gid(pk)
