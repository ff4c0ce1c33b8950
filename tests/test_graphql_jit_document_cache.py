"""graphql_jit's document cache: same answers as parsing and validating every time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from graphql_jit.document_cache import DocumentCache
from graphql_jit.strawberry import CachedDocuments, strawberry_executor_class
from tests.test_graphql_jit_differential import HAND_WRITTEN, ROOT, Query, formatted_result

LIMITS: list[Any] = [
    QueryDepthLimiter(max_depth=4),
    MaxTokensLimiter(max_token_count=120),
    MaxAliasesLimiter(max_alias_count=3),
]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


def test_a_repeated_text_is_parsed_once_and_keeps_its_document() -> None:
    cache = DocumentCache(max_entries=2)
    first = cache.get("{ stats { count } }")
    assert cache.get("{ stats { count } }") is first
    assert (cache.hits, cache.misses) == (1, 1)
    cache.get("{ a }")
    cache.get("{ b }")  # evicts the least recently used
    assert len(cache) == 2
    assert cache.get("{ stats { count } }") is not first


def test_syntax_errors_are_raised_and_not_kept() -> None:
    cache = DocumentCache()
    with pytest.raises(GraphQLError):
        cache.get("{ stats { ")
    assert len(cache) == 0


def test_parse_options_are_part_of_the_key() -> None:
    cache = DocumentCache()
    text = "{ stats { count label } }"
    assert cache.get(text) is not cache.get(text, max_tokens=100)
    with pytest.raises(GraphQLError, match="more than 3 tokens"):
        cache.get(text, max_tokens=3)


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema, DocumentCache]:
    cache = DocumentCache()
    plain = strawberry.Schema(query=Query, extensions=list(LIMITS))
    cached = strawberry.Schema(
        query=Query,
        extensions=[lambda: CachedDocuments(cache), *LIMITS],
        execution_context_class=strawberry_executor_class(),
    )
    return plain, cached, cache


EXTRA = [
    "{ tree { parent { parent { parent { parent { name } } } } } }",  # too deep
    "{ a: stats { count } b: stats { count } c: stats { count } d: stats { count } }",
    "{ " + " ".join(f"f{i}: echo(n: {i})" for i in range(40)) + " }",  # too many tokens
    "{ stats { ",  # syntax error
    "{ stats { nope } }",  # validation error
    "query A { stats { count } } query B { stats { flag } }",  # operation name needed
]


@pytest.mark.parametrize("text", HAND_WRITTEN + EXTRA)
def test_cached_documents_answer_as_uncached_ones(
    loop: asyncio.AbstractEventLoop, text: str
) -> None:
    plain, cached, cache = _schemas()
    variables = {"c": "GREEN", "t": "hi", "s": False, "n": 5}
    expected = loop.run_until_complete(plain.execute(text, variables, root_value=ROOT))
    for _ in range(3):  # a miss, then hits
        answer = loop.run_until_complete(cached.execute(text, variables, root_value=ROOT))
        assert formatted_result(answer.data, answer.errors) == formatted_result(
            expected.data, expected.errors
        )
    syntax_error = any(e.message.startswith("Syntax Error") for e in expected.errors or ())
    # Syntax errors (the token limit's too) are left to Strawberry, not kept.
    assert (len(cache), cache.misses) == ((0, 3) if syntax_error else (1, 1))
