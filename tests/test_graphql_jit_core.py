"""Differential tests without Strawberry: graphql-core's default resolver over
dicts and objects (callables included), async ``is_type_of``, ``resolve_type``,
custom scalars and middleware, with ``CompiledExecutor`` against graphql-core's
own ``IncrementalExecutor``."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLError,
    GraphQLScalarType,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.execution.incremental import IncrementalExecutor
from hypothesis import HealthCheck, given, settings

from graphql_jit import CompiledExecutor, compiled_executor_class
from graphql_jit.testing import GeneratedQuery, formatted_result, queries

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

SDL = """
scalar Money

enum Kind { SMALL LARGE }

interface Thing { name: String! }

type Box implements Thing {
  name: String!
  size: Int
  kind: Kind
  price: Money
  items: [Item!]
  loose: [Item]
  child: Box
  strict: Box!
  label(upper: Boolean = false): String
}

type Item implements Thing {
  name: String!
  weight: Float!
  tags: [String!]!
}

union Any = Box | Item

type Query {
  box: Box
  boxes: [Box]
  things: [Thing]
  anys: [Any]
  slowBox: Box
  number: Int!
}
"""

SCHEMA = build_schema(SDL)


def _money(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError(f"not money: {value!r}")
    return f"${value}"


money = SCHEMA.type_map["Money"]
assert isinstance(money, GraphQLScalarType)
money.coerce_output_value = _money


async def _is_item(value: Any, _info: Any) -> bool:
    await asyncio.sleep(0)
    return isinstance(value, dict) and "weight" in value


SCHEMA.type_map["Item"].is_type_of = _is_item  # type: ignore[attr-defined]
SCHEMA.type_map["Thing"].resolve_type = (  # type: ignore[attr-defined]
    lambda value, _info, _type: "Item" if "weight" in value else "Box"
)
SCHEMA.type_map["Any"].resolve_type = (  # type: ignore[attr-defined]
    lambda value, _info, _type: value.get("__typename")
)


class Labelled:
    """An object whose `label` is a method the default resolver calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.size = 3
        self.kind = "SMALL"
        self.strict = {"name": "inner", "strict": None}

    def label(self, _info: Any, upper: bool = False) -> str:
        return self.name.upper() if upper else self.name


def _item(name: str, weight: Any = 1.5, tags: Any = ("a",)) -> dict[str, Any]:
    return {"name": name, "weight": weight, "tags": list(tags) if tags is not None else None}


ITEMS = [_item("i1"), _item("i2", weight=None), _item("i3", tags=["x", None]), _item("i4", 2)]
BOX: dict[str, Any] = {
    "__typename": "Box",
    "name": "box",
    "size": 2**33,
    "kind": "LARGE",
    "price": 12,
    "items": ITEMS,
    "loose": [ITEMS[0], None, {"name": "not an item"}],
    "child": Labelled("child"),
    "strict": {"name": "strict", "strict": {"name": "deeper"}},
    "label": lambda _info, upper=False: "LABEL" if upper else "label",
}


async def _slow_box(_info: Any) -> Any:
    await asyncio.sleep(0)
    return {"name": "slow", "price": "nope", "items": ITEMS[:1], "strict": BOX}


ROOT: dict[str, Any] = {
    "box": BOX,
    "boxes": [BOX, None, Labelled("second"), {"name": None}],
    "things": [BOX, ITEMS[0], ITEMS[1]],
    "anys": [{**ITEMS[0], "__typename": "Item"}, BOX, {"__typename": "Nope"}],
    "slowBox": _slow_box,
    "number": 7,
}


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()
    # Collect the coroutines both executors abandoned (see pytestmark) while
    # their warnings are still filtered, rather than at interpreter exit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gc.collect()


def run(
    loop: asyncio.AbstractEventLoop,
    executor_class: Any,
    text: str,
    variables: dict[str, Any] | None = None,
    **kwargs: Any,
) -> str:
    result: Any = execute(
        SCHEMA,
        parse(text),
        root_value=ROOT,
        variable_values=variables,
        executor_class=executor_class,
        **kwargs,
    )
    if asyncio.iscoroutine(result):
        result = loop.run_until_complete(result)
    pending = asyncio.all_tasks(loop)
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    return formatted_result(result.data, result.errors)


CASES = [
    "{ box { name size kind price label label2: label(upper: true) } }",
    "{ box { items { name weight tags } loose { name weight } } }",
    "{ box { child { name size kind label strict { name } } } }",
    "{ box { strict { name strict { name strict { name } } } } }",
    "{ boxes { name size child { name } } }",
    "{ things { name __typename ... on Item { weight tags } ... on Box { size } } }",
    "{ anys { __typename ... on Item { name } ... on Box { name } } }",
    "{ slowBox { name price items { name } strict { name items { weight } } } }",
    "{ number box { name } slowBox { name } }",
]


@pytest.mark.parametrize("text", CASES)
def test_default_resolver_and_abstract_types(loop: asyncio.AbstractEventLoop, text: str) -> None:
    assert run(loop, CompiledExecutor, text) == run(loop, IncrementalExecutor, text)


def _shout(next_: Any, root: Any, info: Any, **args: Any) -> Any:
    value = next_(root, info, **args)
    return value.upper() if isinstance(value, str) else value


@pytest.mark.parametrize("text", CASES[:4])
def test_middleware_runs_the_stock_way(loop: asyncio.AbstractEventLoop, text: str) -> None:
    compiled = run(loop, compiled_executor_class(), text, middleware=[_shout])
    assert compiled == run(loop, IncrementalExecutor, text, middleware=[_shout])


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(query=queries(SCHEMA, max_depth=4, scalar_values={"Money": []}))
def test_generated_queries(loop: asyncio.AbstractEventLoop, query: GeneratedQuery) -> None:
    if validate(SCHEMA, parse(query.text)):
        return
    stock = run(loop, IncrementalExecutor, query.text, query.variables)
    assert run(loop, CompiledExecutor, query.text, query.variables) == stock, query
