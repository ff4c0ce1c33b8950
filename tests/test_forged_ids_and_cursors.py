"""Global ids and cursors forged by hand: refused as not found or bad input,
never an internal error (they are base64 a client can write itself)."""

from __future__ import annotations

import base64

import asyncpg
import pytest

from resolvers.ids import decode_id, encode_id
from tests.fleet_data import Tenant, create_tenant, create_user
from tests.support.app import GraphQLClient


def forged_id(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def forged_cursor(json_text: str) -> str:
    return base64.urlsafe_b64encode(json_text.encode()).decode().rstrip("=")


@pytest.fixture
async def acme(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=2, products=6, seed=31)


def test_an_id_is_read_only_in_the_form_it_was_given() -> None:
    product = encode_id("Product", 12)
    assert decode_id(product) == ("Product", 12)
    assert decode_id(product + "=" * (-len(product) % 4)) == ("Product", 12)
    for other_spelling in ("Product:²", "Product:١٢", "Product:012", "Product:+12", "Product:12 "):
        assert decode_id(forged_id(other_spelling)) is None, other_spelling
    assert decode_id(product[:4] + "!" + product[4:]) is None


async def test_ids_with_other_digits_are_not_found(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme, role="ADMIN")
    superscript = forged_id(f"Product:{acme.product_ids[0]}²")
    body = await client.execute(
        "query($id: ID!) { node(id: $id) { id } }", {"id": superscript}, token=user.token
    )
    assert body == {"data": {"node": None}}
    arabic = forged_id(
        "Product:" + str(acme.product_ids[0]).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    )
    body = await client.execute(
        "query($id: ID!) { node(id: $id) { id } }", {"id": arabic}, token=user.token
    )
    assert body == {"data": {"node": None}}
    group = forged_id("CustomGroup:²")
    body = await client.execute(
        "query($g: ID!) { summary(groupId: $g) { productCount } }", {"g": group}, token=user.token
    )
    assert body["errors"][0]["extensions"]["code"] != "INTERNAL_SERVER_ERROR", body
    body = await client.execute(
        "mutation($g: ID!) { deleteCustomGroup(id: $g) { deletedId userErrors { code } } }",
        {"g": group},
        token=user.token,
    )
    assert body["data"]["deleteCustomGroup"]["userErrors"][0]["code"] == "NOT_FOUND", body
    body = await client.execute(
        "query($s: ID!) { products(filter: {siteIds: [$s]}) { totalCount } }",
        {"s": forged_id("Site:²")},
        token=user.token,
    )
    assert "errors" not in body or all(
        e["extensions"]["code"] != "INTERNAL_SERVER_ERROR" for e in body["errors"]
    ), body


@pytest.mark.parametrize(
    ("query", "cursor_json"),
    [
        ("{ products(first: 2, after: $after) { totalCount } }", "[18446744073709551615]"),
        ("{ products(first: 2, after: $after) { totalCount } }", "[9223372036854775808]"),
        ("{ customGroups(first: 2, after: $after) { totalCount } }", "[9223372036854775808]"),
        (
            "{ viewer { organization { members(first: 2, after: $after) { totalCount } } } }",
            "[9223372036854775808]",
        ),
        ("{ sites(first: 2, after: $after) { totalCount } }", '["a\\u0000b", 1]'),
        ("{ sites(first: 2, after: $after) { totalCount } }", '["x", 18446744073709551615]'),
        ("{ sites(first: 2, after: $after) { totalCount } }", '["' + "x" * 5000 + '", 1]'),
    ],
)
async def test_forged_cursors_are_bad_input(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant, query: str, cursor_json: str
) -> None:
    user = await create_user(db, acme, role="ADMIN")
    body = await client.execute(
        "query($after: String) " + query, {"after": forged_cursor(cursor_json)}, token=user.token
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


async def test_cursors_at_the_edges_of_bigint_still_page(
    client: GraphQLClient, db: asyncpg.Connection, acme: Tenant
) -> None:
    user = await create_user(db, acme, role="ADMIN")
    query = (
        "query($after: String) { products(first: 100, after: $after) { totalCount nodes { id } } }"
    )
    lowest = await client.execute(
        query, {"after": forged_cursor(f"[{-(2**63)}]")}, token=user.token
    )
    assert len(lowest["data"]["products"]["nodes"]) == lowest["data"]["products"]["totalCount"]
    highest = await client.execute(
        query, {"after": forged_cursor(f"[{2**63 - 1}]")}, token=user.token
    )
    assert highest["data"]["products"]["nodes"] == []
