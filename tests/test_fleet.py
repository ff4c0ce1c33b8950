"""Fleet lists and visibility: who sees which sites and products, filters, pages, node."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from config import Settings
from resolvers.ids import decode_id, encode_id
from tests.fleet_data import (
    FleetUser,
    ProductFacts,
    Tenant,
    create_tenant,
    create_user,
    family_gid,
    in_group,
    one_connection_client,
    product_facts,
    statement_count,
)
from tests.support.app import GraphQLClient

PRODUCTS_PAGE = """
query($first: Int, $after: String, $filter: ProductFilter) {
  products(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id serviceTag health site { id } family { id } } }
  }
}
"""


async def all_pages(
    client: GraphQLClient, user: FleetUser, filter: dict[str, Any] | None, first: int = 7
) -> tuple[list[int], int]:
    """Every product id visited by following cursors, and the reported totalCount."""
    seen: list[int] = []
    after = None
    total = -1
    for _ in range(1000):
        body = await client.execute(
            PRODUCTS_PAGE, {"first": first, "after": after, "filter": filter}, token=user.token
        )
        assert "errors" not in body, body
        page = body["data"]["products"]
        total = page["totalCount"]
        seen += [decode_id(e["node"]["id"])[1] for e in page["edges"]]  # type: ignore[index]
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return seen, total


@pytest.fixture
async def acme(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=4, products=70, seed=11)


@pytest.fixture
async def globex(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=2, products=20, seed=12)


async def test_each_viewer_sees_exactly_the_products_of_their_sites(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    admin = await create_user(db, acme, role="ADMIN", site_scope="SELECTED_SITES")
    everyone = await create_user(db, acme)
    selected_sites = [acme.site_ids[1], acme.site_ids[3]]
    selected = await create_user(db, acme, site_scope="SELECTED_SITES", site_ids=selected_sites)
    nothing = await create_user(db, acme, site_scope="SELECTED_SITES")
    facts = await product_facts(db, acme.organization_id)
    all_ids = sorted(p.id for p in facts)
    # An ADMIN sees every site whatever their own scope says.
    for user, expected in (
        (admin, all_ids),
        (everyone, all_ids),
        (selected, sorted(p.id for p in facts if p.site_id in selected_sites)),
        (nothing, []),
    ):
        seen, total = await all_pages(client, user, None)
        assert seen == expected and total == len(expected)
        body = await client.execute(
            "{ sites(first: 100) { totalCount nodes { id productCount } } }", token=user.token
        )
        sites = body["data"]["sites"]["nodes"]
        visible_sites = {p_site for p_site in (p.site_id for p in facts if p.id in expected)}
        assert {decode_id(s["id"])[1] for s in sites} >= visible_sites  # type: ignore[index]
        for site in sites:
            site_pk = decode_id(site["id"])[1]  # type: ignore[index]
            assert site["productCount"] == sum(1 for p in facts if p.site_id == site_pk)
    # The selected member's site list is exactly their two sites.
    body = await client.execute("{ sites { nodes { id } } }", token=selected.token)
    assert {decode_id(s["id"])[1] for s in body["data"]["sites"]["nodes"]} == set(  # type: ignore[index]
        selected_sites
    )


async def test_ids_of_another_tenant_or_outside_the_scope_answer_as_if_they_did_not_exist(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    selected = await create_user(db, acme, site_scope="SELECTED_SITES", site_ids=[acme.site_ids[0]])
    facts = await product_facts(db, acme.organization_id)
    outside = next(p for p in facts if p.site_id != acme.site_ids[0])
    inside = next(p for p in facts if p.site_id == acme.site_ids[0])
    node = "query($id: ID!) { node(id: $id) { id } }"
    for foreign in (
        globex.product_gid(0),
        globex.site_gid(0),
        encode_id("Product", outside.id),
        encode_id("Site", acme.site_ids[2]),
        encode_id("Product", 10**12),
    ):
        body = await client.execute(node, {"id": foreign}, token=selected.token)
        assert body == {"data": {"node": None}}
    found = await client.execute(
        node, {"id": encode_id("Product", inside.id)}, token=selected.token
    )
    assert found["data"]["node"] == {"id": encode_id("Product", inside.id)}
    # A product read alone (not in a page) finds its family and site by loader.
    detail = await client.execute(
        "query($id: ID!) { node(id: $id) { ... on Product { family { id } site { id name } } } }",
        {"id": encode_id("Product", inside.id)},
        token=selected.token,
    )
    assert detail["data"]["node"]["family"] == {"id": family_gid(inside.family_id)}
    assert detail["data"]["node"]["site"]["id"] == acme.site_gid(0)
    # Filters naming foreign or invisible ids match nothing (and say nothing more).
    for filter in (
        {"siteIds": [globex.site_gid(0)]},
        {"siteIds": [acme.site_gid(2)]},
        {"siteIds": ["garbage"]},
    ):
        seen, total = await all_pages(client, selected, filter)
        assert (seen, total) == ([], 0)
    # Anonymous callers get null for fleet ids, not an error.
    anonymous = await client.execute(node, {"id": encode_id("Product", inside.id)})
    assert anonymous == {"data": {"node": None}}


async def test_fleet_fields_need_a_completed_registration(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    limited = await create_user(db, None, step="COMPLETE_PROFILE")
    for query in (
        "{ products { totalCount } }",
        "{ summary { productCount } }",
        "{ sites { totalCount } }",
    ):
        anonymous = await client.execute(query)
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        body = await client.execute(query, token=limited.token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "registration" in body["errors"][0]["message"]


def _expected_ids(
    facts: list[ProductFacts], filter: dict[str, Any], today: dt.date, tenant: Tenant
) -> list[int]:
    def keys(name: str) -> set[int]:
        return {decode_id(g)[1] for g in filter.get(name, [])}  # type: ignore[index]

    out = []
    for p in facts:
        if "familyIds" in filter and p.family_id not in keys("familyIds"):
            continue
        if "siteIds" in filter and p.site_id not in keys("siteIds"):
            continue
        if "health" in filter and p.health not in filter["health"]:
            continue
        if "connectivity" in filter and p.connectivity not in filter["connectivity"]:
            continue
        if "codeStatus" in filter and p.code_status not in filter["codeStatus"]:
            continue
        if "contractEndsWithinDays" in filter:
            n = filter["contractEndsWithinDays"]
            if p.contract_ends_on is None or not 0 <= (p.contract_ends_on - today).days <= n:
                continue
        out.append(p.id)
    return sorted(out)


FILTERS: list[dict[str, Any]] = [
    {},
    {"health": ["CRITICAL", "WARNING"]},
    {"connectivity": ["DISCONNECTED"]},
    {"codeStatus": ["UPDATE_AVAILABLE", "UNKNOWN"]},
    {"contractEndsWithinDays": 30},
    {"contractEndsWithinDays": 0},
    {
        "health": ["GOOD"],
        "connectivity": ["CONNECTED", "NOT_CONFIGURED"],
        "codeStatus": ["CURRENT"],
    },
]


async def test_pagination_visits_every_product_once_under_each_filter(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    user = await create_user(db, acme)
    facts = await product_facts(db, acme.organization_id)
    today = dt.date.today()
    filters = [
        *FILTERS,
        {"familyIds": [family_gid(1), family_gid(3)]},
        {"siteIds": [acme.site_gid(0), acme.site_gid(2)], "health": ["GOOD", "UNKNOWN"]},
        {
            "familyIds": [family_gid(2)],
            "siteIds": [acme.site_gid(1)],
            "contractEndsWithinDays": 90,
        },
    ]
    for filter in filters:
        expected = _expected_ids(facts, filter, today, acme)
        for first in (1, 7, 100):
            seen, total = await all_pages(client, user, filter, first=first)
            assert seen == expected, (filter, first)
            assert total == len(expected)
    assert any(_expected_ids(facts, f, today, acme) for f in FILTERS[1:])


async def test_search_matches_service_tag_name_or_model_case_insensitively(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    rows = await db.fetch(
        "select id, service_tag, name, model from products where organization_id = $1 order by id",
        acme.organization_id,
    )
    tag = rows[5]["service_tag"]
    for term, expected in (
        (tag.lower(), [r["id"] for r in rows if tag.lower() in r["service_tag"].lower()]),
        ("r750", [r["id"] for r in rows if "r750" in r["model"].lower()]),
        ("PRODUCT 1", [r["id"] for r in rows if "product 1" in r["name"].lower()]),
        ("100%", []),
        ("_", []),
    ):
        seen, total = await all_pages(client, user, {"search": term})
        assert seen == sorted(expected) and total == len(expected), term


async def test_filtered_lists_agree_with_the_summary_counts(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme, site_ids=acme.site_ids[:3])
    body = await client.execute(
        """
        mutation($input: CustomGroupInput!) {
          createCustomGroup(input: $input) { customGroup { id } userErrors { message } }
        }
        """,
        {
            "input": {
                "name": "Mixed",
                "productIds": [acme.product_gid(i) for i in (0, 1, 2, 3)],
                "familyIds": [family_gid(1), family_gid(2)],
                "siteIds": [acme.site_gid(0), acme.site_gid(3)],
            }
        },
        token=user.token,
    )
    group = body["data"]["createCustomGroup"]["customGroup"]["id"]
    # Narrowed after the group was made: site 3 leaves the group and the lists.
    await db.execute("update users set site_scope = 'SELECTED_SITES' where id = $1", user.pk)
    summary = await client.execute(
        """
        query($g: ID!) {
          fleet: summary { productCount health { critical } code { updateAvailable }
                           contracts { endingWithin30Days } }
          group: summary(groupId: $g) { productCount health { critical } }
        }
        """,
        {"g": group},
        token=user.token,
    )
    counts = summary["data"]
    checks: list[tuple[dict[str, Any], int]] = [
        ({}, counts["fleet"]["productCount"]),
        ({"health": ["CRITICAL"]}, counts["fleet"]["health"]["critical"]),
        ({"codeStatus": ["UPDATE_AVAILABLE"]}, counts["fleet"]["code"]["updateAvailable"]),
        ({"contractEndsWithinDays": 30}, counts["fleet"]["contracts"]["endingWithin30Days"]),
        ({"groupId": group}, counts["group"]["productCount"]),
        ({"groupId": group, "health": ["CRITICAL"]}, counts["group"]["health"]["critical"]),
    ]
    for filter, count in checks:
        seen, total = await all_pages(client, user, filter)
        assert len(seen) == total == count, filter
    # The group's own product list says the same, and only visible products are in it.
    facts = await product_facts(db, acme.organization_id)
    members = sorted(
        p.id
        for p in facts
        if p.site_id in acme.site_ids[:3]
        and in_group(p, set(acme.product_ids[:4]), {1, 2}, {acme.site_ids[0], acme.site_ids[3]})
    )
    body = await client.execute(
        "query($g: ID!) { node(id: $g) { ... on CustomGroup { products(first: 100) { totalCount "
        "nodes { id } } listedProducts { totalCount } } } }",
        {"g": group},
        token=user.token,
    )
    node = body["data"]["node"]
    assert [decode_id(n["id"])[1] for n in node["products"]["nodes"]] == members  # type: ignore[index]
    assert node["products"]["totalCount"] == counts["group"]["productCount"]
    listed_visible = [
        p for p in facts if p.id in acme.product_ids[:4] and p.site_id in acme.site_ids[:3]
    ]
    assert node["listedProducts"]["totalCount"] == len(listed_visible)


async def test_bad_cursors_and_page_sizes_are_refused(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    for variables in (
        {"first": 101},
        {"first": -1},
        {"after": "not-a-cursor"},
        {"after": "WyJ4Il0"},
    ):
        body = await client.execute(PRODUCTS_PAGE, variables, token=user.token)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", variables
    body = await client.execute(PRODUCTS_PAGE, {"first": 0}, token=user.token)
    assert body["data"]["products"]["edges"] == []
    assert body["data"]["products"]["totalCount"] == 70
    default = await client.execute("{ products { edges { cursor } } }", token=user.token)
    assert len(default["data"]["products"]["edges"]) == 20


async def test_site_filters_and_pages(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    query = """
    query($first: Int, $after: String, $filter: SiteFilter) {
      sites(first: $first, after: $after, filter: $filter) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id name country }
      }
    }
    """
    names: list[str] = []
    after = None
    while True:
        body = await client.execute(query, {"first": 1, "after": after}, token=user.token)
        page = body["data"]["sites"]
        names += [n["name"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == sorted(names) and len(names) == 4 == page["totalCount"]
    french = await client.execute(query, {"filter": {"country": "fr"}}, token=user.token)
    assert {n["country"] for n in french["data"]["sites"]["nodes"]} == {"FR"}
    assert french["data"]["sites"]["totalCount"] == 2
    searched = await client.execute(query, {"filter": {"search": "site 02"}}, token=user.token)
    assert [n["name"] for n in searched["data"]["sites"]["nodes"]] == [names[2]]


@pytest.fixture
async def single_connection_client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with one_connection_client(settings) as client:
        yield client


async def test_product_list_statements_do_not_grow_with_the_page(
    single_connection_client: GraphQLClient,
    db: asyncpg.Connection,
    acme: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await create_user(db, acme)
    query = """
    query($first: Int) { products(first: $first) { totalCount
      nodes { id family { name } site { name productCount } openServiceRequestCount } } }
    """
    counts = []
    for first in (2, 2, 60):
        body, count = await statement_count(
            single_connection_client, caplog, query, user.token, {"first": first}
        )
        assert len(body["data"]["products"]["nodes"]) == first
        counts.append(count)
    # viewer, page (with family and site names), total, site counts, open
    # requests: one each, whatever the page size; begin and commit of the
    # read snapshot.
    assert counts[1:] == [7, 7]


async def test_an_organizations_sites_are_for_its_members(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    member = await create_user(db, acme, site_scope="SELECTED_SITES", site_ids=[acme.site_ids[1]])
    stranger = await create_user(db, globex, role="ADMIN")
    query = """
    query($id: ID!) { node(id: $id) { ... on Organization {
        sites(first: 10, filter: {search: "site"}) { totalCount nodes { id } } } } }
    """
    org = encode_id("Organization", acme.organization_id)
    own = await client.execute(query, {"id": org}, token=member.token)
    assert own["data"]["node"]["sites"] == {"totalCount": 1, "nodes": [{"id": acme.site_gid(1)}]}
    # Another tenant's organization does not exist for them, sites and all.
    foreign = await client.execute(query, {"id": org}, token=stranger.token)
    assert foreign == {"data": {"node": None}}
