"""The service starts, migrates, serves its probes and the public catalogue."""

from __future__ import annotations

import asyncpg
import pytest

from config import ConfigError, Settings
from db.demo import load_demo_data
from db.migrate import apply_migrations, load_migrations
from resolvers.ids import decode_id, encode_id
from tests.support.app import GraphQLClient


async def test_health_and_readiness_answer_ok(client: GraphQLClient) -> None:
    assert (await client.http.get("/healthz")).json() == {"status": "ok"}
    ready = await client.http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok"}


async def test_every_response_carries_a_request_id(client: GraphQLClient) -> None:
    response = await client.http.get("/healthz")
    assert len(response.headers["x-request-id"]) >= 8
    echoed = await client.http.get("/healthz", headers={"X-Request-ID": "proxy-id-12345"})
    assert echoed.headers["x-request-id"] == "proxy-id-12345"


async def test_product_families_are_public_and_come_from_the_database(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await db.execute("insert into product_families (name) values ('Test Family')")
    body = await client.execute("{ productFamilies { id name } }")
    names = [f["name"] for f in body["data"]["productFamilies"]]
    assert "Test Family" in names and "PowerEdge" in names and len(names) == 13


async def test_node_resolves_a_family_by_global_id_and_unknown_ids_are_null(
    client: GraphQLClient,
) -> None:
    body = await client.execute("{ productFamilies { id name } }")
    family = body["data"]["productFamilies"][0]
    found = await client.execute(
        "query($id: ID!) { node(id: $id) { id ... on ProductFamily { name } } }",
        {"id": family["id"]},
    )
    assert found["data"]["node"] == family
    for bogus in ("nope", encode_id("ProductFamily", 999999), encode_id("Nothing", 1), ""):
        missing = await client.execute("query($id: ID!) { node(id: $id) { id } }", {"id": bogus})
        assert missing["data"]["node"] is None


def test_global_ids_round_trip_and_reject_garbage() -> None:
    assert decode_id(encode_id("Product", 42)) == ("Product", 42)
    for garbage in ("", "!!!", encode_id("Product", 0).replace("A", "B"), "UHJvZHVjdDotMQ"):
        assert decode_id(garbage) is None or decode_id(garbage)[1] > 0  # type: ignore[index]


async def test_migrations_apply_once_even_when_started_concurrently(database_url: str) -> None:
    import asyncio

    conns = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(apply_migrations(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    # The template already applied everything: nobody applies anything twice.
    assert applied == [[], [], []]
    conn = await asyncpg.connect(database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("select version from schema_migrations")]
    finally:
        await conn.close()
    assert versions == [m.version for m in load_migrations()]


async def test_demo_data_loads_once_with_every_state(db: asyncpg.Connection) -> None:
    assert await load_demo_data(db) is True
    assert await load_demo_data(db) is False
    states = await db.fetchrow(
        """
        select count(distinct health) as health, count(distinct connectivity) as connectivity,
               count(distinct code_status) as code, count(distinct family_id) as families,
               count(*) filter (where contract_ends_on < current_date) as expired,
               count(*) filter (where contract_ends_on is null) as no_end,
               count(*) as products
          from products
        """
    )
    assert states is not None
    assert states["health"] == 4 and states["connectivity"] == 3 and states["code"] == 3
    assert states["families"] >= 8 and states["expired"] > 0 and states["no_end"] > 0
    assert states["products"] > 5000
    globex = await db.fetchval(
        "select count(*) from organization_domains where domain = 'globex.example'"
    )
    assert globex == 3
    open_requests = await db.fetchval(
        "select count(*) from service_requests where status <> 'CLOSED'"
    )
    assert open_requests > 0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "eighty"}, "PORT must be an integer"),
        ({"ENV": "production"}, "SECRET_KEY is required"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of"),
    ],
)
def test_bad_configuration_is_refused_with_one_clear_line(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        Settings.from_env(environ)
    assert "\n" not in str(error.value)


async def test_readiness_fails_while_a_migration_is_pending(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    latest = await db.fetchval("select max(version) from schema_migrations")
    await db.execute("delete from schema_migrations where version = $1", latest)
    response = await client.http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["pendingMigrations"] == [latest]


async def test_an_applied_migration_edited_afterwards_stops_the_start(
    db: asyncpg.Connection,
) -> None:
    from db.migrate import MigrationError

    await db.execute("update schema_migrations set checksum = 'edited' where version = 1")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await apply_migrations(db)


async def test_the_site_icon_is_served(client: GraphQLClient) -> None:
    response = await client.http.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")


def test_serve_help_lists_every_setting_read_from_the_environment() -> None:
    from config import settings_help

    listed = settings_help()
    for name in ("DATABASE_URL", "SMTP_URL", "SECRET_KEY", "WORKERS", "DATABASE_REPLICA_URLS"):
        assert f"\n  {name} " in listed
