"""The Summary tab: exact counts, the group rule, visibility, and flat statement counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from config import Settings
from db.fleet import ViewerScope
from db.summary import COUNTERS, fetch_summaries, fetch_summary, refresh_contract_buckets
from resolvers.ids import decode_id
from tests.fleet_data import (
    SUMMARY_FIELDS,
    FleetUser,
    Tenant,
    comparable,
    create_tenant,
    create_user,
    expected_summary,
    family_gid,
    in_group,
    one_connection_client,
    product_facts,
    statement_count,
)
from tests.support.app import GraphQLClient

CREATE_GROUP = """
mutation($input: CustomGroupInput!) {
  createCustomGroup(input: $input) {
    customGroup { id name }
    userErrors { field message code }
  }
}
"""


async def create_group(client: GraphQLClient, user: FleetUser, **input: Any) -> str:
    body = await client.execute(CREATE_GROUP, {"input": input}, token=user.token)
    payload = body["data"]["createCustomGroup"]
    assert payload["userErrors"] == [], payload
    group_id: str = payload["customGroup"]["id"]
    return group_id


def group_rules(tenant: Tenant) -> dict[str, dict[str, Any]]:
    """Groups of every kind of rule, with listed products overlapping their rule."""
    return {
        "listed only": {"productIds": [tenant.product_gid(i) for i in (0, 1, 5, 9)]},
        "families only": {"familyIds": [family_gid(1), family_gid(2)]},
        "sites only": {"siteIds": [tenant.site_gid(1), tenant.site_gid(2)]},
        "families x sites": {
            "familyIds": [family_gid(3)],
            "siteIds": [tenant.site_gid(0), tenant.site_gid(2)],
        },
        "all three": {
            # Product 0 is at site 0 and of family 1: listed AND matched by the rule.
            "productIds": [tenant.product_gid(i) for i in (0, 3, 7, 11, 20)],
            "familyIds": [family_gid(1), family_gid(4)],
            "siteIds": [tenant.site_gid(0), tenant.site_gid(3)],
        },
        "empty rule": {},
    }


def ids_of(tenant: Tenant, rule: dict[str, Any]) -> tuple[set[int], set[int], set[int]]:
    def keys(name: str) -> set[int]:
        return {decode_id(g)[1] for g in rule.get(name, [])}  # type: ignore[index]

    return keys("productIds"), keys("familyIds"), keys("siteIds")


@pytest.fixture
async def acme(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=4, products=90, seed=7)


@pytest.fixture
async def other_tenant(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=2, products=25, seed=8)


@pytest.mark.parametrize("who", ["ADMIN", "ALL_SITES", "SELECTED_SITES"])
async def test_every_summary_count_equals_a_direct_count_over_the_visible_products(
    client: GraphQLClient,
    db: asyncpg.Connection,
    acme: Tenant,
    other_tenant: Tenant,
    who: str,
) -> None:
    selected = [acme.site_ids[0], acme.site_ids[2]]
    if who == "ADMIN":
        user = await create_user(db, acme, role="ADMIN")
    elif who == "ALL_SITES":
        user = await create_user(db, acme)
    else:
        user = await create_user(db, acme, site_scope="SELECTED_SITES", site_ids=selected)
    # Scope narrowed AFTER the groups exist must shrink them: create first as ALL.
    rules = group_rules(acme)
    if who == "SELECTED_SITES":
        await db.execute("update users set site_scope = 'ALL_SITES' where id = $1", user.pk)
    groups = {name: await create_group(client, user, name=name, **r) for name, r in rules.items()}
    if who == "SELECTED_SITES":
        await db.execute("update users set site_scope = 'SELECTED_SITES' where id = $1", user.pk)

    facts = await product_facts(db, acme.organization_id)
    visible = [p for p in facts if who != "SELECTED_SITES" or p.site_id in selected]
    today = dt.date.today()

    aliases = " ".join(
        f'g{i}: summary(groupId: "{gid}") {{ {SUMMARY_FIELDS} }}'
        for i, gid in enumerate(groups.values())
    )
    body = await client.execute(
        f"{{ fleet: summary {{ {SUMMARY_FIELDS} }} {aliases} }}", token=user.token
    )
    assert "errors" not in body, body
    assert comparable(body["data"]["fleet"]) == expected_summary(visible, today)
    for i, (name, rule) in enumerate(rules.items()):
        listed, families, sites = ids_of(acme, rule)
        members = [p for p in visible if in_group(p, listed, families, sites)]
        assert comparable(body["data"][f"g{i}"]) == expected_summary(members, today), name
    # The data has something in every bucket, so equality above means something.
    fleet = body["data"]["fleet"]
    assert all(v > 0 for v in fleet["health"].values())
    assert all(v > 0 for v in fleet["contracts"].values())
    assert fleet["serviceRequests"]["open"] > 0


async def test_summaries_follow_every_kind_of_change_exactly(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    admin = await create_user(db, acme, role="ADMIN")
    member = await create_user(db, acme)
    rule = {"listed": {acme.product_ids[50]}, "families": {2}, "sites": {acme.site_ids[1]}}
    group = await create_group(
        client,
        admin,
        name="Fam 2 at site 1",
        productIds=[acme.product_gid(50)],
        familyIds=[family_gid(2)],
        siteIds=[acme.site_gid(1)],
    )
    query = (
        f"{{ fleet: summary {{ {SUMMARY_FIELDS} }} "
        f'group: summary(groupId: "{group}") {{ {SUMMARY_FIELDS} }} }}'
    )

    async def answers_match(user: FleetUser, visible_sites: set[int] | None = None) -> None:
        facts = [
            p
            for p in await product_facts(db, acme.organization_id)
            if visible_sites is None or p.site_id in visible_sites
        ]
        own_query = query if user is admin else f"{{ fleet: summary {{ {SUMMARY_FIELDS} }} }}"
        body = await client.execute(own_query, token=user.token)
        today = dt.date.today()
        assert comparable(body["data"]["fleet"]) == expected_summary(facts, today)
        if user is admin:
            members = [
                p for p in facts if in_group(p, rule["listed"], rule["families"], rule["sites"])
            ]
            assert comparable(body["data"]["group"]) == expected_summary(members, today)

    # Each step follows an answer that is now shared (cached) between requests.
    await answers_match(admin)
    await db.execute(
        "update products set site_id = $2, family_id = 2, health = 'CRITICAL' "
        "where id = any($1::bigint[])",
        acme.product_ids[:10],
        acme.site_ids[1],
    )
    await answers_match(admin)
    await db.execute(
        "update products set contract_ends_on = current_date + 5, code_version = null "
        "where id = any($1::bigint[])",
        acme.product_ids[10:20],
    )
    await answers_match(admin)
    await db.execute(
        "update service_requests set status = 'CLOSED', closed_at = now() "
        "where product_id = any($1::bigint[])",
        acme.product_ids[:6],
    )
    await answers_match(admin)
    await db.execute(
        "insert into service_requests (organization_id, product_id, number, severity, title) "
        "select organization_id, id, 'NEW' || id, 'CRITICAL', 'New' from products "
        "where id = any($1::bigint[])",
        acme.product_ids[3:12],
    )
    await answers_match(admin)
    await db.execute("delete from products where id = any($1::bigint[])", acme.product_ids[40:45])
    await answers_match(admin)
    await db.execute("update sites set name = 'Renamed' where id = $1", acme.site_ids[1])
    await answers_match(admin)
    # The group's rule changes.
    await db.execute(
        "insert into custom_group_families (organization_id, group_id, family_id) "
        "values ($1, $2, 3)",
        acme.organization_id,
        decode_id(group)[1],  # type: ignore[index]
    )
    rule["families"] = {2, 3}
    await answers_match(admin)
    # Who sees what changes.
    await answers_match(member)
    await db.execute("update users set site_scope = 'SELECTED_SITES' where id = $1", member.pk)
    await answers_match(member, set())
    await db.execute(
        "insert into user_sites (organization_id, user_id, site_id) values ($1, $2, $3)",
        acme.organization_id,
        member.pk,
        acme.site_ids[2],
    )
    await answers_match(member, {acme.site_ids[2]})
    await db.execute("delete from sites where id = $1", acme.site_ids[2])
    await answers_match(member, set())
    await answers_match(admin)


async def test_shared_summaries_equal_fresh_computations(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    groups = [
        await create_group(client, user, name=name, **rule)
        for name, rule in group_rules(acme).items()
    ]
    keys: list[int | None] = [None, *(decode_id(g)[1] for g in groups)]  # type: ignore[index]
    scope = ViewerScope(acme.organization_id, user.pk, True)
    first = await fetch_summaries(db, scope, keys)
    assert await db.fetchval("select count(*) from summary_cache") == len(keys)
    shared = await fetch_summaries(db, scope, keys)
    fresh = await fetch_summaries(db, scope, keys, use_cache=False)
    assert first == shared == fresh and len(fresh) == len(keys)
    deleted = await client.execute(
        "mutation($id: ID!) { deleteCustomGroup(id: $id) { deletedId } }",
        {"id": groups[0]},
        token=user.token,
    )
    assert deleted["data"]["deleteCustomGroup"]["deletedId"] == groups[0]
    assert await db.fetchval("select count(*) from summary_cache") == len(keys) - 1


async def test_a_profile_edit_or_a_sign_in_keeps_the_shared_summaries(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    admin = await create_user(db, acme, role="ADMIN")
    await client.execute("{ summary { productCount } }", token=admin.token)
    version = await db.fetchval(
        "select version from fleet_versions where organization_id = $1", acme.organization_id
    )
    cached = await db.fetchval("select count(*) from summary_cache where user_id = $1", admin.pk)
    await db.execute(
        "update users set first_name = 'Renamed', updated_at = now() where id = $1", admin.pk
    )
    await create_user(db, acme)  # a new session and user: nothing anyone sees changed
    await db.execute("update products set name = name || ' (renamed)', updated_at = now()")
    await db.execute("update service_requests set title = 'Retitled'")
    await db.execute("update custom_groups set description = 'Edited'")
    assert cached == 1
    assert version == await db.fetchval(
        "select version from fleet_versions where organization_id = $1", acme.organization_id
    )
    await db.execute(
        "update products set health = case health when 'GOOD' then 'CRITICAL' else 'GOOD' end "
        "where id = $1",
        acme.product_ids[0],
    )
    assert version + 1 == await db.fetchval(
        "select version from fleet_versions where organization_id = $1", acme.organization_id
    )


async def test_contract_buckets_stay_exact_when_the_day_moves_and_after_refresh(
    db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme, role="ADMIN")
    scope = ViewerScope(acme.organization_id, user.pk, True)
    facts = await product_facts(db, acme.organization_id)
    expected = expected_summary(facts, dt.date.today())["contracts"]
    # Roll-ups built 40 days ago: rebuild them as of then, as if time had passed.
    await db.execute(
        """
        truncate fleet_cells, fleet_site_totals, fleet_family_totals;
        update fleet_rollup_dates set as_of = as_of - 40;
        do $$ begin
            execute fleet_deltas_sql(fleet_product_delta_sql(
                'select 1 as sign, x.* from products x'));
        end $$;
        """
    )

    def contracts(row: Any) -> dict[str, int]:
        return {
            "active": row.contract_active,
            "endingWithin30Days": row.contract_within_30,
            "endingWithin90Days": row.contract_within_30 + row.contract_within_90,
            "expired": row.contract_expired,
        }

    stale = await fetch_summary(db, scope, None)
    assert stale is not None and stale.stale_contracts
    assert contracts(stale) == expected
    await refresh_contract_buckets(db, acme.organization_id)
    fresh = await fetch_summary(db, scope, None)
    assert fresh is not None and not fresh.stale_contracts
    assert contracts(fresh) == expected
    stored = await db.fetchrow(
        "select sum(contract_expired) as expired, sum(contract_within_30) as w30 "
        "from fleet_family_totals where organization_id = $1",
        acme.organization_id,
    )
    assert stored is not None
    assert (stored["expired"], stored["w30"]) == (
        expected["expired"],
        expected["endingWithin30Days"],
    )


async def test_today_is_the_organizations_own_date(db: asyncpg.Connection) -> None:
    # Far east and far west of UTC disagree about "today" most of the day;
    # each tenant's counts follow its own date.
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        tenant = await create_tenant(db, sites=2, products=40, seed=3, time_zone=zone)
        user = await create_user(db, tenant, role="ADMIN")
        local_today = await db.fetchval("select (now() at time zone $1)::date", zone)
        facts = await product_facts(db, tenant.organization_id)
        row = await fetch_summary(db, ViewerScope(tenant.organization_id, user.pk, True), None)
        assert row is not None
        want = expected_summary(facts, local_today)["contracts"]
        assert want == {
            "active": row.contract_active,
            "endingWithin30Days": row.contract_within_30,
            "endingWithin90Days": row.contract_within_30 + row.contract_within_90,
            "expired": row.contract_expired,
        }


async def test_another_users_or_tenants_group_answers_not_found(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, other_tenant: Tenant
) -> None:
    owner = await create_user(db, acme)
    admin = await create_user(db, acme, role="ADMIN")
    stranger = await create_user(db, other_tenant, role="ADMIN")
    group = await create_group(client, owner, name="Mine", familyIds=[family_gid(1)])
    for user in (admin, stranger):
        body = await client.execute(
            "query($g: ID!) { summary(groupId: $g) { productCount } }",
            {"g": group},
            token=user.token,
        )
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # The db API answers nothing for a group that is not the viewer's.
    rows = await fetch_summaries(
        db,
        ViewerScope(acme.organization_id, admin.pk, True),
        [None, decode_id(group)[1]],  # type: ignore[index]
    )
    assert list(rows) == [None]


DASHBOARD = f"""
{{
  summary {{ {SUMMARY_FIELDS} }}
  customGroups(first: 100) {{
    nodes {{ id name summary {{ {SUMMARY_FIELDS} }} }}
  }}
}}
"""


@pytest.fixture
async def single_connection_client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with one_connection_client(settings) as client:
        yield client


async def test_dashboard_statement_count_does_not_grow_with_groups_sites_or_products(
    single_connection_client: GraphQLClient,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = single_connection_client
    small = await create_tenant(db, sites=2, products=10, seed=1)
    large = await create_tenant(db, sites=12, products=400, seed=2)
    counts = []
    for tenant, groups in ((small, 1), (large, 50)):
        user = await create_user(db, tenant)
        for g in range(groups):
            await create_group(
                client,
                user,
                name=f"G{g}",
                productIds=[tenant.product_gid(g % 10)],
                familyIds=[family_gid(1 + g % 5)] if g % 2 else None,
                siteIds=[tenant.site_gid(g % 2)] if g % 3 else None,
            )
        # Once to warm the pool's connections (asyncpg's one-time type lookups).
        await statement_count(client, caplog, DASHBOARD, user.token)
        body, statements = await statement_count(client, caplog, DASHBOARD, user.token)
        assert "errors" not in body, body
        assert len(body["data"]["customGroups"]["nodes"]) == groups
        counts.append(statements)
    # The viewer, the fleet summary, the group list, one batch for every
    # group's summary (names of families and sites come with the summaries),
    # and the begin and commit of the operation's read snapshot.
    assert counts == [6, 6]


async def test_a_stale_contract_day_is_refreshed_after_an_exact_answer(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:

    user = await create_user(db, acme, role="ADMIN")
    await db.execute(
        """
        truncate fleet_cells, fleet_site_totals, fleet_family_totals;
        update fleet_rollup_dates set as_of = as_of - 3;
        do $$ begin
            execute fleet_deltas_sql(fleet_product_delta_sql(
                'select 1 as sign, x.* from products x'));
        end $$;
        """
    )
    facts = await product_facts(db, acme.organization_id)
    body = await client.execute(
        "{ summary { contracts { active endingWithin30Days endingWithin90Days expired } } }",
        token=user.token,
    )
    assert (
        body["data"]["summary"]["contracts"]
        == expected_summary(facts, dt.date.today())["contracts"]
    )
    # The answer scheduled the refresh in the background: wait for it.
    assert await client.state["resources"].background.tasks_done(30)
    as_of = await db.fetchval(
        "select as_of from fleet_rollup_dates where organization_id = $1", acme.organization_id
    )
    assert as_of == await db.fetchval("select (now() at time zone 'UTC')::date")


async def test_emptying_tables_with_truncate_keeps_summaries_exact(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme, role="ADMIN")
    query = "{ summary { productCount serviceRequests { open critical } } }"
    before = await client.execute(query, token=user.token)
    assert before["data"]["summary"]["serviceRequests"]["open"] > 0
    await db.execute("truncate service_requests")
    after_requests = await client.execute(query, token=user.token)
    assert after_requests["data"]["summary"] == {
        "productCount": 90,
        "serviceRequests": {"open": 0, "critical": 0},
    }
    await db.execute("truncate products cascade")
    emptied = await client.execute(query, token=user.token)
    assert emptied["data"]["summary"]["productCount"] == 0


async def test_the_counters_are_the_columns_of_the_cache_and_of_the_summary_function(
    db: asyncpg.Connection,
) -> None:
    # COUNTERS is the one Python list; the SQL keeps literal columns, which must agree.
    cache_columns = await db.fetchval(
        "select array_agg(attname::text) from pg_attribute"
        " where attrelid = 'summary_cache'::regclass and attnum > 0 and not attisdropped"
    )
    function_columns = await db.fetchval(
        "select proargnames from pg_proc where proname = 'fleet_compute_summaries'"
    )
    assert set(COUNTERS) <= set(cache_columns)
    assert [c for c in function_columns if c in COUNTERS] == list(COUNTERS)
