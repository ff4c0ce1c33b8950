"""Differential tests: graphql_jit's compiled executor answers as graphql-core's.

A self-contained Strawberry schema (objects, lists, nullability, enums, custom
scalars, interfaces, unions, async resolvers, arguments, resolvers that raise)
over data that breaks every rule it can: nulls in non-null fields, values of
the wrong type, missing attributes, properties that raise, invalid enum values,
failing custom scalars, lists that are not lists. Every query runs through
Strawberry with the stock executor and with the compiled one; the answers must
be the same JSON, with the same errors (message, path, locations, extensions),
in the same order.
"""

from __future__ import annotations

import asyncio
import enum
import gc
import logging
import warnings
from collections.abc import Awaitable, Iterator
from types import SimpleNamespace
from typing import Annotated, Any, NewType, cast

import pytest
import strawberry
from graphql import GraphQLError, OperationDefinitionNode, execute, parse
from graphql.execution import MiddlewareManager
from hypothesis import HealthCheck, given, settings
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import MaskErrors
from strawberry.schema.schema import validate_document

from graphql_jit import PlanCache
from graphql_jit.strawberry import strawberry_executor_class
from graphql_jit.testing import GeneratedQuery, formatted_result, queries

# graphql-core's stock executor drops some pending coroutines when a non-null
# error ends a selection set early (it closes or abandons them); the compiled
# executor does the same, by calling the same code. Not what is tested here.
pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

# -- schema ------------------------------------------------------------------------


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


def _serialize_stamp(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a stamp: {value!r}")
    if value < 0:
        return None  # the stock executor reports a null coercion
    return f"T{value}"


Stamp = strawberry.scalar(
    NewType("Stamp", int),
    serialize=_serialize_stamp,
    parse_value=lambda value: int(str(value).lstrip("T")),
)


@strawberry.type
class Stats:
    count: int
    ratio: float | None
    label: str | None
    flag: bool
    color: Color | None
    stamp: Stamp | None  # type: ignore[valid-type]
    tags: list[str]
    maybe_tags: list[str | None] | None
    colors: list[Color]


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Leaf(Named):
    name: str
    size: int | None
    color: Color
    stats: Stats | None
    strict_stats: Stats

    @strawberry.field
    def boom(self) -> int | None:
        raise ValueError(f"boom in {self.name}")

    @strawberry.field
    def public_error(self) -> str | None:
        raise GraphQLError("refused", extensions={"code": "REFUSED", "leaf": self.name})

    @strawberry.field
    async def later(self, times: int = 1) -> int | None:
        await asyncio.sleep(0)
        if times < 0:
            raise ValueError("negative times")
        return (self.size or 0) * times


@strawberry.type
class Branch(Named):
    name: str
    leaves: list[Leaf]
    strict_leaves: list[Leaf]
    loose_leaves: list[Leaf | None] | None
    stats_list: list[Stats] | None
    parent: Branch | None

    @strawberry.field
    def pick(self, index: int) -> Leaf | None:
        return self.leaves[index] if 0 <= index < len(self.leaves) else None

    @strawberry.field
    async def async_leaves(self) -> list[Leaf]:
        await asyncio.sleep(0)
        return self.leaves

    @strawberry.field
    async def async_stats(self, fail: bool = False) -> Stats:
        await asyncio.sleep(0)
        if fail:
            raise ValueError("async stats failed")
        return GOOD_STATS


Thing = Annotated[Leaf | Branch, strawberry.union("Thing")]


@strawberry.input
class Filter:
    color: Color | None = None
    min_size: int | None = None
    names: list[str] | None = None


@strawberry.type
class Query:
    tree: Branch
    maybe_tree: Branch | None
    trees: list[Branch]
    stats: Stats
    broken_stats: Stats | None
    stats_list: list[Stats | None]
    strict_stats_list: list[Stats]

    @strawberry.field
    def things(self) -> list[Thing]:
        return [*ALL_LEAVES[:3], TREE, *ALL_LEAVES[3:5]]

    @strawberry.field
    def named(self) -> list[Named]:
        return [TREE, ALL_LEAVES[0], ALL_LEAVES[2]]

    @strawberry.field
    def leaves(self, filter: Filter | None = None, first: int = 10) -> list[Leaf]:
        result = []
        for leaf in ALL_LEAVES:
            if filter is not None:
                if filter.color is not None and getattr(leaf, "color", None) != filter.color:
                    continue
                if filter.min_size is not None and not (
                    isinstance(leaf.size, int) and leaf.size >= filter.min_size
                ):
                    continue
                if filter.names is not None and leaf.name not in filter.names:
                    continue
            result.append(leaf)
        return result[: max(first, 0)]

    @strawberry.field
    async def async_tree(self) -> Branch:
        await asyncio.sleep(0)
        return TREE

    @strawberry.field
    async def failing(self, message: str = "failing") -> Branch | None:
        raise ValueError(message)

    @strawberry.field
    def strict_failing(self) -> Stats:
        raise RuntimeError("strict failing")

    @strawberry.field
    def echo(self, text: str | None = None, color: Color | None = None, n: int = 0) -> str:
        return f"{text}:{color.name if color else None}:{n}"

    @strawberry.field
    def typed(self, id: strawberry.ID) -> Named | None:
        return TREE if id == "1" else ALL_LEAVES[0] if id == "2" else None


# -- data: good values and every kind of bad one ------------------------------------------


def _stats(**overrides: Any) -> Stats:
    values: dict[str, Any] = {
        "count": 3,
        "ratio": 0.5,
        "label": "ok",
        "flag": True,
        "color": Color.RED,
        "stamp": 42,
        "tags": ["a", "b"],
        "maybe_tags": ["x", None],
        "colors": [Color.GREEN, Color.BLUE],
    }
    values.update(overrides)
    return Stats(**values)


class ExplodingStats:
    """Not a Stats: a property raises, and some attributes are missing."""

    count = 1
    ratio = None
    flag = False
    tags: list[str] = []

    @property
    def label(self) -> str:
        raise RuntimeError("label exploded")


GOOD_STATS = _stats()
BAD_STATS: list[Any] = [
    _stats(count=2**40),  # Int out of range
    _stats(count=None),  # null in non-null
    _stats(count="12"),  # string coerced by Int
    _stats(count=True),  # bool coerced by Int
    _stats(count=1.0),  # float coerced by Int
    _stats(ratio=float("nan")),
    _stats(ratio=3),  # int coerced by Float
    _stats(label=7),  # int coerced by String
    _stats(label=["x"]),  # list is not a String
    _stats(flag=0),
    _stats(flag=None),
    _stats(color="purple"),
    _stats(color="red"),  # raw value of an enum member
    _stats(stamp=-1),  # custom scalar answers null
    _stats(stamp="x"),  # custom scalar raises
    _stats(tags=["a", None]),  # null item in non-null list
    _stats(tags=None),
    _stats(tags=5),  # not a list
    _stats(tags=("t", "u")),  # a tuple is a list
    _stats(tags="abc"),  # a string is not a list
    _stats(maybe_tags=[1, None, True]),
    _stats(colors=[Color.RED, "nope"]),
    _stats(colors=[]),
    ExplodingStats(),
    SimpleNamespace(count=5),
]
ALL_STATS: list[Any] = [GOOD_STATS, *BAD_STATS]


def _leaf(index: int, **overrides: Any) -> Leaf:
    values: dict[str, Any] = {
        "name": f"leaf{index}",
        "size": index,
        "color": list(Color)[index % 3],
        "stats": ALL_STATS[index % len(ALL_STATS)],
        "strict_stats": ALL_STATS[(index * 7) % len(ALL_STATS)],
    }
    values.update(overrides)
    return Leaf(**values)


ALL_LEAVES: list[Any] = [
    _leaf(0),
    _leaf(1),
    _leaf(2, size=None),
    _leaf(3, name=None),  # null in non-null
    _leaf(4, size="large"),
    _leaf(5, stats=None),
    _leaf(6, strict_stats=None),
    _leaf(7, color="teal"),
    *(_leaf(index) for index in range(8, 26)),
]

PARENT = Branch(
    name="parent",
    leaves=ALL_LEAVES[:2],
    strict_leaves=ALL_LEAVES[:2],
    loose_leaves=None,
    stats_list=None,
    parent=None,
)
TREE = Branch(
    name="tree",
    leaves=ALL_LEAVES[:8],
    strict_leaves=[*ALL_LEAVES[:3], None],  # type: ignore[list-item]
    loose_leaves=[ALL_LEAVES[0], None, ALL_LEAVES[3], cast(Any, SimpleNamespace(name="ns"))],
    stats_list=ALL_STATS[:10],
    parent=PARENT,
)
ROOT = Query(
    tree=TREE,
    maybe_tree=Branch(
        name=None,  # type: ignore[arg-type]
        leaves=ALL_LEAVES[8:],
        strict_leaves=ALL_LEAVES[8:12],
        loose_leaves=ALL_LEAVES[12:14],
        stats_list=ALL_STATS[10:],
        parent=TREE,
    ),
    trees=[TREE, PARENT],
    stats=GOOD_STATS,
    broken_stats=BAD_STATS[0],
    stats_list=[*ALL_STATS, None],
    strict_stats_list=ALL_STATS[::3],
)

# -- executing with both executors --------------------------------------------------------

PLANS = PlanCache()
STOCK = strawberry.Schema(query=Query)
COMPILED = strawberry.Schema(query=Query, execution_context_class=strawberry_executor_class(PLANS))
STOCK_MASKED = strawberry.Schema(query=Query, extensions=[MaskErrors])
COMPILED_MASKED = strawberry.Schema(
    query=Query,
    extensions=[MaskErrors],
    execution_context_class=strawberry_executor_class(PLANS),
)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()
    # Collect the coroutines both executors abandoned (see pytestmark) while
    # their warnings are still filtered, rather than at interpreter exit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gc.collect()


def run_both(
    loop: asyncio.AbstractEventLoop,
    text: str,
    variables: dict[str, Any] | None = None,
    masked: bool = False,
) -> tuple[str, str]:
    stock_schema, compiled_schema = (STOCK_MASKED, COMPILED_MASKED) if masked else (STOCK, COMPILED)
    stock = loop.run_until_complete(
        stock_schema.execute(text, variable_values=variables, root_value=ROOT)
    )
    settle(loop)
    compiled = loop.run_until_complete(
        compiled_schema.execute(text, variable_values=variables, root_value=ROOT)
    )
    settle(loop)
    return formatted_result(stock.data, stock.errors), formatted_result(
        compiled.data, compiled.errors
    )


HAND_WRITTEN = [
    "{ stats { count ratio label flag color stamp tags maybeTags colors __typename } }",
    "{ statsList { count ratio label flag color stamp tags maybeTags colors } }",
    "{ strictStatsList { count label } }",
    "{ strictStatsList { ratio flag } }",
    "{ brokenStats { count } stats { count } }",
    "{ tree { name leaves { name size color stats { count label } strictStats { count } } } }",
    "{ tree { strictLeaves { name } looseLeaves { name size } } }",
    "{ tree { leaves { boom publicError later(times: 2) } } }",
    "{ tree { asyncLeaves { name stats { count } } asyncStats(fail: true) { count } } }",
    "{ tree { asyncStats { count tags } parent { name parent { name } } } }",
    "{ maybeTree { name leaves { name } } tree { name } }",
    "{ trees { name pick(index: 1) { name } } }",
    "{ things { __typename ... on Leaf { name size } ... on Branch { name leaves { name } } } }",
    "{ named { name __typename ... on Leaf { color } } }",
    '{ failing { name } a: failing(message: "other") { name } tree { name } }',
    "{ strictFailing { count } tree { name } }",
    "{ asyncTree { name statsList { count } leaves { later } } }",
    "query ($c: Color, $t: String) { echo(text: $t, color: $c, n: 3) }",
    "{ leaves(filter: {color: RED, minSize: 1}) { name } all: leaves { name size } }",
    '{ typed(id: "1") { name ... on Branch { leaves { name } } } x: typed(id: "2") { name } }',
    "query ($s: Boolean!) { tree { name @skip(if: $s) leaves @include(if: $s) { name } } }",
    "{ tree { ...B } } fragment B on Branch { name leaves { ...L } } fragment L on Leaf { name }",
    "{ tree { name name leaves { name } leaves { size } } }",
    "{ a: stats { count } b: stats { label } stats { flag } }",
    "{ nope }",
    "query ($n: Int!) { echo(n: $n) }",
]


@pytest.mark.parametrize("text", HAND_WRITTEN)
@pytest.mark.parametrize("masked", [False, True])
def test_hand_written_queries(loop: asyncio.AbstractEventLoop, text: str, masked: bool) -> None:
    variables = {"c": "GREEN", "t": "hi", "s": False, "n": 5}
    stock, compiled = run_both(loop, text, variables, masked)
    assert compiled == stock


def test_compiled_path_is_taken(loop: asyncio.AbstractEventLoop) -> None:
    document = parse("{ stats { count label } tree { name parent { name } } }")
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    result = execute(
        COMPILED._schema,
        document,
        root_value=ROOT,
        executor_class=COMPILED.execution_context_class,
        operation_extensions=None,
    )
    assert not isinstance(result, Awaitable)
    assert result.errors is None
    plan = PLANS.get(operation)
    assert plan is not None and plan.root is not None
    assert [field.key for field in plan.root.fields] == ["stats", "tree"]
    del plan, operation, document, result
    gc.collect()


def test_plans_live_as_long_as_their_documents(loop: asyncio.AbstractEventLoop) -> None:
    gc.collect()
    before = len(PLANS)
    kept = []
    for index in range(20):
        document = parse(f"{{ stats {{ count }} tree {{ name }} x{index}: stats {{ flag }} }}")
        execute(
            COMPILED._schema,
            document,
            root_value=ROOT,
            executor_class=COMPILED.execution_context_class,
            operation_extensions=None,
        )
        if index % 2:
            kept.append(document)
    del document
    gc.collect()
    # A plan keeps neither its executor (the request) nor its operation node.
    assert len(PLANS) == before + len(kept)
    kept.clear()
    gc.collect()
    assert len(PLANS) == before


GENERATED = queries(
    STOCK._schema,
    max_depth=4,
    max_fields=5,
    scalar_values={"Stamp": ["T1", "T2"]},
)


RULES = ()  # Strawberry adds its own rules to graphql-core's standard ones


def execute_both(
    loop: asyncio.AbstractEventLoop, text: str, variables: dict[str, Any]
) -> tuple[str, str] | None:
    """Parse and validate once, then execute with each executor as Strawberry does.

    Returns ``None`` for an invalid document (both executors would answer the
    same validation errors without executing anything).
    """
    document = parse(text)
    if validate_document(STOCK._schema, document, RULES):
        return None
    answers = []
    for executor_class in (STOCK.execution_context_class, COMPILED.execution_context_class):
        result = execute(
            STOCK._schema,
            document,
            root_value=ROOT,
            variable_values=variables,
            middleware=MiddlewareManager(),
            is_awaitable=cast(Any, optimized_is_awaitable),
            executor_class=executor_class,
            operation_extensions=None,
        )
        if optimized_is_awaitable(result):
            result = loop.run_until_complete(result)  # type: ignore[arg-type]
        answers.append(formatted_result(result.data, result.errors))  # type: ignore[union-attr]
        settle(loop)
    return answers[0], answers[1]


def settle(loop: asyncio.AbstractEventLoop) -> None:
    """Let the work that both executors leave in the background finish."""
    pending = asyncio.all_tasks(loop)
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


EXAMPLES = 2200


def test_generated_queries_answer_alike_and_are_mostly_valid(
    loop: asyncio.AbstractEventLoop,
) -> None:
    valid: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(query=GENERATED)
    def answer_alike(query: GeneratedQuery) -> None:
        answers = execute_both(loop, query.text, query.variables)
        if answers is not None:
            valid.append(query.text)
            stock, compiled = answers
            assert compiled == stock, query

    answer_alike()
    # Most generated documents must be valid, or the comparison proves little.
    assert len(valid) >= EXAMPLES * 0.9, len(valid)
