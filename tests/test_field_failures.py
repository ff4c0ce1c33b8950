"""A field's failure stays at that field's path, on both executors.

graphql-core cancels the siblings of a field that fails under a non-null
parent. A sibling that awaits a DataLoader load shared with other paths must
not take that shared load down with it: the other paths still get their
value, the failing field reports its coded error at its own path, and no
`CancelledError` escapes as a crash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import asyncpg
import httpx
import pytest
import strawberry
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config import Settings
from graphql_jit.strawberry import execution_context_class
from resolvers.errors import PublicError
from resolvers.loaders import Loader, LoaderRegistry
from tests.fleet_data import create_tenant, create_user
from tests.support.app import GraphQLClient, running_app

EXECUTORS = ("stock", "compiled")

# Both executors leave the coroutines of fields under a parent already nulled
# unawaited (as tests/test_graphql_jit_core.py notes); that is not a failure.
pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()
    # Collect the abandoned coroutines while their warning is still filtered.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gc.collect()


@pytest.fixture(params=EXECUTORS)
async def app_client(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[GraphQLClient]:
    executor_settings = dataclasses.replace(settings, graphql_executor=request.param)
    async with running_app(executor_settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


# The reproduction: the inner `members(after:)` has a bad cursor;
# its sibling `domains` shares the DomainsByOrganizationId load of the outer
# `domains` (same organization).
BAD_CURSOR_BESIDE_SHARED_LOAD = """
{ viewer { organization { domains members { nodes {
    organization { domains members(after: "彝") { totalCount } } } } } } }
"""


async def test_a_bad_cursor_beside_a_shared_load_fails_only_at_its_own_path(
    app_client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db, sites=1, products=2)
    await db.execute(
        "insert into organization_domains (domain, organization_id, verified) "
        "values ('shared-load.example', $1, true)",
        tenant.organization_id,
    )
    admin = await create_user(db, tenant, role="ADMIN")
    for _ in range(2):
        await create_user(db, tenant)

    response = await app_client.http.post(
        "/graphql",
        json={"query": BAD_CURSOR_BESIDE_SHARED_LOAD},
        headers={"Authorization": f"Bearer {admin.token}"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    organization = body["data"]["viewer"]["organization"]
    assert organization["domains"] == ["shared-load.example"]
    nodes = organization["members"]["nodes"]
    assert len(nodes) == 3
    # `members` is non-null: its error nulls the inner organization, nothing more.
    assert all(node["organization"] is None for node in nodes)
    assert len(body["errors"]) == 3
    for index, error in enumerate(sorted(body["errors"], key=lambda e: e["path"][5])):
        assert error["path"] == [
            "viewer",
            "organization",
            "members",
            "nodes",
            index,
            "organization",
            "members",
        ]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


# ---------------------------------------------------------------- generic
#
# A schema of its own: `node(key)` objects (nullable) whose `value` is a
# DataLoader load shared by every node of the same key, and whose
# `check(fail, delay)` fails (coded) after `delay` turns of the event loop.
# Hypothesis builds queries of nested nodes, picks which checks fail and
# when; the batch answers only after a few turns, so failures land while
# sibling paths are still awaiting shared loads.

BATCH_TURNS = 3


class ValueByKey(Loader[int, int]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        for _ in range(BATCH_TURNS):
            await asyncio.sleep(0)
        self.context.batches.append(list(keys))  # type: ignore[attr-defined]
        return [key * 10 for key in keys]


@dataclasses.dataclass
class LoaderContext:
    batches: list[list[int]] = dataclasses.field(default_factory=list)
    loaders: LoaderRegistry = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.loaders = LoaderRegistry(self)  # type: ignore[arg-type]


@strawberry.type
class Node:
    key: int

    @strawberry.field
    async def value(self, info: strawberry.Info) -> int:
        value: int = await info.context.loaders.get(ValueByKey).load(self.key)
        return value

    @strawberry.field
    async def check(self, fail: bool, delay: int) -> int:
        for _ in range(delay):
            await asyncio.sleep(0)
        if fail:
            raise PublicError("Refused on purpose.", "BAD_USER_INPUT")
        return self.key

    @strawberry.field
    def node(self, key: int) -> Node | None:
        return Node(key=key)


@strawberry.type
class NodeQuery:
    @strawberry.field
    def node(self, key: int) -> Node | None:
        return Node(key=key)


SCHEMAS = {
    executor: strawberry.Schema(
        query=NodeQuery, execution_context_class=execution_context_class(executor)
    )
    for executor in EXECUTORS
}


@dataclasses.dataclass(frozen=True)
class Selection:
    """One `node(key:)` selection: its checks (fail, delay), value, children."""

    key: int
    value: bool
    checks: tuple[tuple[bool, int], ...]
    children: tuple[Selection, ...]

    def text(self, alias: str) -> str:
        parts = ["key"]
        if self.value:
            parts.append("value")
        parts += [
            f"c{i}: check(fail: {str(fail).lower()}, delay: {delay})"
            for i, (fail, delay) in enumerate(self.checks)
        ]
        parts += [child.text(f"n{i}") for i, child in enumerate(self.children)]
        return f"{alias}: node(key: {self.key}) {{ {' '.join(parts)} }}"

    def expected(self) -> dict[str, Any] | None:
        """graphql-core's answer: a failing check nulls its (nullable) node."""
        if any(fail for fail, _ in self.checks):
            return None
        answer: dict[str, Any] = {"key": self.key}
        if self.value:
            answer["value"] = self.key * 10
        answer.update({f"c{i}": self.key for i in range(len(self.checks))})
        answer.update({f"n{i}": child.expected() for i, child in enumerate(self.children)})
        return answer

    def nulled_paths(self, path: tuple[str, ...]) -> set[tuple[str, ...]]:
        """Paths of every node of this tree that answers null."""
        nulled = {path} if self.expected() is None else set()
        for i, child in enumerate(self.children):
            nulled |= child.nulled_paths((*path, f"n{i}"))
        return nulled


def selections(depth: int = 3) -> st.SearchStrategy[Selection]:
    checks = st.lists(st.tuples(st.booleans(), st.integers(0, BATCH_TURNS + 2)), max_size=2).map(
        tuple
    )
    children = (
        st.lists(st.deferred(lambda: selections(depth - 1)), max_size=2).map(tuple)
        if depth > 1
        else st.just(())
    )
    # Few keys, so that loads are shared between paths.
    return st.builds(Selection, st.integers(0, 2), st.booleans(), checks, children)


async def _answer(executor: str, query: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = await SCHEMAS[executor].execute(query, context_value=LoaderContext())
    return result.data or {}, [dict(error.formatted) for error in result.errors or ()]


@pytest.mark.parametrize("executor", EXECUTORS)
@hypothesis_settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(roots=st.lists(selections(), min_size=1, max_size=3))
def test_a_failing_field_leaves_loads_shared_with_other_paths_complete(
    loop: asyncio.AbstractEventLoop, executor: str, roots: list[Selection]
) -> None:
    query = "{ " + " ".join(root.text(f"r{i}") for i, root in enumerate(roots)) + " }"

    data, errors = loop.run_until_complete(_answer(executor, query))

    assert data == {f"r{i}": root.expected() for i, root in enumerate(roots)}, query
    nulled: set[tuple[str, ...]] = set()
    for i, root in enumerate(roots):
        nulled |= root.nulled_paths((f"r{i}",))
    for error in errors:
        assert error["extensions"] == {"code": "BAD_USER_INPUT"}, error
        assert tuple(error["path"][:-1]) in nulled, (query, error)
    reported = {tuple(error["path"][:-1]) for error in errors}
    # Every null whose parent answered has its error (nested ones may be dropped).
    for path in nulled:
        if not any(path[:n] in nulled for n in range(1, len(path))):
            assert path in reported, (query, path, errors)


async def test_a_database_error_in_a_load_is_a_masked_coded_error_at_its_path(
    app_client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db, sites=2, products=6)
    user = await create_user(db, tenant)
    # A failing dependency: the organizations' statement now fails in PostgreSQL.
    await db.execute("alter table organizations rename column division to division_gone")

    response = await app_client.http.post(
        "/graphql",
        json={
            "query": "{ viewer { email organization { name } } summary { productCount } "
            "customGroups { totalCount } }"
        },
        headers={"Authorization": f"Bearer {user.token}"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {
        "viewer": {"email": user.email, "organization": None},
        "summary": {"productCount": 6},
        "customGroups": {"totalCount": 0},
    }
    [error] = body["errors"]
    assert error["path"] == ["viewer", "organization"]
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"]
    assert "division" not in response.text
