"""Every text input refuses NUL and the other C0 control characters (and DEL)
with BAD_USER_INPUT, whichever way it arrives, and leaves the data as it was.

TAB, LF and CR are ordinary text and pass (a description may span lines).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config import Settings
from resolvers.ids import encode_id
from schema.input_guard import control_character_in, control_character_in_value
from tests.fleet_data import FleetUser, Tenant, create_tenant, create_user
from tests.support.app import GraphQLClient, running_app

REFUSED = [chr(c) for c in [*range(0x20), 0x7F] if chr(c) not in "\t\n\r"]
ALLOWED_CONTROLS = "\t\n\r"

# (name, operation with $v, the same with the literal in place of $v, signed in)
FIELDS: list[tuple[str, str, bool]] = [
    (
        "signIn email",
        'mutation($v: String!) { signIn(email: $v, password: "correct horse battery") '
        "{ userErrors { code } } }",
        False,
    ),
    (
        "group name",
        "mutation($v: String!) { createCustomGroup(input: {name: $v}) "
        "{ customGroup { id } userErrors { code } } }",
        True,
    ),
    (
        "group description",
        'mutation($v: String) { createCustomGroup(input: {name: "ok", description: $v}) '
        "{ customGroup { id } userErrors { code } } }",
        True,
    ),
    (
        "product search",
        "query($v: String) { products(first: 5, filter: {search: $v}) { totalCount } }",
        True,
    ),
    (
        "site search",
        "query($v: String) { sites(first: 5, filter: {search: $v}) { totalCount } }",
        True,
    ),
    (
        "site country",
        "query($v: String) { sites(first: 5, filter: {country: $v}) { totalCount } }",
        True,
    ),
    ("cursor", "query($v: String) { customGroups(first: 5, after: $v) { totalCount } }", True),
    ("node id", "query($v: ID!) { node(id: $v) { id } }", True),
    (
        "listed product id (a list item of an input object)",
        'mutation($v: ID!) { createCustomGroup(input: {name: "ok", productIds: ["x", $v]}) '
        "{ customGroup { id } userErrors { code } } }",
        True,
    ),
]


def as_literal(operation: str, value: str) -> str:
    """The operation with `$v` replaced by a GraphQL string literal of `value`."""
    escaped = "".join(
        c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else f"\\u{ord(c):04x}" for c in value
    )
    header, body = operation.split(")", 1)
    return header.split("(", 1)[0] + body.replace("$v", f'"{escaped}"', 1)


async def snapshot(db: asyncpg.Connection) -> dict[str, str]:
    """A digest of every table's rows: any insert, update or delete changes it."""
    tables = await db.fetch(
        "select tablename from pg_tables where schemaname = 'public' order by tablename"
    )
    digests = {}
    for row in tables:
        name = row["tablename"]
        rows = await db.fetch(f'select t::text as r from "{name}" t order by 1')
        digests[name] = hashlib.sha256("\n".join(r["r"] for r in rows).encode()).hexdigest()
    return digests


@pytest.fixture
async def tenant(db: asyncpg.Connection) -> Tenant:
    return await create_tenant(db, sites=2, products=6, seed=41)


@pytest.fixture
async def admin(db: asyncpg.Connection, tenant: Tenant) -> FleetUser:
    return await create_user(db, tenant, role="ADMIN")


@pytest.fixture(params=["compiled", "stock"])
async def any_executor(
    request: Any, settings: Settings
) -> AsyncIterator[tuple[GraphQLClient, list[str]]]:
    """A client of either executor, and the characters to try: every refused one
    with the default (compiled) executor, the first and last with the other."""
    executor = request.param
    characters = REFUSED if executor == settings.graphql_executor else [REFUSED[0], REFUSED[-1]]
    executor_settings = dataclasses.replace(settings, graphql_executor=executor)
    async with running_app(executor_settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state), characters


def assert_refused(body: dict[str, Any], context: str) -> None:
    assert body.get("data") is None, (context, body)
    codes = [e.get("extensions", {}).get("code") for e in body["errors"]]
    assert codes == ["BAD_USER_INPUT"], (context, body)


async def test_every_control_character_is_refused_in_variables_and_literals_of_every_field(
    any_executor: tuple[GraphQLClient, list[str]], db: asyncpg.Connection, admin: FleetUser
) -> None:
    client, characters = any_executor
    before = await snapshot(db)
    for name, operation, signed_in in FIELDS:
        token = admin.token if signed_in else None
        for character in characters:
            value = f"ab{character}c"
            context = f"{name}, U+{ord(character):04X}"
            body = await client.execute(operation, {"v": value}, token=token)
            assert_refused(body, f"{context}, variable")
            body = await client.execute(as_literal(operation, value), token=token)
            assert_refused(body, f"{context}, literal")
    assert await snapshot(db) == before


async def test_tab_line_feed_and_carriage_return_are_ordinary_text(
    client: GraphQLClient, admin: FleetUser
) -> None:
    description = "first line\r\n\tsecond line\n"
    for body in (
        await client.execute(FIELDS[2][1], {"v": description}, token=admin.token),
        await client.execute(as_literal(FIELDS[2][1], description), token=admin.token),
    ):
        assert body["data"]["createCustomGroup"]["userErrors"] == [], body
        assert body["data"]["createCustomGroup"]["customGroup"]["id"]
    search = await client.execute(FIELDS[3][1], {"v": "a\tb"}, token=admin.token)
    assert search["data"]["products"]["totalCount"] == 0


async def test_a_control_character_deep_in_variables_or_in_a_variable_name_is_refused(
    client: GraphQLClient, admin: FleetUser, tenant: Tenant
) -> None:
    operation = (
        "mutation($input: CustomGroupInput!) { createCustomGroup(input: $input) "
        "{ customGroup { id } userErrors { code } } }"
    )
    nested = {"name": "ok", "siteIds": [encode_id("Site", tenant.site_ids[0]), "x\x00"]}
    body = await client.execute(operation, {"input": nested}, token=admin.token)
    assert_refused(body, "list item")
    # Unused variables are input too: they never reach a resolver, but they are refused alike.
    body = await client.execute(
        operation, {"input": {"name": "ok"}, "unused\x07": "x"}, token=admin.token
    )
    assert_refused(body, "variable name")
    assert "U+0007" in body["errors"][0]["message"]


async def test_an_operation_name_with_a_control_character_is_a_coded_json_error(
    client: GraphQLClient,
) -> None:
    response = await client.http.post(
        "/graphql",
        json={"query": "query A { productFamilies { id } }", "operationName": "A\x00"},
    )
    assert response.headers["content-type"].startswith("application/json")
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_REQUEST"]


async def test_a_persisted_document_with_a_control_character_is_refused_and_not_stored(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    for document in ("{ productFamilies { id } }\x00", "{ productFamilies { id } } # \x01"):
        sha = hashlib.sha256(document.encode()).hexdigest()
        response = await client.http.post(
            "/graphql",
            json={
                "query": document,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}},
            },
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/json")
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]
    assert await db.fetchval("select count(*) from persisted_queries") == 0


@hypothesis_settings(deadline=None)
@given(
    before=st.text(st.characters(min_codepoint=0x20, exclude_characters="\x7f")),
    character=st.sampled_from(REFUSED),
    after=st.text(),
)
def test_the_check_finds_a_refused_character_anywhere_in_a_text(
    before: str, character: str, after: str
) -> None:
    found = control_character_in(before + character + after)
    assert found == f"U+{ord(character):04X}"


CLEAN_TEXT = st.text(
    st.characters(min_codepoint=0x20, exclude_characters="\x7f") | st.sampled_from(ALLOWED_CONTROLS)
)


@hypothesis_settings(deadline=None)
@given(
    st.recursive(
        CLEAN_TEXT | st.integers() | st.none(),
        lambda children: st.lists(children) | st.dictionaries(CLEAN_TEXT, children),
    ),
    st.sampled_from(REFUSED),
    st.data(),
)
def test_the_check_finds_a_refused_character_at_any_depth_of_a_json_value(
    clean: Any, character: str, data: st.DataObject
) -> None:
    assert control_character_in_value(clean) is None
    # Bury the character at a random depth, as a value or a key.
    path = data.draw(st.lists(st.booleans(), max_size=6))
    value: Any = f"x{character}"
    for as_key in path:
        value = {value: 1} if as_key and isinstance(value, str) else [clean, value]
    assert control_character_in_value(value) == f"U+{ord(character):04X}"
