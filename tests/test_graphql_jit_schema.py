"""Differential test on the application's schema: stock and compiled executors
answer the same HTTP bodies.

Two apps run over the same database, one with GRAPHQL_EXECUTOR=stock and one
with compiled. Each query goes to both (the whole path: HTTP, persisted-query
and limit extensions, masking, encoding); the bodies must be equal, apart from
the request id that masked errors carry. The queries are the bench's (the
dashboard with every field of `Summary`, one group, the mobile list) and
several hundred generated over the real schema (`graphql_jit.testing`,
seeded: Hypothesis's `@given` cannot drive a test that holds a database and
two running apps, so the same generator runs from fixed seeds), with the
tenant's real ids among the argument values so that they reach data.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from bench.scenarios import DASHBOARD, GROUP_SUMMARY, MOBILE_LIST
from config import Settings
from graphql_jit.testing import generate_query
from resolvers.ids import encode_id
from schema import build_schema
from tests.fleet_data import FleetUser, Tenant, create_tenant, create_user
from tests.support.app import GraphQLClient, running_app

GENERATED = 400

CREATE_GROUP = """
mutation($input: CustomGroupInput!) {
  createCustomGroup(input: $input) { customGroup { id } userErrors { code } }
}
"""


@dataclasses.dataclass
class Pair:
    stock: GraphQLClient
    compiled: GraphQLClient

    async def answers(
        self, query: str, variables: dict[str, Any] | None, token: str | None
    ) -> tuple[Any, Any]:
        stock = await self.stock.execute(query, variables, token=token)
        compiled = await self.compiled.execute(query, variables, token=token)
        return _normalised(stock), _normalised(compiled)

    async def assert_same(
        self, query: str, variables: dict[str, Any] | None, token: str | None
    ) -> Any:
        """The compiled executor answers as the stock one does.

        Concurrent resolvers can make the stock answer itself vary: when several
        of them fail under the same non-null parent, the error that reaches it
        first is the one reported (graphql-core drops the others). So when the
        first answers differ, both executors run the query again, and every
        answer the compiled executor gave must be one the stock executor gives.
        """
        stock, compiled = await self.answers(query, variables, token)
        if compiled == stock:
            return stock
        stock_answers = [stock]
        compiled_answers = [compiled]
        for _ in range(5):
            again, compiled_again = await self.answers(query, variables, token)
            stock_answers.append(again)
            compiled_answers.append(compiled_again)
        for _ in range(30):
            if all(answer in stock_answers for answer in compiled_answers):
                return stock
            stock_answers.append(
                _normalised(await self.stock.execute(query, variables, token=token))
            )
        missing = [answer for answer in compiled_answers if answer not in stock_answers]
        raise AssertionError(f"compiled answered {missing[0]!r}, stock only {stock_answers!r}")


def _normalised(body: Any) -> Any:
    """The body without the request ids of masked errors (one per request)."""
    if isinstance(body, dict):
        return {k: _normalised(v) for k, v in body.items() if k != "requestId"}
    if isinstance(body, list):
        return [_normalised(item) for item in body]
    return body


@pytest.fixture
async def pair(settings: Settings) -> AsyncIterator[Pair]:
    stock_settings = dataclasses.replace(settings, graphql_executor="stock")
    compiled_settings = dataclasses.replace(settings, graphql_executor="compiled")
    async with (
        running_app(stock_settings) as (stock_app, stock_state),
        running_app(compiled_settings) as (compiled_app, compiled_state),
    ):
        stock_transport = httpx.ASGITransport(app=stock_app, client=("127.0.0.1", 50001))
        compiled_transport = httpx.ASGITransport(app=compiled_app, client=("127.0.0.1", 50002))
        async with (
            httpx.AsyncClient(transport=stock_transport, base_url="http://testserver") as s,
            httpx.AsyncClient(transport=compiled_transport, base_url="http://testserver") as c,
        ):
            yield Pair(GraphQLClient(s, stock_state), GraphQLClient(c, compiled_state))


@dataclasses.dataclass
class World:
    tenant: Tenant
    admin: FleetUser
    limited: FleetUser
    group_ids: list[str]
    family_ids: list[str]


@pytest.fixture
async def world(db: asyncpg.Connection, pair: Pair) -> World:
    tenant = await create_tenant(db, sites=4, products=60, seed=7)
    admin = await create_user(db, tenant, role="ADMIN")
    limited = await create_user(db, tenant, step="COMPLETE_PROFILE")
    family_pks = [row["id"] for row in await db.fetch("select id from product_families")]
    group_ids = []
    for index in range(3):
        body = await pair.stock.execute(
            CREATE_GROUP,
            {
                "input": {
                    "name": f"Group {index}",
                    "siteIds": [tenant.site_gid(index)],
                    "productIds": [tenant.product_gid(index)],
                }
            },
            token=admin.token,
        )
        payload = body["data"]["createCustomGroup"]
        assert payload["userErrors"] == [], payload
        group_ids.append(payload["customGroup"]["id"])
    return World(
        tenant,
        admin,
        limited,
        group_ids,
        [encode_id("ProductFamily", pk) for pk in family_pks[:3]],
    )


async def test_the_bench_documents_answer_the_same(pair: Pair, world: World) -> None:
    cases: list[tuple[str, dict[str, Any] | None]] = [
        (DASHBOARD, None),
        (GROUP_SUMMARY, {"groupId": world.group_ids[0]}),
        (GROUP_SUMMARY, {"groupId": encode_id("CustomGroup", 999_999)}),
        (MOBILE_LIST, {"familyIds": world.family_ids, "after": None}),
    ]
    for query, variables in cases:
        for token in (world.admin.token, world.limited.token, None):
            await pair.assert_same(query, variables, token)
    stock, _ = await pair.answers(DASHBOARD, None, world.admin.token)
    assert len(stock["data"]["customGroups"]["nodes"]) == len(world.group_ids)


async def test_generated_queries_answer_the_same(pair: Pair, world: World) -> None:
    schema = build_schema(Settings())._schema
    ids = [
        *world.group_ids,
        *world.family_ids,
        world.tenant.site_gid(0),
        world.tenant.site_gid(1),
        world.tenant.product_gid(0),
        world.tenant.product_gid(5),
        world.admin.id,
        "not-an-id",
    ]
    executed = 0
    for seed in range(GENERATED):
        rng = random.Random(seed)
        query = generate_query(
            rng,
            schema,
            max_depth=5,
            max_fields=4,
            scalar_values={"ID": ids, "Date": ["2026-01-01"], "DateTime": []},
            # Cursors come from answers; a made-up one is refused before any data.
            omit_arguments=["after"],
        )
        token = world.admin.token if seed % 5 else world.limited.token
        try:
            answer = await pair.assert_same(query.text, query.variables, token)
        except AssertionError as error:
            raise AssertionError(f"seed {seed}: {query}") from error
        executed += answer.get("data") is not None or any(
            "path" in error for error in answer.get("errors", ())
        )
    # Most generated documents must have run (not stopped by validation or limits).
    assert executed >= GENERATED * 0.6, executed
