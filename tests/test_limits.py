"""Guards of the API: query cost, depth, aliases, tokens, masked errors, no suggestions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import httpx
import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.datastructures import Secret

from config import Settings
from schema import build_schema
from schema.cost import FIELD_COSTS, FIRST, query_cost
from tests.fleet_data import SUMMARY_FIELDS, create_tenant, create_user
from tests.support.app import GraphQLClient, running_app


def _is_list(field_type: object) -> bool:
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    return isinstance(inner, GraphQLList)


def test_every_list_and_connection_field_of_the_schema_is_priced(settings: Settings) -> None:
    schema = build_schema(settings)._schema
    unpriced = []
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            named = get_named_type(field.type)
            if _is_list(field.type) or named.name.endswith("Connection"):
                if f"{type_name}.{field_name}" not in FIELD_COSTS:
                    unpriced.append(f"{type_name}.{field_name}")
    assert unpriced == []
    # Connections are paid by `first`, and both summaries are priced.
    connections = [
        f"{t}.{f}"
        for t, gt in schema.type_map.items()
        if isinstance(gt, GraphQLObjectType) and not t.startswith("__")
        for f, field in gt.fields.items()
        if get_named_type(field.type).name.endswith("Connection")
    ]
    assert connections and all(FIELD_COSTS[c].times == FIRST for c in connections)
    assert FIELD_COSTS["Query.summary"].own >= 250
    assert FIELD_COSTS["CustomGroup.summary"].own >= 250


def test_list_fields_cost_by_their_first_argument(settings: Settings) -> None:
    from graphql import parse

    schema = build_schema(settings)._schema

    def cost(query: str, variables: dict[str, object] | None = None) -> int:
        return query_cost(schema, parse(query), None, variables)

    ten = cost("{ products(first: 10) { nodes { id name } } }")
    hundred = cost("query($n: Int) { products(first: $n) { nodes { id name } } }", {"n": 100})
    default = cost("{ products { nodes { id name } } }")
    assert hundred > ten and default == cost("{ products(first: 20) { nodes { id name } } }")
    nested = cost("{ customGroups(first: 10) { nodes { products(first: 10) { nodes { id } } } } }")
    assert nested >= 100


TWO_HUNDRED_SUMMARIES = f"""
{{
  a: customGroups(first: 100) {{ nodes {{ summary {{ {SUMMARY_FIELDS} }} }} }}
  b: customGroups(first: 100) {{ nodes {{ summary {{ {SUMMARY_FIELDS} }} }} }}
}}
"""

FLEET_AND_HUNDRED_GROUPS = f"""
{{
  summary {{ {SUMMARY_FIELDS} }}
  customGroups(first: 100) {{ nodes {{ id name summary {{ {SUMMARY_FIELDS} }} }} }}
}}
"""


async def test_two_hundred_summaries_are_refused_before_running_any_sql(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db, sites=1, products=3)
    user = await create_user(db, tenant)
    body = await client.execute(TWO_HUNDRED_SUMMARIES, token=user.token)
    assert body.get("data") is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"] == 50_000
    assert "fewer summaries" in error["message"]
    # The largest legitimate dashboard (fleet + a user's 100 groups) passes.
    allowed = await client.execute(FLEET_AND_HUNDRED_GROUPS, token=user.token)
    assert "errors" not in allowed, allowed
    assert allowed["data"]["summary"]["productCount"] == 3


async def test_two_hundred_aliased_summaries_are_refused(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db, sites=1, products=3)
    user = await create_user(db, tenant)
    aliased = " ".join(f"s{i}: summary {{ productCount }}" for i in range(200))
    body = await client.execute(f"{{ {aliased} }}", token=user.token)
    assert body.get("data") is None
    assert body["errors"], body


def _nested(depth: int) -> str:
    """A valid query `depth` fields deep: Organization.members and User.organization loop."""
    inner = "id"
    levels = 2  # viewer { organization ...
    while levels + 3 <= depth:
        inner = f"members {{ nodes {{ organization {{ {inner} }} }} }}"
        levels += 3
    return "{ viewer { organization { " + inner + " } } }"


async def test_a_fifteen_deep_query_is_refused(client: GraphQLClient) -> None:
    deep = _nested(15)
    assert deep.count("{") - 1 >= 14
    body = await client.execute(deep)
    assert body.get("data") is None
    assert [e["message"] for e in body["errors"]] == [
        "'anonymous' exceeds maximum operation depth of 12"
    ]
    shallow = await client.execute("{ viewer { organization { id } } }")
    assert "errors" not in shallow


async def test_too_many_aliases_or_tokens_are_refused(client: GraphQLClient) -> None:
    aliases = " ".join(f"f{i}: productFamilies {{ id }}" for i in range(121))
    body = await client.execute(f"{{ {aliases} }}")
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"].lower()
    tokens = "{ " + " ".join("productFamilies { id name }" for _ in range(2600)) + " }"
    body = await client.execute(tokens)
    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()


@pytest.fixture
async def production_client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    production = replace(settings, env="production", secret_key=Secret("s" * 40))
    async with running_app(production) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


async def test_field_suggestions_are_off_in_production_only(
    client: GraphQLClient, production_client: GraphQLClient
) -> None:
    typo = "{ productFamilys { id } }"
    development = await client.execute(typo)
    assert "Did you mean" in development["errors"][0]["message"]
    production = await production_client.execute(typo)
    message = production["errors"][0]["message"]
    assert "Cannot query field" in message and "Did you mean" not in message
    assert "productFamilies" not in message


async def test_unexpected_errors_are_masked_with_the_request_id_that_the_log_carries(
    client: GraphQLClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await create_tenant(db, sites=1, products=3)
    user = await create_user(db, tenant)
    # A real failure inside PostgreSQL: the table behind the counts is gone.
    await db.execute("drop table product_open_requests cascade")
    with caplog.at_level(logging.ERROR, logger="service360.errors"):
        response = await client.http.post(
            "/graphql",
            json={"query": "{ products { nodes { id openServiceRequestCount } } }"},
            headers={"Authorization": f"Bearer {user.token}", "X-Request-ID": "req-masked-123"},
        )
    body = response.json()
    error = body["errors"][0]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": "req-masked-123",
    }
    assert "product_open_requests" not in response.text
    logged = [r for r in caplog.records if r.name == "service360.errors"]
    assert logged and logged[0].exc_info is not None
    assert "product_open_requests" in str(logged[0].exc_info[1])


async def test_refused_documents_carry_a_code_saying_why(client: GraphQLClient) -> None:
    deep = "{ viewer { " + "organization { members { nodes { " * 5 + "id" + " } } }" * 5 + " } }"
    # 130 aliases: over MAX_ALIASES, within the token and selection ceilings
    # of a request without a session (which would refuse 500 first).
    aliased = "{ " + " ".join(f"f{n}: productFamilies {{ name }}" for n in range(130)) + " }"
    huge = "{ productFamilies { " + "name " * 20_000 + "} }"
    cases = {
        deep: "QUERY_TOO_DEEP",
        aliased: "TOO_MANY_ALIASES",
        huge: "QUERY_TOO_LARGE",
        "{ productFamilies { nam } }": "GRAPHQL_VALIDATION_FAILED",
        "{ productFamilies { name }": "GRAPHQL_PARSE_FAILED",
    }
    for query, code in cases.items():
        body = await client.execute(query)
        assert body.get("data") is None, code
        assert {e["extensions"]["code"] for e in body["errors"]} == {code}, body["errors"]


# -- bounds before validation (schema/document_bounds.py) ------------------------

REPEATED_VIEWER = "{" + " viewer { id }" * 1000 + "}"  # issue 12's 11 kB document


def _fan_out(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels selections in ~40 bytes a level."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ viewer {{ id }} }}"


async def test_repeated_fields_are_refused_by_count_before_validation(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db, sites=1, products=1)
    user = await create_user(db, tenant)
    body = await client.execute(REPEATED_VIEWER, token=user.token)
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "selections": 2000,
        "maxSelections": 1000,
    }
    # Without a session the same text is over the lower token ceiling.
    anonymous = await client.execute(REPEATED_VIEWER)
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["QUERY_TOO_LARGE"]
    assert "1000 tokens" in anonymous["errors"][0]["message"]


async def test_fragments_spreading_fragments_are_counted_where_spread(
    client: GraphQLClient,
) -> None:
    # 2**16 selections from 700 bytes; inlining them took seconds at parse time.
    body = await client.execute(_fan_out(16))
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["selections"] == 2 * 2**16
    assert "without a session" in error["message"]
    # A cycle counts nothing and is left to validation, which names it.
    cycle = "{ ...A } fragment A on Query { viewer { id } ...B } fragment B on Query { ...A }"
    body = await client.execute(cycle)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Cannot spread fragment" in body["errors"][0]["message"]


async def test_field_merging_work_is_bounded(client: GraphQLClient) -> None:
    # 200 selections and 400 tokens pass the counts; comparing the 100 repeats
    # pairwise is what costs (graphql-core's own budget allows ~1 s of it).
    repeated = "{" + " viewer { id }" * 100 + "}"
    body = await client.execute(repeated)
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert "too much work to validate" in body["errors"][0]["message"]
    # A few repeats, as fragments of a real client make, are fine.
    few = await client.execute("{" + " viewer { id }" * 5 + "}")
    assert few == {"data": {"viewer": None}}


async def test_large_legitimate_documents_pass_the_bounds(client: GraphQLClient) -> None:
    from graphql import get_introspection_query

    introspection = get_introspection_query(
        descriptions=True, specified_by_url=True, directive_is_repeatable=True
    )
    body = await client.execute(introspection)
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"


def _naive_count(document: str) -> tuple[int, int, int]:
    """Fragments inlined at every spread, recursively (exponential, for small
    cases); the depth is Strawberry's QueryDepthLimiter's own."""
    from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, parse
    from strawberry.extensions.query_depth_limiter import determine_depth

    parsed = parse(document)
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def walk(selection_set: object) -> tuple[int, int]:
        fields = aliases = 0
        for selection in getattr(selection_set, "selections", ()):
            if isinstance(selection, FieldNode):
                inner = walk(selection.selection_set)
                fields += 1 + inner[0]
                aliases += (selection.alias is not None) + inner[1]
            elif isinstance(selection, FragmentSpreadNode):
                inner = walk(fragments[selection.name.value].selection_set)
                fields, aliases = fields + inner[0], aliases + inner[1]
            else:
                inner = walk(selection.selection_set)
                fields, aliases = fields + inner[0], aliases + inner[1]
        return fields, aliases

    operation = parsed.definitions[0]
    depth = determine_depth(
        node=operation,
        fragments=fragments,
        depth_so_far=0,
        max_depth=10**6,
        context=None,  # type: ignore[arg-type]  # only used to report, never here
        operation_name="anonymous",
        should_ignore=None,
    )
    return (*walk(operation.selection_set), depth)  # type: ignore[attr-defined]


@st.composite
def _fragment_documents(draw: st.DrawFn) -> str:
    """An operation and fragments that spread only later fragments (no cycles)."""
    count = draw(st.integers(0, 6))

    def body(first_spreadable: int) -> str:
        parts = []
        for _ in range(draw(st.integers(1, 4))):
            kinds = ["field", "alias", "nested", "inline", "spread", "deep", "introspection"]
            kind = draw(st.sampled_from(kinds))
            spreadable = first_spreadable < count
            spread = f"...F{draw(st.integers(first_spreadable, count - 1))}" if spreadable else ""
            if kind == "spread" and spreadable:
                parts.append(spread)
            elif kind == "alias":
                parts.append("a: id")
            elif kind == "nested":
                parts.append("organization { id name }")
            elif kind == "deep":
                parts.append(f"organization {{ members {{ nodes {{ id {spread} }} }} }}")
            elif kind == "introspection":
                parts.append(f'__type(name: "User") {{ ofType {{ name }} {spread} }}')
            elif kind == "inline":
                parts.append("... on User { email }")
            else:
                parts.append("id")
        return " ".join(parts)

    fragments = " ".join(f"fragment F{i} on User {{ {body(i + 1)} }}" for i in range(count))
    return f"{{ viewer {{ {body(0)} }} }} {fragments}"


@given(_fragment_documents())
@hypothesis_settings(max_examples=200, deadline=None)
def test_measure_equals_fragments_inlined_and_strawberrys_depth(document: str) -> None:
    from graphql import parse

    from schema.document_bounds import measure

    measured = measure(parse(document))
    assert (measured.selections, measured.aliases, measured.depths[0][1]) == _naive_count(document)


# -- cost from coerced variables; list arguments capped (schema/cost.py) ---------

SITES_AND_PRODUCTS = """
query Fleet{variables} {{
  {fields}
}}
"""


def _fleet_query(first: str, default: str = "") -> str:
    fields = " ".join(
        f"s{i}: customGroups(first: {first}) "
        f"{{ nodes {{ products(first: {first}) {{ nodes {{ id }} }} }} }}"
        for i in range(5)
    )
    variables = f"($n: Int{default})" if first == "$n" else ""
    return SITES_AND_PRODUCTS.format(variables=variables, fields=fields)


async def test_cost_uses_variables_as_execution_coerces_them(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db, sites=1, products=3)
    user = await create_user(db, tenant)
    literal = await client.execute(_fleet_query("100"), token=user.token)
    assert literal["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    cost = literal["errors"][0]["extensions"]["cost"]
    # The same number from a variable's default, or sent as a float, costs the same.
    for query, variables in (
        (_fleet_query("$n", " = 100"), {}),
        (_fleet_query("$n"), {"n": 100.0}),
        (_fleet_query("$n"), {"n": 100}),
    ):
        body = await client.execute(query, variables, token=user.token)
        assert body.get("data") is None, (query, variables)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["extensions"]["cost"] == cost
    small = await client.execute(_fleet_query("$n", " = 10"), token=user.token)
    assert "errors" not in small, small


async def test_long_list_arguments_are_refused_before_any_resolver(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db, sites=1, products=3)
    admin = await create_user(db, tenant, role="ADMIN")
    many = [f"U2l0ZTo{i}" for i in range(50_000)]
    groups_before = await db.fetchval("select count(*) from custom_groups")
    mutation = """
      mutation($ids: [ID!]) { createCustomGroup(input: {name: "big", siteIds: $ids}) {
        customGroup { id } userErrors { field code } } }
    """
    response = await client.http.post(
        "/graphql",
        json={"query": mutation, "variables": {"ids": many}},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    body = response.json()
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "createCustomGroup.input.siteIds",
        "maxItems": 1000,
    }
    assert len(response.content) < 1000
    assert await db.fetchval("select count(*) from custom_groups") == groups_before
    # Literal lists and lists inside filters too; families are few.
    families = ", ".join(f'"RmFtaWx5Ojk5OTk{i}"' for i in range(101))
    literal = await client.execute(
        f"{{ products(filter: {{familyIds: [{families}]}}) {{ totalCount }} }}", token=admin.token
    )
    assert literal["errors"][0]["extensions"]["argument"] == "products.filter.familyIds"
    assert literal["errors"][0]["extensions"]["maxItems"] == 100
    fine = await client.execute(
        "query($ids: [ID!]) { products(filter: {siteIds: $ids}) { totalCount } }",
        {"ids": many[:1000]},
        token=admin.token,
    )
    assert "errors" not in fine, fine
