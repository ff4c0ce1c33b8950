"""CPU spent on hostile documents before anything executes (issue 12, finding 2).

    python -m bench.hostile_documents

Each document goes through `schema.execute` as an anonymous request would
(a fresh text every time, so the document cache never helps), best of 3.
The introspection query is the largest legitimate anonymous document.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace

from graphql import get_introspection_query

from config import Settings
from schema import build_schema


def documents() -> Iterator[tuple[str, str]]:
    yield "viewer { id } x1000 (the issue's 11 kB)", "{" + " viewer { id }" * 1000 + "}"
    yield "viewer { id } x120", "{" + " viewer { id }" * 120 + "}"
    yield "id x1900 in one selection set", "{ viewer { " + "id " * 1900 + "} }"
    levels = 18
    fan_out = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    yield (
        "fragments spreading fragments, 2^18",
        f"{{ ...F0 }} {fan_out} fragment F{levels} on Query {{ viewer {{ id }} }}",
    )
    yield (
        "100 fragments spread in one selection set",
        "{"
        + " ".join(f"...F{i}" for i in range(100))
        + "} "
        + " ".join(
            f"fragment F{i} on Query {{ f{i}: productFamilies {{ id }} }}" for i in range(100)
        ),
    )
    nesting = "members { nodes { organization { ...F%d } } }"
    chain = " ".join(f"fragment F{i} on Organization {{ {nesting % (i + 1)} }}" for i in range(40))
    yield (
        "fragments nesting fragments, depth 122",
        "{ viewer { organization { ...F0 } } } " + chain + " fragment F40 on Organization { id }",
    )
    yield "introspection (legitimate)", get_introspection_query(descriptions=True)


async def main() -> None:
    logging.disable(logging.CRITICAL)
    schema = build_schema(Settings())
    anonymous = SimpleNamespace(viewer=None)
    print(f"{'document':45s} {'bytes':>7s} {'best ms':>9s}  first error code")
    for name, text in documents():
        best = float("inf")
        result = None
        for attempt in range(3):
            fresh = f"{text} # {attempt} {time.time_ns()}"
            started = time.perf_counter()
            result = await schema.execute(fresh, context_value=anonymous)
            best = min(best, time.perf_counter() - started)
            if best > 5:
                break
        assert result is not None
        codes = [(e.extensions or {}).get("code") for e in result.errors or ()]
        print(f"{name:45s} {len(text):7d} {best * 1000:9.2f}  {codes[0] if codes else 'ok'}")


if __name__ == "__main__":
    asyncio.run(main())
