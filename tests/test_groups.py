"""Custom groups and member administration: validation, ownership, read-time rules."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from config import Settings
from resolvers.ids import decode_id, encode_id
from tests.fleet_data import (
    FleetUser,
    Tenant,
    create_tenant,
    create_user,
    family_gid,
    one_connection_client,
    statement_count,
)
from tests.support.app import GraphQLClient

CREATE = """
mutation($input: CustomGroupInput!) {
  createCustomGroup(input: $input) {
    customGroup { id name description families { id } sites { id }
                  listedProducts(first: 100) { nodes { id } } }
    userErrors { field message code }
  }
}
"""
UPDATE = """
mutation($id: ID!, $input: CustomGroupInput!) {
  updateCustomGroup(id: $id, input: $input) {
    customGroup { id name description families { id } sites { id }
                  listedProducts(first: 100) { nodes { id } } }
    userErrors { field message code }
  }
}
"""
DELETE = """
mutation($id: ID!) { deleteCustomGroup(id: $id) { deletedId userErrors { field message code } } }
"""
GROUP_PRODUCTS = """
query($id: ID!) { node(id: $id) { ... on CustomGroup {
  products(first: 100) { totalCount nodes { id } } summary { productCount } } } }
"""


async def create(client: GraphQLClient, user: FleetUser, **input: Any) -> dict[str, Any]:
    body = await client.execute(CREATE, {"input": input}, token=user.token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["createCustomGroup"]
    return payload


async def group_product_ids(client: GraphQLClient, user: FleetUser, group: str) -> list[int]:
    body = await client.execute(GROUP_PRODUCTS, {"id": group}, token=user.token)
    node = body["data"]["node"]
    ids = [decode_id(n["id"])[1] for n in node["products"]["nodes"]]  # type: ignore[index]
    assert node["products"]["totalCount"] == node["summary"]["productCount"] == len(ids)
    return ids


@pytest.fixture
async def acme(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=3, products=30, seed=21)


@pytest.fixture
async def globex(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=2, products=10, seed=22)


async def count_groups(db: asyncpg.Connection) -> tuple[int, int, int, int]:
    row = await db.fetchrow(
        "select (select count(*) from custom_groups) a, (select count(*) from "
        "custom_group_products) b, (select count(*) from custom_group_families) c, "
        "(select count(*) from custom_group_sites) d"
    )
    assert row is not None
    return row["a"], row["b"], row["c"], row["d"]


async def test_a_group_saves_its_name_and_rule_and_reads_back(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    payload = await create(
        client,
        user,
        name="  Paris storage ",
        description="Arrays in Paris",
        productIds=[acme.product_gid(3), acme.product_gid(1), acme.product_gid(3)],
        familyIds=[family_gid(2)],
        siteIds=[acme.site_gid(1)],
    )
    assert payload["userErrors"] == []
    group = payload["customGroup"]
    assert group["name"] == "Paris storage" and group["description"] == "Arrays in Paris"
    assert [f["id"] for f in group["families"]] == [family_gid(2)]
    assert [s["id"] for s in group["sites"]] == [acme.site_gid(1)]
    assert [n["id"] for n in group["listedProducts"]["nodes"]] == [
        acme.product_gid(1),
        acme.product_gid(3),
    ]
    listed = await client.execute("{ customGroups { totalCount nodes { id } } }", token=user.token)
    assert listed["data"]["customGroups"] == {"totalCount": 1, "nodes": [{"id": group["id"]}]}


# Zero-width space, right-to-left override, line separator, zero-width no-break space.
DISGUISING = ["\u200b", "\u202e", "\u2028", "\ufeff"]


@pytest.mark.parametrize("character", DISGUISING)
async def test_a_group_name_or_description_that_displays_as_something_else_is_refused(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, character: str
) -> None:
    user = await create_user(db, acme)
    spoofed = f"Sites{character} Paris"
    for input, field in (
        ({"name": spoofed}, "name"),
        ({"name": "Paris", "description": f"Arrays\n{spoofed}"}, "description"),
    ):
        payload = await create(client, user, **input)
        assert payload["customGroup"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", field], "INVALID")
        ]
    assert await count_groups(db) == (0, 0, 0, 0)
    kept = (await create(client, user, name="Sites de l'Île-de-France"))["customGroup"]
    for input, field in (
        ({"name": spoofed}, "name"),
        ({"name": "Paris", "description": spoofed}, "description"),
    ):
        body = await client.execute(UPDATE, {"id": kept["id"], "input": input}, token=user.token)
        payload = body["data"]["updateCustomGroup"]
        assert payload["customGroup"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", field], "INVALID")
        ]
    stored = await db.fetchrow("select name, description from custom_groups")
    assert stored is not None
    assert (stored["name"], stored["description"]) == ("Sites de l'Île-de-France", None)


async def test_an_accented_group_name_and_a_multi_line_description_are_kept(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    # Decomposed (I and a combining circumflex): saved in its composed form.
    payload = await create(
        client,
        user,
        name="Sites de l'I\u0302le-de-France",
        description="Baies de stockage\n\tà Paris et à Évry",
    )
    assert payload["userErrors"] == []
    group = payload["customGroup"]
    assert group["name"] == "Sites de l'Île-de-France"
    assert group["description"] == "Baies de stockage\n\tà Paris et à Évry"


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"name": "   "}, ["input", "name"], "REQUIRED"),
        ({"name": "x" * 101}, ["input", "name"], "TOO_LONG"),
        ({"name": "ok", "description": "d" * 1001}, ["input", "description"], "TOO_LONG"),
        ({"name": "ok", "productIds": ["garbage"]}, ["input", "productIds", "0"], "NOT_FOUND"),
        ({"name": "ok", "familyIds": [family_gid(999)]}, ["input", "familyIds", "0"], "NOT_FOUND"),
        (
            {"name": "ok", "productIds": [encode_id("Product", 10**9)]},
            ["input", "productIds", "0"],
            "NOT_FOUND",
        ),
    ],
)
async def test_bad_group_input_is_refused_field_by_field_and_saves_nothing(
    client: GraphQLClient,
    db: asyncpg.Connection,
    acme: Tenant,
    input: dict[str, Any],
    field: list[str],
    code: str,
) -> None:
    user = await create_user(db, acme)
    payload = await create(client, user, **input)
    assert payload["customGroup"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]
    assert payload["userErrors"][0]["message"]
    assert await count_groups(db) == (0, 0, 0, 0)


async def test_ids_of_another_tenant_or_outside_the_scope_are_not_found_at_their_index(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    facts = await db.fetch(
        "select id, site_id from products where organization_id = $1 order by id",
        acme.organization_id,
    )
    user = await create_user(db, acme, site_scope="SELECTED_SITES", site_ids=[acme.site_ids[0]])
    inside = next(r["id"] for r in facts if r["site_id"] == acme.site_ids[0])
    outside = next(r["id"] for r in facts if r["site_id"] != acme.site_ids[0])
    payload = await create(
        client,
        user,
        name="Sneaky",
        productIds=[
            encode_id("Product", inside),
            globex.product_gid(0),
            encode_id("Product", outside),
        ],
        siteIds=[acme.site_gid(0), globex.site_gid(0), acme.site_gid(2)],
    )
    assert payload["customGroup"] is None
    assert sorted((e["field"], e["code"]) for e in payload["userErrors"]) == [
        (["input", "productIds", "1"], "NOT_FOUND"),
        (["input", "productIds", "2"], "NOT_FOUND"),
        (["input", "siteIds", "1"], "NOT_FOUND"),
        (["input", "siteIds", "2"], "NOT_FOUND"),
    ]
    assert await count_groups(db) == (0, 0, 0, 0)


async def test_limits_of_groups_and_listed_products(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    too_many = [encode_id("Product", 1_000_000 + i) for i in range(10_001)]
    payload = await create(client, user, name="Huge", productIds=too_many)
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "productIds"], "LIMIT_EXCEEDED")
    ]
    await db.execute(
        "insert into custom_groups (organization_id, owner_id, name) "
        "select $1, $2, 'G' || n from generate_series(1, 100) n",
        acme.organization_id,
        user.pk,
    )
    payload = await create(client, user, name="One too many")
    assert [e["code"] for e in payload["userErrors"]] == ["LIMIT_EXCEEDED"]
    assert (await count_groups(db))[0] == 100


async def test_groups_belong_to_their_owner_even_against_an_admin(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    owner = await create_user(db, acme)
    admin = await create_user(db, acme, role="ADMIN")
    stranger = await create_user(db, globex, role="ADMIN")
    group = (await create(client, owner, name="Mine", familyIds=[family_gid(1)]))["customGroup"]
    before = await count_groups(db)
    for other in (admin, stranger):
        read = await client.execute(GROUP_PRODUCTS, {"id": group["id"]}, token=other.token)
        assert read == {"data": {"node": None}}
        listed = await client.execute("{ customGroups { totalCount } }", token=other.token)
        assert listed["data"]["customGroups"]["totalCount"] == 0
        filtered = await client.execute(
            "query($g: ID!) { products(filter: {groupId: $g}) { totalCount } }",
            {"g": group["id"]},
            token=other.token,
        )
        assert filtered["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        updated = await client.execute(
            UPDATE, {"id": group["id"], "input": {"name": "Taken"}}, token=other.token
        )
        assert [
            (e["field"], e["code"]) for e in updated["data"]["updateCustomGroup"]["userErrors"]
        ] == [(["id"], "NOT_FOUND")]
        deleted = await client.execute(DELETE, {"id": group["id"]}, token=other.token)
        assert deleted["data"]["deleteCustomGroup"]["deletedId"] is None
        assert deleted["data"]["deleteCustomGroup"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert await count_groups(db) == before
    mine = await client.execute(DELETE, {"id": group["id"]}, token=owner.token)
    assert mine["data"]["deleteCustomGroup"] == {"deletedId": group["id"], "userErrors": []}
    assert await count_groups(db) == (0, 0, 0, 0)


async def test_update_replaces_given_parts_and_keeps_parts_left_null(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    group = (
        await create(
            client,
            user,
            name="Before",
            productIds=[acme.product_gid(0)],
            familyIds=[family_gid(1)],
            siteIds=[acme.site_gid(0)],
        )
    )["customGroup"]
    body = await client.execute(
        UPDATE,
        {"id": group["id"], "input": {"name": "After", "familyIds": [], "siteIds": None}},
        token=user.token,
    )
    updated = body["data"]["updateCustomGroup"]["customGroup"]
    assert updated["name"] == "After" and updated["families"] == []
    assert [s["id"] for s in updated["sites"]] == [acme.site_gid(0)]
    assert [n["id"] for n in updated["listedProducts"]["nodes"]] == [acme.product_gid(0)]
    refused = await client.execute(
        UPDATE, {"id": group["id"], "input": {"name": "", "siteIds": []}}, token=user.token
    )
    assert refused["data"]["updateCustomGroup"]["userErrors"][0]["code"] == "REQUIRED"
    unchanged = await db.fetchrow(
        "select name, (select count(*) from custom_group_sites) as sites from custom_groups"
    )
    assert unchanged is not None and (unchanged["name"], unchanged["sites"]) == ("After", 1)


async def test_the_rule_is_evaluated_when_read(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    group = (
        await create(
            client,
            user,
            name="Family 2 at site 0, plus one",
            productIds=[acme.product_gid(29)],
            familyIds=[family_gid(2)],
            siteIds=[acme.site_gid(0)],
        )
    )["customGroup"]["id"]
    before = await group_product_ids(client, user, group)
    # A product added later joins the group by its rule.
    new_id = await db.fetchval(
        "insert into products (organization_id, site_id, family_id, service_tag, name, model) "
        "values ($1, $2, 2, 'LATE-1', 'Late arrival', 'R750') returning id",
        acme.organization_id,
        acme.site_ids[0],
    )
    after = await group_product_ids(client, user, group)
    assert after == sorted([*before, new_id])
    # A narrowed scope shrinks the group, listed products included.
    listed_site = await db.fetchval(
        "select site_id from products where id = $1", acme.product_ids[29]
    )
    keep = [s for s in acme.site_ids if s != listed_site]
    await db.execute("update users set site_scope = 'SELECTED_SITES' where id = $1", user.pk)
    await db.executemany(
        "insert into user_sites (organization_id, user_id, site_id) values ($1, $2, $3)",
        [(acme.organization_id, user.pk, s) for s in keep],
    )
    narrowed = await group_product_ids(client, user, group)
    assert acme.product_ids[29] not in narrowed
    site_of = {r["id"]: r["site_id"] for r in await db.fetch("select id, site_id from products")}
    assert narrowed == [p for p in after if site_of[p] in keep]


# ------------------------------------------------------------ administration

SITE_ACCESS = """
mutation($input: SiteAccessInput!) {
  setMemberSiteAccess(input: $input) {
    member { id siteScope visibleSites(first: 100) { nodes { id } } }
    userErrors { field message code }
  }
}
"""
ROLE = """
mutation($user: ID!, $role: Role!) {
  setMemberRole(userId: $user, role: $role) { member { id role } userErrors { field code } }
}
"""


async def test_an_admin_chooses_which_sites_a_member_sees(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    admin = await create_user(db, acme, role="ADMIN")
    member = await create_user(db, acme)
    total = "{ products { totalCount } }"
    assert (await client.execute(total, token=member.token))["data"]["products"]["totalCount"] == 30
    body = await client.execute(
        SITE_ACCESS,
        {"input": {"userId": member.id, "scope": "SELECTED_SITES", "siteIds": [acme.site_gid(1)]}},
        token=admin.token,
    )
    payload = body["data"]["setMemberSiteAccess"]
    assert payload["userErrors"] == []
    assert payload["member"]["siteScope"] == "SELECTED_SITES"
    assert payload["member"]["visibleSites"]["nodes"] == [{"id": acme.site_gid(1)}]
    at_site = await db.fetchval(
        "select count(*) from products where site_id = $1", acme.site_ids[1]
    )
    seen = await client.execute(total, token=member.token)
    assert seen["data"]["products"]["totalCount"] == at_site
    mine = await client.execute("{ viewer { visibleSites { nodes { id } } } }", token=member.token)
    assert mine["data"]["viewer"]["visibleSites"]["nodes"] == [{"id": acme.site_gid(1)}]
    # Back to every site.
    body = await client.execute(
        SITE_ACCESS, {"input": {"userId": member.id, "scope": "ALL_SITES"}}, token=admin.token
    )
    assert len(body["data"]["setMemberSiteAccess"]["member"]["visibleSites"]["nodes"]) == 3


async def test_only_an_admin_of_the_same_organization_changes_access_or_roles(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, globex: Tenant
) -> None:
    admin = await create_user(db, acme, role="ADMIN")
    member = await create_user(db, acme)
    foreign = await create_user(db, globex)
    cases: list[tuple[FleetUser, dict[str, Any], list[str] | None, str]] = [
        (member, {"userId": member.id, "scope": "ALL_SITES"}, None, "FORBIDDEN"),
        (admin, {"userId": foreign.id, "scope": "ALL_SITES"}, ["input", "userId"], "NOT_FOUND"),
        (
            admin,
            {"userId": member.id, "scope": "SELECTED_SITES", "siteIds": [globex.site_gid(0)]},
            ["input", "siteIds", "0"],
            "NOT_FOUND",
        ),
    ]
    for who, input, field, code in cases:
        body = await client.execute(SITE_ACCESS, {"input": input}, token=who.token)
        errors = body["data"]["setMemberSiteAccess"]["userErrors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    assert await db.fetchval("select count(*) from user_sites") == 0
    refused = await client.execute(ROLE, {"user": admin.id, "role": "MEMBER"}, token=member.token)
    assert refused["data"]["setMemberRole"]["userErrors"] == [{"field": None, "code": "FORBIDDEN"}]
    members = await client.execute(
        "{ viewer { organization { members { totalCount } } } }", token=member.token
    )
    assert members["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    listed = await client.execute(
        "{ viewer { organization { members { totalCount nodes { id } } } } }", token=admin.token
    )
    assert listed["data"]["viewer"]["organization"]["members"]["totalCount"] == 2


async def test_an_organization_always_keeps_an_admin(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    admin = await create_user(db, acme, role="ADMIN")
    member = await create_user(db, acme)
    alone = await client.execute(ROLE, {"user": admin.id, "role": "MEMBER"}, token=admin.token)
    assert alone["data"]["setMemberRole"]["userErrors"] == [{"field": ["role"], "code": "INVALID"}]
    promoted = await client.execute(ROLE, {"user": member.id, "role": "ADMIN"}, token=admin.token)
    assert promoted["data"]["setMemberRole"]["member"] == {"id": member.id, "role": "ADMIN"}
    stepped_down = await client.execute(
        ROLE, {"user": admin.id, "role": "MEMBER"}, token=admin.token
    )
    assert stepped_down["data"]["setMemberRole"]["member"]["role"] == "MEMBER"
    last = await client.execute(ROLE, {"user": member.id, "role": "MEMBER"}, token=member.token)
    assert last["data"]["setMemberRole"]["userErrors"][0]["code"] == "INVALID"
    roles = await db.fetch(
        "select role from users where organization_id = $1", acme.organization_id
    )
    assert sorted(r["role"] for r in roles) == ["ADMIN", "MEMBER"]


async def test_concurrent_creations_never_pass_the_group_limit(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    import asyncio

    user = await create_user(db, acme)
    await db.execute(
        "insert into custom_groups (organization_id, owner_id, name) "
        "select $1, $2, 'G' || n from generate_series(1, 97) n",
        acme.organization_id,
        user.pk,
    )
    results = await asyncio.gather(*(create(client, user, name=f"Race {i}") for i in range(6)))
    created = [r for r in results if r["customGroup"] is not None]
    refused = [r for r in results if r["userErrors"]]
    assert len(created) == 3 and len(refused) == 3
    assert all(r["userErrors"][0]["code"] == "LIMIT_EXCEEDED" for r in refused)
    assert (
        await db.fetchval("select count(*) from custom_groups where owner_id = $1", user.pk) == 100
    )


async def test_concurrent_demotions_keep_one_admin(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    import asyncio

    first = await create_user(db, acme, role="ADMIN")
    second = await create_user(db, acme, role="ADMIN")
    # Each demotes themselves at the same time: only one may succeed.
    results = await asyncio.gather(
        client.execute(ROLE, {"user": first.id, "role": "MEMBER"}, token=first.token),
        client.execute(ROLE, {"user": second.id, "role": "MEMBER"}, token=second.token),
    )
    payloads = [r["data"]["setMemberRole"] for r in results]
    assert sorted(bool(p["userErrors"]) for p in payloads) == [False, True]
    admins = await db.fetchval(
        "select count(*) from users where organization_id = $1 and role = 'ADMIN'",
        acme.organization_id,
    )
    assert admins == 1


async def test_a_group_list_narrowed_by_another_group_is_their_intersection(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme)
    by_family = (
        await create(
            client,
            user,
            name="Family 1",
            familyIds=[family_gid(1)],
            productIds=[acme.product_gid(2)],
        )
    )["customGroup"]["id"]
    by_site = (await create(client, user, name="Site 0", siteIds=[acme.site_gid(0)]))[
        "customGroup"
    ]["id"]
    rows = await db.fetch(
        "select id, site_id, family_id from products where organization_id = $1 order by id",
        acme.organization_id,
    )
    expected = [
        encode_id("Product", r["id"])
        for r in rows
        if (r["family_id"] == 1 or r["id"] == acme.product_ids[2])
        and r["site_id"] == acme.site_ids[0]
    ]
    body = await client.execute(
        "query($a: ID!, $b: ID!) { node(id: $a) { ... on CustomGroup { "
        "products(first: 100, filter: {groupId: $b}) { totalCount nodes { id } } } } }",
        {"a": by_family, "b": by_site},
        token=user.token,
    )
    products = body["data"]["node"]["products"]
    assert [n["id"] for n in products["nodes"]] == expected
    assert products["totalCount"] == len(expected) > 0


async def test_group_lists_inside_a_list_of_groups_do_not_add_statements_per_group(
    settings: Settings,
    db: asyncpg.Connection,
    acme: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    query = """
    { customGroups(first: 100) { nodes {
        products(first: 3, filter: {health: [GOOD, WARNING, CRITICAL, UNKNOWN]}) {
          totalCount nodes { id } }
        listedProducts(first: 2) { totalCount nodes { id } }
        families { id } sites { id } } } }
    """
    async with one_connection_client(settings) as client:
        counts = []
        for groups in (1, 12):
            user = await create_user(db, acme)
            for g in range(groups):
                await create(
                    client,
                    user,
                    name=f"G{g}",
                    productIds=[acme.product_gid(g), acme.product_gid(g + 1)],
                    familyIds=[family_gid(1 + g % 3)],
                    siteIds=[acme.site_gid(g % 3)] if g % 2 else None,
                )
            await statement_count(client, caplog, query, user.token)  # warm
            body, count = await statement_count(client, caplog, query, user.token)
            nodes = body["data"]["customGroups"]["nodes"]
            assert len(nodes) == groups and all(
                n["listedProducts"]["totalCount"] == 2 for n in nodes
            )
            counts.append(count)
    # viewer, groups, a page and a count of products, of listed products,
    # families, sites: one each however many groups; begin and commit of the
    # read snapshot.
    assert counts == [10, 10]


async def test_an_admin_demoted_while_their_request_runs_changes_no_site_access(
    client: GraphQLClient, db: asyncpg.Connection, database_url: str, acme: Tenant
) -> None:
    import asyncio

    admin = await create_user(db, acme, role="ADMIN")
    await create_user(db, acme, role="ADMIN")  # the one who demotes
    member = await create_user(db, acme)
    before = await db.fetchrow(
        "select site_scope, (select count(*) from user_sites) as selected from users where id = $1",
        member.pk,
    )
    demoting = await asyncpg.connect(database_url)
    try:
        demotion = demoting.transaction()
        await demotion.start()
        await demoting.execute("update users set role = 'MEMBER' where id = $1", admin.pk)
        # The request reads its viewer as an ADMIN (the demotion is not committed yet) ...
        request = asyncio.ensure_future(
            client.execute(
                SITE_ACCESS,
                {
                    "input": {
                        "userId": member.id,
                        "scope": "SELECTED_SITES",
                        "siteIds": [acme.site_gid(0)],
                    }
                },
                token=admin.token,
            )
        )
        # ... and gets as far as a lock the demotion holds (or finishes).
        while not request.done():
            waiting = await db.fetchval(
                "select count(*) from pg_stat_activity"
                " where datname = current_database() and wait_event_type = 'Lock'"
            )
            if waiting:
                break
            await asyncio.sleep(0.01)
        await demotion.commit()
        body = await request
    finally:
        await demoting.close()
    payload = body["data"]["setMemberSiteAccess"]
    assert payload["member"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(None, "FORBIDDEN")]
    after = await db.fetchrow(
        "select site_scope, (select count(*) from user_sites) as selected from users where id = $1",
        member.pk,
    )
    assert after == before
