"""Stored summaries moved forward by logged product writes (migration 0090).

After a product write, the first read moves each stored summary by what the
write changed instead of computing it again. These tests hold that path to
the computation itself: whatever sequence of writes hypothesis finds, the
answer read through the stored summaries equals a fresh computation, for an
administrator, an all-sites member and a member who sees some sites, with
groups of every kind and top-site lists cut at MAX_TOP_SITES.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from db.embedded import dsn_for_database
from db.fleet import ViewerScope
from db.summary import FLEET_VIEW, MAX_TOP_SITES, fetch_summaries
from tests.fleet_data import Tenant, create_tenant, create_user
from tests.support.app import admin_execute

SITES = MAX_TOP_SITES + 30  # so that the fleet's top-site list is cut
PRODUCTS = 700
CHANGE_LOG_LIMIT = 256  # fleet_change_log_limit() in migration 0090


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    url: str
    db: asyncpg.Connection
    tenant: Tenant
    families: list[int]
    # (scope, the views it reads: None for the fleet, else its groups)
    viewers: list[tuple[ViewerScope, list[int | None]]] = field(default_factory=list)


async def _group(
    db: asyncpg.Connection,
    tenant: Tenant,
    owner: int,
    *,
    products: list[int] = (),  # type: ignore[assignment]
    families: list[int] = (),  # type: ignore[assignment]
    sites: list[int] = (),  # type: ignore[assignment]
) -> int:
    org = tenant.organization_id
    group_id: int = await db.fetchval(
        "insert into custom_groups (organization_id, owner_id, name) values ($1, $2, $3) "
        "returning id",
        org,
        owner,
        f"group {secrets.token_hex(3)}",
    )
    for table, column, values in (
        ("custom_group_products", "product_id", products),
        ("custom_group_families", "family_id", families),
        ("custom_group_sites", "site_id", sites),
    ):
        for value in values:
            await db.execute(
                f"insert into {table} (organization_id, group_id, {column}) values ($1, $2, $3)",
                org,
                group_id,
                value,
            )
    return group_id


async def _groups_of_every_kind(world: World, owner: int) -> list[int | None]:
    t, f = world.tenant, world.families
    p, s = t.product_ids, t.site_ids
    return [
        None,
        await _group(world.db, t, owner, products=[p[0], p[1], p[5], p[9], p[40]]),
        await _group(world.db, t, owner, families=[f[0], f[1]]),  # spans every site: cut list
        await _group(world.db, t, owner, sites=[s[1], s[2], s[3]]),
        await _group(world.db, t, owner, families=[f[2]], sites=[s[0], s[2], s[7]]),
        await _group(
            world.db,
            t,
            owner,
            products=[p[0], p[3], p[7], p[11], p[20]],
            families=[f[0], f[3]],
            sites=[s[0], s[3]],
        ),
        await _group(world.db, t, owner),  # an empty rule
    ]


@pytest.fixture
def world(pg_server_dsn: str, template_database: str) -> Iterator[World]:
    """A tenant with more sites than a top-site list holds, and three viewers."""
    loop = asyncio.new_event_loop()
    name = f"s360_deltas_{secrets.token_hex(6)}"
    loop.run_until_complete(
        admin_execute(pg_server_dsn, f'create database "{name}" template "{template_database}"')
    )
    url = dsn_for_database(pg_server_dsn, name)
    db = loop.run_until_complete(asyncpg.connect(url))

    async def build() -> World:
        tenant = await create_tenant(db, sites=SITES, products=PRODUCTS, seed=90)
        families = [r["id"] for r in await db.fetch("select id from product_families order by id")]
        world = World(loop, url, db, tenant, families)
        admin = await create_user(db, tenant, role="ADMIN")
        member = await create_user(db, tenant)
        some_sites = tenant.site_ids[:3] + tenant.site_ids[7:40]
        restricted = await create_user(db, tenant, site_scope="SELECTED_SITES", site_ids=some_sites)
        for user, all_sites in ((admin, True), (member, True), (restricted, False)):
            views = await _groups_of_every_kind(world, user.pk)
            world.viewers.append((ViewerScope(tenant.organization_id, user.pk, all_sites), views))
        return world

    try:
        yield loop.run_until_complete(build())
    finally:
        loop.run_until_complete(db.close())
        loop.run_until_complete(
            admin_execute(pg_server_dsn, f'drop database if exists "{name}" with (force)')
        )
        loop.close()


# ---------------------------------------------------------------- the writes

HEALTH = ("GOOD", "WARNING", "CRITICAL", "UNKNOWN")
CONNECTIVITY = ("CONNECTED", "DISCONNECTED", "NOT_CONFIGURED")
SEVERITY = ("CRITICAL", "HIGH", "MEDIUM", "LOW")

index = st.integers(0, 10_000)
# Writes that change no product or site count: every stored view must move.
counters_only = st.one_of(
    st.tuples(st.just("health"), index, st.sampled_from(HEALTH)),
    st.tuples(st.just("connectivity"), index, st.sampled_from(CONNECTIVITY)),
    st.tuples(st.just("code"), index, st.sampled_from(("9.1", "9.2", None))),
    st.tuples(st.just("contract"), index, st.one_of(st.none(), st.integers(-40, 120))),
    st.tuples(st.just("open request"), index, st.sampled_from(SEVERITY)),
    st.tuples(st.just("close request"), index, st.none()),
    st.tuples(st.just("severity"), index, st.sampled_from(SEVERITY)),
    st.tuples(st.just("several health"), index, st.integers(2, 12)),
)
counts = st.one_of(
    st.tuples(st.just("move site"), index, index),
    st.tuples(st.just("move family"), index, index),
    st.tuples(st.just("insert"), index, index),
    st.tuples(st.just("delete"), index, st.none()),
)
rebuilds = st.one_of(
    st.tuples(st.just("bulk"), index, st.none()),
    st.tuples(st.just("regroup"), index, index),
    st.tuples(st.just("rescope"), index, index),
)
COUNTERS_ONLY = {"health", "connectivity", "code", "contract", "open request"}
COUNTERS_ONLY |= {"close request", "severity", "several health"}


async def _product(db: asyncpg.Connection, org: int, i: int) -> int:
    ids = await db.fetch("select id from products where organization_id = $1 order by id", org)
    return int(ids[i % len(ids)]["id"])


async def apply(world: World, write: tuple[str, int, Any]) -> None:
    db, org = world.db, world.tenant.organization_id
    kind, i, value = write
    product = await _product(db, org, i)
    sites = world.tenant.site_ids
    if kind == "health":
        await db.execute("update products set health = $2 where id = $1", product, value)
    elif kind == "connectivity":
        await db.execute("update products set connectivity = $2 where id = $1", product, value)
    elif kind == "code":
        await db.execute("update products set code_version = $2 where id = $1", product, value)
    elif kind == "contract":
        ends = None if value is None else dt.date.today() + dt.timedelta(days=value)
        await db.execute("update products set contract_ends_on = $2 where id = $1", product, ends)
    elif kind == "open request":
        await db.execute(
            "insert into service_requests (organization_id, product_id, number, severity, "
            "status, title) values ($1, $2, $3, $4, 'OPEN', 'Fan fault')",
            org,
            product,
            f"SRD{secrets.token_hex(5)}",
            value,
        )
    elif kind == "close request":
        await db.execute(
            "update service_requests set status = 'CLOSED', closed_at = now() where id = "
            "(select id from service_requests where organization_id = $1 and status <> 'CLOSED' "
            "order by id offset $2 limit 1)",
            org,
            i % 50,
        )
    elif kind == "severity":
        await db.execute(
            "update service_requests set severity = $3 where id = (select id from "
            "service_requests where organization_id = $1 order by id offset $2 limit 1)",
            org,
            i % 50,
            value,
        )
    elif kind == "several health":
        await db.execute(
            "update products set health = case health when 'GOOD' then 'CRITICAL' else 'GOOD' "
            "end where id in (select id from products where organization_id = $1 "
            "order by id offset $2 limit $3)",
            org,
            i % 600,
            value,
        )
    elif kind == "move site":
        await db.execute(
            "update products set site_id = $2 where id = $1", product, sites[value % len(sites)]
        )
    elif kind == "move family":
        family = world.families[value % 6]
        await db.execute("update products set family_id = $2 where id = $1", product, family)
    elif kind == "insert":
        await db.execute(
            "insert into products (organization_id, site_id, family_id, service_tag, name, "
            "model, health, connectivity, contract_ends_on) "
            "values ($1, $2, $3, $4, 'New', 'R760', 'CRITICAL', 'CONNECTED', current_date + 10)",
            org,
            sites[i % len(sites)],
            world.families[value % 6],
            f"D{secrets.token_hex(6).upper()}",
        )
    elif kind == "delete":
        await db.execute("delete from products where id = $1", product)
    elif kind == "bulk":
        # More images than the log keeps for one statement: a rebuild.
        await db.execute(
            "update products set health = case health when 'GOOD' then 'WARNING' else 'GOOD' "
            "end where id in (select id from products where organization_id = $1 "
            "order by id limit $2)",
            org,
            CHANGE_LOG_LIMIT // 2 + 1 + i % 20,
        )
    elif kind == "regroup":
        scope, views = world.viewers[i % len(world.viewers)]
        group = views[2]
        await db.execute(
            "insert into custom_group_sites (organization_id, group_id, site_id) "
            "values ($1, $2, $3) on conflict do nothing",
            org,
            group,
            sites[value % len(sites)],
        )
    elif kind == "rescope":
        scope, _ = world.viewers[2]
        await db.execute(
            "insert into user_sites (organization_id, user_id, site_id) values ($1, $2, $3) "
            "on conflict do nothing",
            org,
            scope.user_id,
            sites[value % len(sites)],
        )
    else:  # pragma: no cover - the strategies above name every kind
        raise AssertionError(kind)


async def advanced_views(
    db: asyncpg.Connection, scope: ViewerScope, views: list[int | None]
) -> set[int]:
    keys = [FLEET_VIEW if v is None else v for v in views]
    rows = await db.fetch(
        "select view_key from fleet_advance_summaries($1, $2, $3, $4, $5)",
        scope.organization_id,
        scope.user_id,
        scope.all_sites,
        keys,
        MAX_TOP_SITES,
    )
    return {r["view_key"] for r in rows}


async def check_writes(world: World, writes: list[tuple[str, int, Any]]) -> None:
    for scope, views in world.viewers:
        await fetch_summaries(world.db, scope, views)  # stored at the current version
    version_sql = "select version from fleet_versions where organization_id = $1"
    org = world.tenant.organization_id
    for write in writes:
        before = await world.db.fetchval(version_sql, org)
        await apply(world, write)
        moved = await world.db.fetchval(version_sql, org) != before
        for scope, views in world.viewers:
            if write[0] in COUNTERS_ONLY and moved:
                keys = {FLEET_VIEW if v is None else v for v in views}
                assert await advanced_views(world.db, scope, views) == keys, write
            read = await fetch_summaries(world.db, scope, views)
            fresh = await fetch_summaries(world.db, scope, views, use_cache=False)
            assert read == fresh, (write, scope)
            assert len(read) == len(views)


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=st.lists(st.one_of(counters_only, counts, rebuilds), min_size=1, max_size=6))
def test_summaries_moved_by_logged_writes_equal_a_fresh_computation(
    world: World, writes: list[tuple[str, int, Any]]
) -> None:
    world.loop.run_until_complete(check_writes(world, writes))


def test_a_one_product_write_moves_every_stored_view_without_computing(world: World) -> None:
    async def check() -> None:
        for scope, views in world.viewers:
            await fetch_summaries(world.db, scope, views)
        await apply(world, ("move site", 3, 17))
        await apply(world, ("health", 4, "CRITICAL"))
        for scope, views in world.viewers:
            keys = {FLEET_VIEW if v is None else v for v in views}
            moved = await advanced_views(world.db, scope, views)
            # A move can reorder a cut top-site list past its end; nothing else is computed.
            assert moved >= keys - {FLEET_VIEW, views[2]}, scope
            assert await fetch_summaries(world.db, scope, views) == await fetch_summaries(
                world.db, scope, views, use_cache=False
            )

    world.loop.run_until_complete(check())


def test_rebuilding_writes_and_a_purged_log_are_computed_again(world: World) -> None:
    async def check() -> None:
        scope, views = world.viewers[0]
        await fetch_summaries(world.db, scope, views)
        await apply(world, ("bulk", 0, None))
        assert await advanced_views(world.db, scope, views) == set()
        assert await fetch_summaries(world.db, scope, views) == await fetch_summaries(
            world.db, scope, views, use_cache=False
        )
        await apply(world, ("health", 1, "WARNING"))
        await world.db.execute("delete from fleet_changes")  # as housekeeping would, by age
        assert await advanced_views(world.db, scope, views) == set()
        assert await fetch_summaries(world.db, scope, views) == await fetch_summaries(
            world.db, scope, views, use_cache=False
        )

    world.loop.run_until_complete(check())


def test_a_summary_stored_for_one_site_scope_is_never_read_for_another(world: World) -> None:
    async def check() -> None:
        scope, views = world.viewers[2]  # sees some sites
        wide = ViewerScope(scope.organization_id, scope.user_id, True)
        # A statement that began before the viewer's scope narrowed stores a wide answer
        # under the current version ...
        await fetch_summaries(world.db, wide, views)
        # ... which the narrow viewer must not be served.
        assert await fetch_summaries(world.db, scope, views) == await fetch_summaries(
            world.db, scope, views, use_cache=False
        )
        assert await advanced_views(world.db, scope, views) == set()

    world.loop.run_until_complete(check())


def test_concurrent_writers_and_readers_each_see_the_exact_summaries_of_their_snapshot(
    world: World,
) -> None:
    """Writers change products of the tenant concurrently (single writes, and
    transactions mixing logged writes with a rebuild) while readers read in
    REPEATABLE READ snapshots: what each reader is answered through the stored
    summaries equals a computation in the same snapshot."""
    url, org = world.url, world.tenant.organization_id

    async def writer(seed: int, stop: asyncio.Event) -> int:
        conn = await asyncpg.connect(url)
        n = 0
        try:
            while not stop.is_set():
                n += 1
                product = await _product(conn, org, seed * 7919 + n * 31)
                async with conn.transaction():
                    await conn.execute(
                        "update products set health = case health when 'GOOD' then 'CRITICAL' "
                        "else 'GOOD' end, site_id = case when $2 then $3 else site_id end "
                        "where id = $1",
                        product,
                        n % 3 == 0,
                        world.tenant.site_ids[(seed + n) % len(world.tenant.site_ids)],
                    )
                    if n % 7 == 0:  # a rebuild in the same transaction
                        await conn.execute(
                            "update sites set name = name || '.' where id = $1",
                            world.tenant.site_ids[n % 5],
                        )
        finally:
            await conn.close()
        return n

    async def reader(scope: ViewerScope, views: list[int | None], rounds: int) -> int:
        """How many views it was answered by moving a stored summary forward."""
        conn = await asyncpg.connect(url)
        moved = 0
        try:
            for _ in range(rounds):
                answered: list[asyncpg.Record] = []
                async with conn.transaction(isolation="repeatable_read"):
                    read = await fetch_summaries(conn, scope, views, computed=answered)
                    fresh = await fetch_summaries(conn, scope, views, use_cache=False)
                assert read == fresh, scope
                moved += sum(1 for record in answered if record["advanced"])
        finally:
            await conn.close()
        return moved

    async def run() -> tuple[list[int], list[int]]:
        stop = asyncio.Event()
        writers = [asyncio.create_task(writer(seed, stop)) for seed in range(3)]
        try:
            moved = await asyncio.gather(
                *(reader(scope, views, 12) for scope, views in world.viewers for _ in range(2))
            )
        finally:
            stop.set()
        return await asyncio.gather(*writers), moved

    writes, moved = world.loop.run_until_complete(run())
    # Both paths ran: summaries moved forward, and rebuilds computed.
    assert sum(writes) >= 10 and sum(moved) > 0, (writes, moved)
