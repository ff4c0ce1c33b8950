"""Microbenchmark of GraphQL execution alone: stock executor vs compiled executor.

The dashboard document (the whole-fleet ``summary { ...every field }`` plus 50
aliased group summaries) is parsed and validated once, then executed over
objects already in memory, so neither SQL, HTTP nor parsing is measured; only
the executor. The schema is a self-contained mirror of the Summary tab (about
95 leaf fields per summary); ``group(id:)`` and ``Group.summary`` are async
resolvers, as they are in the application (DataLoaders).

    .venv/bin/python -m bench.executor_micro [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import DocumentNode, ExecutionResult, execute, parse, validate
from graphql.execution import MiddlewareManager
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_jit.strawberry import strawberry_executor_class

GROUPS = 50


@strawberry.enum
class Health(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


@strawberry.type
class HealthCounts:
    ok: int
    warning: int
    critical: int
    unknown: int
    total: int
    worst: Health


@strawberry.type
class ConnectivityCounts:
    connected: int
    disconnected: int
    never_connected: int
    total: int
    connected_ratio: float


@strawberry.type
class CodeCounts:
    current: int
    behind: int
    critical_update: int
    unknown: int
    total: int
    latest_version: str | None


@strawberry.type
class ContractCounts:
    active: int
    expiring_soon: int
    expired: int
    none: int
    total: int
    next_expiry: str | None


@strawberry.type
class ServiceRequestCounts:
    open: int
    critical: int
    high: int
    medium: int
    low: int
    opened_last_30_days: int
    closed_last_30_days: int


@strawberry.type
class FamilyCount:
    family_id: strawberry.ID
    family_name: str
    products: int
    critical: int
    worst: Health


@strawberry.type
class SiteCount:
    site_id: strawberry.ID
    site_name: str
    country: str
    products: int
    disconnected: int


@strawberry.type
class Summary:
    products: int
    sites: int
    families: int
    health: HealthCounts
    connectivity: ConnectivityCounts
    code: CodeCounts
    contracts: ContractCounts
    service_requests: ServiceRequestCounts
    by_family: list[FamilyCount]
    by_site: list[SiteCount]
    health_states: list[Health]
    computed_at: str


@strawberry.type
class Group:
    id: strawberry.ID
    name: str
    summary_value: strawberry.Private[Summary]

    @strawberry.field
    async def summary(self) -> Summary:
        return self.summary_value


@dataclass
class Fleet:
    summary: Summary
    groups: dict[str, Group]


@strawberry.type
class Query:
    @strawberry.field
    def summary(self, info: strawberry.Info) -> Summary:
        fleet: Fleet = info.context["fleet"]
        return fleet.summary

    @strawberry.field
    async def group(self, info: strawberry.Info, id: strawberry.ID) -> Group | None:
        fleet: Fleet = info.context["fleet"]
        return fleet.groups.get(id)


SCHEMA = strawberry.Schema(query=Query)

SUMMARY_FIELDS = """
  products sites families computedAt healthStates
  health { ok warning critical unknown total worst }
  connectivity { connected disconnected neverConnected total connectedRatio }
  code { current behind criticalUpdate unknown total latestVersion }
  contracts { active expiringSoon expired none total nextExpiry }
  serviceRequests { open critical high medium low openedLast30Days closedLast30Days }
  byFamily { familyId familyName products critical worst }
  bySite { siteId siteName country products disconnected }
"""


def dashboard_document(groups: int = GROUPS) -> str:
    parts = [f"query Dashboard {{\n summary {{ ...SummaryFields }}"]
    parts.extend(
        f' g{index}: group(id: "{index}") {{ id name summary {{ ...SummaryFields }} }}'
        for index in range(groups)
    )
    parts.append("}\nfragment SummaryFields on Summary {" + SUMMARY_FIELDS + "}")
    return "\n".join(parts)


def make_summary(seed: int) -> Summary:
    worst = list(Health)[seed % 4]
    return Summary(
        products=1000 + seed,
        sites=10 + seed % 7,
        families=8,
        health=HealthCounts(ok=900, warning=60, critical=30 + seed, unknown=10, total=1000 + seed, worst=worst),
        connectivity=ConnectivityCounts(
            connected=950, disconnected=40, never_connected=10, total=1000, connected_ratio=0.95
        ),
        code=CodeCounts(current=700, behind=200, critical_update=90, unknown=10, total=1000, latest_version="9.4.1"),
        contracts=ContractCounts(active=800, expiring_soon=50, expired=100, none=50, total=1000, next_expiry=None),
        service_requests=ServiceRequestCounts(
            open=12, critical=1, high=3, medium=5, low=3, opened_last_30_days=20, closed_last_30_days=18
        ),
        by_family=[
            FamilyCount(family_id=str(f), family_name=f"Family {f}", products=100 + f, critical=f, worst=worst)
            for f in range(8)
        ],
        by_site=[
            SiteCount(site_id=str(s), site_name=f"Site {s}", country="FR", products=50 + s, disconnected=s)
            for s in range(6)
        ],
        health_states=list(Health),
        computed_at="2026-11-24T12:00:00Z",
    )


def make_fleet(groups: int = GROUPS) -> Fleet:
    return Fleet(
        summary=make_summary(0),
        groups={
            str(index): Group(id=str(index), name=f"Group {index}", summary_value=make_summary(index + 1))
            for index in range(groups)
        },
    )


class Runner:
    def __init__(self, executor_class: type[Any], document: DocumentNode, fleet: Fleet) -> None:
        self.executor_class = executor_class
        self.document = document
        self.context = {"fleet": fleet}

    async def run(self) -> ExecutionResult:
        result = execute(
            SCHEMA._schema,
            self.document,
            context_value=self.context,
            middleware=MiddlewareManager(),
            is_awaitable=optimized_is_awaitable,
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
    source = dashboard_document()
    document = parse(source)
    errors = validate(SCHEMA._schema, document)
    assert not errors, errors
    fleet = make_fleet()
    loop = asyncio.new_event_loop()
    try:
        measured = measure(
            {
                "stock": Runner(StrawberryGraphQLCoreExecutionContext, document, fleet),
                "compiled": Runner(strawberry_executor_class(), document, fleet),
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
