"""Microbenchmark of GraphQL execution alone: stock executor vs compiled executor.

The dashboard document of the bench (`bench.scenarios.DASHBOARD`: the
whole-fleet `summary { ...SummaryFields }` plus `customGroups(first: 50)` with
every group's summary, every field of `Summary`) is parsed and validated once,
then executed over objects already in memory: the application's own types
(`Summary`, `CustomGroup`, connections) and its `CustomGroup.summary` resolver
with its `SummaryByView` DataLoader, whose batch answers from memory. Neither
SQL, HTTP nor parsing is measured, only the executor. The two root fields are
small stand-ins for the real ones (which read the database), with the same
shape: async, one loader batch.

    .venv/bin/python -m bench.executor_micro [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import statistics
import time
from collections.abc import Sequence
from typing import Any, cast

import strawberry
from graphql import DocumentNode, ExecutionResult, execute, parse, validate
from graphql.execution import MiddlewareManager
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from bench.scenarios import DASHBOARD
from db.summary import FamilyCount, SummaryRow
from graphql_jit.strawberry import strawberry_executor_class
from resolvers.fleet_loaders import FLEET, SummaryByView
from resolvers.loaders import LoaderRegistry
from schema.common import Connection, make_connection
from schema.fleet import CustomGroup, Summary

GROUPS = 50


class InMemorySummaries(SummaryByView):
    """`SummaryByView` answering its batch from memory (one batch per request)."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[SummaryRow | None]:
        rows: dict[int, SummaryRow] = cast(Any, self.context).rows
        return [rows.get(key) for key in keys]


class MicroLoaders(LoaderRegistry):
    def get(self, loader_class: Any) -> Any:
        if loader_class is SummaryByView:
            loader_class = InMemorySummaries
        return super().get(loader_class)


class MicroContext:
    """What the resolvers read of the request context: loaders (new for every
    request, as in the application) and the data (made once)."""

    def __init__(self, data: tuple[dict[int, SummaryRow], list[CustomGroup]]) -> None:
        self.rows, self.groups = data
        self.loaders = MicroLoaders(self)  # type: ignore[arg-type]


async def _no_count() -> int:
    return GROUPS


@strawberry.type
class MicroQuery:
    @strawberry.field
    async def summary(self, info: strawberry.Info) -> Summary:
        row = await info.context.loaders.get(SummaryByView).load(FLEET)
        return Summary.from_row(row)

    @strawberry.field
    async def custom_groups(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[CustomGroup]:
        groups = info.context.groups[: first or 20]
        return make_connection([(f"c{g.pk}", g) for g in groups], False, False, _no_count)


SCHEMA = strawberry.Schema(query=MicroQuery)


def make_row(seed: int) -> SummaryRow:
    return SummaryRow(
        products=2000 + seed,
        health_good=1500,
        health_warning=300,
        health_critical=150 + seed,
        health_unknown=50,
        connected=1800,
        disconnected=150,
        not_configured=50,
        code_current=1200,
        code_update_available=700,
        code_unknown=100,
        contract_expired=100,
        contract_within_30=40,
        contract_within_90=60,
        contract_active=1800,
        sr_open=25,
        sr_critical=2,
        sr_high=5,
        sr_medium=10,
        sr_low=8,
        site_count=12,
        by_family=tuple(
            FamilyCount(family_id=family, name=f"Family {family}", product_count=300 - family)
            for family in range(1, 9)
        ),
        site_columns=(
            list(range(1, 13)),
            [f"Site {site}" for site in range(1, 13)],
            ["Lyon"] * 12,
            ["FR"] * 12,
            [200] * 12,
        ),
        stale_contracts=False,
    )


def make_data() -> tuple[dict[int, SummaryRow], list[CustomGroup]]:
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    groups = [
        CustomGroup(
            id=strawberry.ID(f"group-{pk}"),
            name=f"Group {pk}",
            description=None,
            created_at=now,
            updated_at=now,
            pk=pk,
        )
        for pk in range(1, GROUPS + 1)
    ]
    rows = {FLEET: make_row(0), **{g.pk: make_row(g.pk) for g in groups}}
    return rows, groups


class Runner:
    def __init__(self, executor_class: type[Any], document: DocumentNode) -> None:
        self.executor_class = executor_class
        self.document = document
        self.data = make_data()

    async def run(self) -> ExecutionResult:
        result = execute(
            SCHEMA._schema,
            self.document,
            context_value=MicroContext(self.data),
            middleware=MiddlewareManager(),
            is_awaitable=cast(Any, optimized_is_awaitable),
            executor_class=self.executor_class,
            operation_extensions=None,
        )
        if optimized_is_awaitable(result):
            result = await result  # type: ignore[misc]
        return result  # type: ignore[return-value]


def measure(
    runners: dict[str, Runner], loop: asyncio.AbstractEventLoop, repeat: int
) -> dict[str, tuple[float, float, ExecutionResult]]:
    """Best and median time (ms) per runner, runs interleaved so that load on the
    machine weighs on both executors alike."""
    results = {name: loop.run_until_complete(runner.run()) for name, runner in runners.items()}
    times: dict[str, list[float]] = {name: [] for name in runners}
    gc.collect()
    for _ in range(repeat):
        for name, runner in runners.items():
            start = time.perf_counter()
            loop.run_until_complete(runner.run())
            times[name].append(time.perf_counter() - start)
    return {
        name: (min(values) * 1000, statistics.median(values) * 1000, results[name])
        for name, values in times.items()
    }


def count_fields(data: Any) -> int:
    if isinstance(data, dict):
        return sum(1 + count_fields(value) for value in data.values())
    if isinstance(data, list):
        return sum(count_fields(item) for item in data)
    return 0


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    document = parse(DASHBOARD)
    errors = validate(SCHEMA._schema, document)
    assert not errors, errors
    loop = asyncio.new_event_loop()
    try:
        measured = measure(
            {
                "stock": Runner(StrawberryGraphQLCoreExecutionContext, document),
                "compiled": Runner(strawberry_executor_class(), document),
            },
            loop,
            args.repeat,
        )
    finally:
        loop.close()
    stock_best, stock_median, stock = measured["stock"]
    compiled_best, compiled_median, compiled = measured["compiled"]
    assert stock.errors is None and compiled.errors is None, (stock.errors, compiled.errors)
    assert stock.data == compiled.data, "compiled executor answered differently"
    ratio = stock_best / compiled_best
    print(
        f"executor micro, dashboard document (1 + {GROUPS} summaries, "
        f"{count_fields(stock.data)} fields), best of {args.repeat} (median):\n"
        f"  stock    {stock_best:6.2f} ms ({stock_median:.2f})\n"
        f"  compiled {compiled_best:6.2f} ms ({compiled_median:.2f})\n"
        f"  ratio    {ratio:6.1f}x ({stock_median / compiled_median:.1f}x)"
    )
    return {
        "stock_ms": stock_best,
        "compiled_ms": compiled_best,
        "ratio": ratio,
        "stock_median_ms": stock_median,
        "compiled_median_ms": compiled_median,
    }


if __name__ == "__main__":
    main()
