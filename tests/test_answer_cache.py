"""The exact answer cache (web/answer_cache.py): a repeat costs the session lookup
and nothing else, and no read that starts after a write's commit was
acknowledged gets an answer older than that write, on whichever app instance
(worker, host) it lands, whether that instance heard the notification or not."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.datastructures import Secret

from config import Settings
from resolvers.ids import encode_id
from tests.fleet_data import (
    FleetUser,
    create_tenant,
    create_user,
    one_connection_client,
    statement_count,
)
from tests.support.app import GraphQLClient, running_app

DASHBOARD = """
query Dashboard {
  summary { productCount siteCount health { good warning critical unknown }
            contracts { active endingWithin30Days endingWithin90Days expired }
            byFamily { family { name } count } bySite(first: 5) { site { name } count } }
  customGroups(first: 50) { nodes { id name summary { productCount health { critical } } } }
}
"""
PRODUCTS = "query { products(first: 5) { nodes { id name health } totalCount } }"
CREATE_GROUP = """
mutation($input: CustomGroupInput!) {
  createCustomGroup(input: $input) { customGroup { id } userErrors { code } }
}
"""
RENAME_GROUP = """
mutation($id: ID!, $input: CustomGroupInput!) {
  updateCustomGroup(id: $id, input: $input) { customGroup { name } userErrors { code } }
}
"""


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with running_app(settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


@pytest.fixture
async def two_instances(settings: Settings) -> AsyncIterator[tuple[GraphQLClient, GraphQLClient]]:
    """Two app instances on one database, as two workers or two hosts."""
    async with app_client(settings) as first, app_client(settings) as second:
        yield first, second


def lookups() -> dict[str, float]:
    from web.answer_cache import LOOKUPS

    return {
        result: LOOKUPS.labels(result)._value.get() for result in ("hit", "miss", "not_modified")
    }


async def signed_in_tenant(db: asyncpg.Connection, **user: Any) -> tuple[Any, FleetUser]:
    tenant = await create_tenant(db, sites=4, products=40, seed=7)
    return tenant, await create_user(db, tenant, **user)


async def test_a_repeat_is_answered_from_the_cache_with_one_statement_and_the_same_bytes(
    settings: Settings, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    _, user = await signed_in_tenant(db, role="ADMIN")
    scraper = "m" * 40  # METRICS_TOKEN
    scraped = replace(settings, metrics_token=Secret(scraper))
    async with one_connection_client(scraped, answer_cache=True) as client:
        # Warm the connection (asyncpg's one-time type lookups count too).
        await statement_count(client, caplog, PRODUCTS, user.token)
        first, first_count = await statement_count(client, caplog, DASHBOARD, user.token)
        before = lookups()
        second, second_count = await statement_count(client, caplog, DASHBOARD, user.token)
        metrics = (
            await client.http.get("/metrics", headers={"Authorization": f"Bearer {scraper}"})
        ).text
    assert "errors" not in first and second == first
    assert first_count >= 3
    assert second_count == 1  # the session (with the tenant's versions), nothing else
    assert lookups()["hit"] == before["hit"] + 1
    assert "service360_answer_cache_bytes" in metrics
    assert 'service360_answer_cache_lookups_total{result="hit"}' in metrics


async def test_a_cached_answer_is_served_gzipped_to_clients_that_take_gzip(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    _, user = await signed_in_tenant(db, role="ADMIN")
    headers = {"Authorization": f"Bearer {user.token}", "Accept-Encoding": "gzip"}
    large = "query { products(first: 40) { nodes { id serviceTag name model health } } }"
    plain = await client.http.post("/graphql", json={"query": large}, headers=headers)
    again = await client.http.post("/graphql", json={"query": large}, headers=headers)
    assert len(again.content) > 1024
    assert again.headers["content-encoding"] == "gzip"
    assert again.json() == plain.json()
    assert again.headers["content-type"].startswith("application/")


async def test_a_write_through_one_instance_is_seen_at_once_through_the_other(
    two_instances: tuple[GraphQLClient, GraphQLClient], db: asyncpg.Connection
) -> None:
    writer, reader = two_instances
    tenant, user = await signed_in_tenant(db, role="ADMIN")
    # The reader hears no notification at all: exactness must not depend on it.
    await reader.state["resources"].background.stop("change-feed")
    created = await writer.execute(CREATE_GROUP, {"input": {"name": "Before"}}, token=user.token)
    group_id = created["data"]["createCustomGroup"]["customGroup"]["id"]
    for _ in range(2):  # cached on the reader
        body = await reader.execute(DASHBOARD, token=user.token)
    assert [g["name"] for g in body["data"]["customGroups"]["nodes"]] == ["Before"]
    fleet_before = body["data"]["summary"]

    renamed = await writer.execute(
        RENAME_GROUP, {"id": group_id, "input": {"name": "After"}}, token=user.token
    )
    assert renamed["data"]["updateCustomGroup"]["userErrors"] == []
    body = await reader.execute(DASHBOARD, token=user.token)
    assert [g["name"] for g in body["data"]["customGroups"]["nodes"]] == ["After"]

    # The install base changes in SQL (as a feed would): the next read has it.
    changed = await db.execute(
        "update products set health = 'CRITICAL' where organization_id = $1 "
        "and health <> 'CRITICAL'",
        tenant.organization_id,
    )
    assert changed != "UPDATE 0"
    body = await reader.execute(DASHBOARD, token=user.token)
    assert body["data"]["summary"]["health"]["critical"] == fleet_before["productCount"]
    listed = await reader.execute(PRODUCTS, token=user.token)
    assert {p["health"] for p in listed["data"]["products"]["nodes"]} == {"CRITICAL"}
    await db.execute(
        "update products set name = 'Renamed product' where id = $1", tenant.product_ids[0]
    )
    listed = await reader.execute(PRODUCTS, token=user.token)
    assert "Renamed product" in {p["name"] for p in listed["data"]["products"]["nodes"]}


async def test_a_narrowed_site_scope_answers_narrowed_at_once(
    two_instances: tuple[GraphQLClient, GraphQLClient], db: asyncpg.Connection
) -> None:
    admin_app, member_app = two_instances
    tenant, admin = await signed_in_tenant(db, role="ADMIN")
    member = await create_user(db, tenant, site_scope="ALL_SITES")
    for _ in range(2):
        wide = await member_app.execute(DASHBOARD, token=member.token)
    assert wide["data"]["summary"]["siteCount"] == 4
    narrowed = await admin_app.execute(
        """mutation($input: SiteAccessInput!) {
             setMemberSiteAccess(input: $input) { userErrors { code } } }""",
        {
            "input": {
                "userId": encode_id("User", member.pk),
                "scope": "SELECTED_SITES",
                "siteIds": [tenant.site_gid(0)],
            }
        },
        token=admin.token,
    )
    assert narrowed["data"]["setMemberSiteAccess"]["userErrors"] == [], narrowed
    body = await member_app.execute(DASHBOARD, token=member.token)
    assert body["data"]["summary"]["siteCount"] == 1


async def test_a_revoked_session_gets_no_cached_answer(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    _, user = await signed_in_tenant(db, role="ADMIN")
    for _ in range(2):
        body = await client.execute(DASHBOARD, token=user.token)
    assert "errors" not in body
    await db.execute("update sessions set revoked_at = now() where user_id = $1", user.pk)
    body = await client.execute(DASHBOARD, token=user.token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_each_viewer_gets_their_own_answer(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant, admin = await signed_in_tenant(db, role="ADMIN")
    member = await create_user(
        db, tenant, site_scope="SELECTED_SITES", site_ids=[tenant.site_ids[1]]
    )
    other_tenant = await create_tenant(db, sites=2, products=10, seed=8)
    stranger = await create_user(db, other_tenant, role="ADMIN")
    answers = {}
    for _ in range(2):
        for who in (admin, member, stranger):
            answers[who.pk] = (await client.execute(DASHBOARD, token=who.token))["data"]
    assert answers[admin.pk]["summary"]["siteCount"] == 4
    assert answers[member.pk]["summary"]["siteCount"] == 1
    assert answers[stranger.pk]["summary"]["productCount"] == 10


async def test_answers_with_errors_or_other_root_fields_are_not_cached(
    client: GraphQLClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    _, user = await signed_in_tenant(db, role="ADMIN")
    missing = 'query { summary(groupId: "Q3VzdG9tR3JvdXA6OTk5OTk=") { productCount } }'
    for _ in range(2):
        body, count = await statement_count(client, caplog, missing, user.token)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert count > 1
    with_viewer = "query { viewer { email } summary { productCount } }"
    for _ in range(2):
        body, count = await statement_count(client, caplog, with_viewer, user.token)
        assert "errors" not in body and count > 1


async def test_the_cache_stays_within_its_bytes_and_drops_the_least_recently_used(
    settings: Settings, db: asyncpg.Connection
) -> None:
    _, user = await signed_in_tenant(db, role="ADMIN")
    async with app_client(replace(settings, answer_cache_bytes=12_000)) as client:
        cache = client.state["resources"].answer_cache
        for first in range(1, 40):
            query = f"query {{ products(first: {first}) {{ nodes {{ id name }} }} }}"
            body = await client.execute(query, token=user.token)
            assert "errors" not in body
            assert cache.bytes <= 12_000
        assert 0 < len(cache) < 39


async def test_get_answers_304_from_the_key_without_executing_and_200_after_a_write(
    client: GraphQLClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    tenant, user = await signed_in_tenant(db, role="ADMIN")
    headers = {"Authorization": f"Bearer {user.token}", "Accept": "application/json"}
    params = {"query": PRODUCTS}
    first = await client.http.get("/graphql", params=params, headers=headers)
    assert first.status_code == 200
    etag = first.headers["etag"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="service360.request"):
        again = await client.http.get(
            "/graphql", params=params, headers={**headers, "If-None-Match": etag}
        )
    assert again.status_code == 304 and again.headers["etag"] == etag
    assert [r.sql_statements for r in caplog.records if hasattr(r, "sql_statements")] == [1]
    await db.execute("update products set name = 'New name' where id = $1", tenant.product_ids[0])
    changed = await client.http.get(
        "/graphql", params=params, headers={**headers, "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "New name" in changed.text


async def test_a_reconnected_listener_empties_the_cache(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    _, user = await signed_in_tenant(db, role="ADMIN")
    await client.execute(DASHBOARD, token=user.token)
    cache = client.state["resources"].answer_cache
    changes = client.state["resources"].changes
    assert len(cache) == 1
    await db.execute(
        "select pg_terminate_backend(pid) from pg_stat_activity "
        "where application_name = 'service360-changes' and datname = current_database()"
    )
    import asyncio

    for _ in range(100):
        if changes.connections > 1 and changes.current:
            break
        await asyncio.sleep(0.1)
    assert changes.connections > 1 and changes.current
    assert len(cache) == 0


async def test_concurrent_misses_of_one_answer_compute_it_once(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Every poller right after a write asks at once: one computes, the others wait
    for its answer (per worker) instead of each running the dashboard."""
    import asyncio

    from web.answer_cache import COALESCED

    _, user = await signed_in_tenant(db, role="ADMIN")
    async with app_client(settings) as client:
        await client.execute(PRODUCTS, token=user.token)  # warm the pool
        before, coalesced = lookups(), COALESCED._value.get()
        bodies = await asyncio.gather(
            *(client.execute(DASHBOARD, token=user.token) for _ in range(8))
        )
    assert all(body == bodies[0] for body in bodies) and "errors" not in bodies[0]
    after = lookups()
    assert after["miss"] == before["miss"] + 1  # one computed it
    assert after["hit"] == before["hit"] + 7  # the others shared it
    assert COALESCED._value.get() >= coalesced + 1
