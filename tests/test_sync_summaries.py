"""After every synced batch, every summary equals a fresh count, and access holds."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolvers.ids import encode_id
from tests.fleet_data import (
    SUMMARY_FIELDS,
    FleetUser,
    comparable,
    create_user,
    expected_summary,
    in_group,
    product_facts,
)
from tests.fleet_data import Tenant as FleetTenant
from tests.support.app import GraphQLClient
from tests.sync_data import SyncTenant, create_sync_tenant, new_product, product, request, run_sync

T = TypeVar("T")
SITES = ("s0", "s1", "s2")
FAMILIES = ("PowerEdge", "PowerStore", "PowerMax")
TAGS = tuple(f"P{i:03d}" for i in range(8))
NUMBERS = tuple(f"SR-{i}" for i in range(5))
TODAY = dt.date.today()
CONTRACT_ENDS = (None, -5, 10, 45, 200)


def _contract(days: int | None) -> str | None:
    return None if days is None else (TODAY + dt.timedelta(days=days)).isoformat()


minutes = st.integers(min_value=1, max_value=40)
tags = st.sampled_from(TAGS)
PRODUCT_UPDATES = st.one_of(
    st.fixed_dictionaries({"health": st.sampled_from(("GOOD", "WARNING", "CRITICAL", "UNKNOWN"))}),
    st.fixed_dictionaries(
        {"connectivity": st.sampled_from(("CONNECTED", "DISCONNECTED", "NOT_CONFIGURED"))}
    ),
    st.fixed_dictionaries({"codeVersion": st.sampled_from((None, "1.0", "2.0"))}),
    st.fixed_dictionaries({"contractEndsOn": st.sampled_from(CONTRACT_ENDS).map(_contract)}),
    st.fixed_dictionaries({"site": st.sampled_from(SITES)}),
    st.fixed_dictionaries({"family": st.sampled_from(FAMILIES)}),
    st.just({"decommissioned": True}),
    st.fixed_dictionaries({"site": st.sampled_from(SITES), "family": st.sampled_from(FAMILIES)}),
)
CHANGES = st.one_of(
    st.builds(lambda t, m, u: product(t, m, **u), tags, minutes, PRODUCT_UPDATES),
    st.builds(
        lambda n, t, m, s: request(n, m, product=t, severity=s, title="Fault"),
        st.sampled_from(NUMBERS),
        tags,
        minutes,
        st.sampled_from(("CRITICAL", "HIGH", "MEDIUM", "LOW")),
    ),
    st.builds(
        lambda n, m, s: request(n, m, status=s),
        st.sampled_from(NUMBERS),
        minutes,
        st.sampled_from(("OPEN", "IN_PROGRESS", "CLOSED")),
    ),
)


def initial_products() -> list[dict[str, Any]]:
    return [
        new_product(
            tag,
            0,
            site=SITES[i % 3],
            family=FAMILIES[i % 2],
            health="GOOD",
            codeVersion="1.0",
            recommendedCodeVersion="2.0",
            contractEndsOn=_contract(CONTRACT_ENDS[i % 5]),
        )
        for i, tag in enumerate(TAGS)
    ]


async def _summaries_match(
    client: GraphQLClient,
    db: asyncpg.Connection,
    tenant: SyncTenant,
    admin: FleetUser,
    member: FleetUser,
    groups: dict[int, tuple[set[int], set[int]]],
    member_sites: set[int],
) -> None:
    facts = await product_facts(db, tenant.organization_id)
    aliases = " ".join(
        f'g{gid}: summary(groupId: "{encode_id("CustomGroup", gid)}") {{ {SUMMARY_FIELDS} }}'
        for gid in groups
    )
    body = await client.execute(
        f"{{ fleet: summary {{ {SUMMARY_FIELDS} }} {aliases} }}", token=admin.token
    )
    assert "errors" not in body, body
    assert comparable(body["data"]["fleet"]) == expected_summary(facts, TODAY)
    for gid, (families, sites) in groups.items():
        listed = {
            r[0]
            for r in await db.fetch(
                "select product_id from custom_group_products where group_id = $1", gid
            )
        }
        members = [p for p in facts if in_group(p, listed, families, sites)]
        assert comparable(body["data"][f"g{gid}"]) == expected_summary(members, TODAY), gid
    body = await client.execute(f"{{ fleet: summary {{ {SUMMARY_FIELDS} }} }}", token=member.token)
    visible = [p for p in facts if p.site_id in member_sites]
    assert comparable(body["data"]["fleet"]) == expected_summary(visible, TODAY)


async def test_every_summary_equals_a_fresh_count_after_any_mix_of_synced_changes(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_sync_tenant(db, "acme", SITES)
    await create_sync_tenant(db, "other", ["elsewhere"])  # never counted for acme
    fleet_tenant = FleetTenant(tenant.organization_id, list(tenant.sites.values()))
    admin = await create_user(db, fleet_tenant, role="ADMIN")
    member_sites = {tenant.sites["s0"], tenant.sites["s2"]}
    member = await create_user(
        db, fleet_tenant, site_scope="SELECTED_SITES", site_ids=sorted(member_sites)
    )
    families = {r["name"]: r["id"] for r in await db.fetch("select id, name from product_families")}
    rules = [
        ({families["PowerEdge"]}, set()),
        (set(), {tenant.sites["s1"]}),
        ({families["PowerStore"]}, {tenant.sites["s0"], tenant.sites["s2"]}),
        (set(), set()),  # listed products only
    ]
    groups: dict[int, tuple[set[int], set[int]]] = {}
    for i, (fams, sites) in enumerate(rules):
        gid = await db.fetchval(
            "insert into custom_groups (organization_id, owner_id, name) "
            "values ($1, $2, $3) returning id",
            tenant.organization_id,
            admin.pk,
            f"group {i}",
        )
        for family in fams:
            await db.execute(
                "insert into custom_group_families values ($1, $2, $3)",
                tenant.organization_id,
                gid,
                family,
            )
        for site in sites:
            await db.execute(
                "insert into custom_group_sites values ($1, $2, $3)",
                tenant.organization_id,
                gid,
                site,
            )
        groups[gid] = (fams, sites)
    listed_group = list(groups)[-1]

    async def example(changes: list[dict[str, Any]], sizes: list[int], seed: int) -> None:
        await db.execute(
            "delete from products; truncate sync_products, sync_service_requests, sync_sites"
        )
        await run_sync(db, initial_products())
        await db.execute(
            "insert into custom_group_products (organization_id, group_id, product_id) "
            "select organization_id, $1, id from products "
            "where service_tag = any($2::text[])",
            listed_group,
            [TAGS[0], TAGS[3], TAGS[6]],
        )
        rest = list(changes)
        for size in sizes:
            if not rest:
                break
            await run_sync(db, rest[:size], batch_size=max(1, size))
            rest = rest[size:]
            await _summaries_match(client, db, tenant, admin, member, groups, member_sites)
        await run_sync(db, rest)
        await _summaries_match(client, db, tenant, admin, member, groups, member_sites)
        # The same changes again, shuffled, in small batches: a replay out of
        # order changes nothing.
        state = await product_facts(db, tenant.organization_id)
        replay = list(changes)
        random.Random(seed).shuffle(replay)
        await run_sync(db, replay, batch_size=3)
        assert await product_facts(db, tenant.organization_id) == state
        await _summaries_match(client, db, tenant, admin, member, groups, member_sites)

    loop = asyncio.get_running_loop()

    def on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    # Hypothesis drives a plain function in a thread; the database work runs
    # on this test's event loop (the connection and the app live there).
    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        changes=st.lists(CHANGES, min_size=1, max_size=30),
        sizes=st.lists(st.integers(min_value=1, max_value=10), max_size=4),
        seed=st.integers(min_value=0, max_value=2**16),
    )
    def check(changes: list[dict[str, Any]], sizes: list[int], seed: int) -> None:
        on_loop(example(changes, sizes, seed))

    await asyncio.to_thread(check)


async def test_a_product_moved_to_a_site_a_member_cannot_see_leaves_their_views_at_once(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_sync_tenant(db)
    fleet_tenant = FleetTenant(tenant.organization_id, list(tenant.sites.values()))
    member = await create_user(
        db, fleet_tenant, site_scope="SELECTED_SITES", site_ids=[tenant.sites["austin"]]
    )
    await run_sync(db, [new_product("MOV0001", 1), new_product("MOV0002", 1)])
    query = "{ summary { productCount } products(first: 50) { totalCount nodes { serviceTag } } }"
    body = await client.execute(query, token=member.token)
    assert body["data"]["summary"]["productCount"] == 2
    assert body["data"]["products"]["totalCount"] == 2
    product_id = await db.fetchval("select id from products where service_tag = 'MOV0001'")

    await run_sync(db, [product("MOV0001", 2, site="paris")])
    body = await client.execute(query, token=member.token)
    assert body["data"]["summary"]["productCount"] == 1
    assert [n["serviceTag"] for n in body["data"]["products"]["nodes"]] == ["MOV0002"]
    node = await client.execute(
        f'{{ node(id: "{encode_id("Product", product_id)}") {{ id }} }}', token=member.token
    )
    assert node["data"]["node"] is None
