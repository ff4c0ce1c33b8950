"""Prometheus metrics and the `/metrics` endpoint.

With several workers (`WORKERS` > 1) the server sets PROMETHEUS_MULTIPROC_DIR
before the workers start: each worker then writes its samples to files there
and `/metrics`, whichever worker answers it, adds up every worker's files.
Gauges that describe one worker (pool, argon2 queue) are summed over the live
workers; database-wide numbers (outbox) are read at scrape time.

`/metrics` answers only with `Authorization: Bearer $METRICS_TOKEN` (404 when
no token is set): request counts and SQL statements per request say things
about other users' requests. No label comes from client input: requests are
labelled by operation type, a fixed set.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from db.metrics import fetch_outbox_backlog
from db.pool import StatementStats
from security.passwords import PasswordHashing
from web.failures import failure_response

if TYPE_CHECKING:  # the app's state imports this module
    from app_state import AppResources

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
logger = logging.getLogger("service360.metrics")

REQUESTS = Counter(
    "service360_graphql_requests_total",
    "GraphQL requests by operation type and outcome "
    "(ok, graphql_error, request_error, rate_limited, internal_error).",
    ["operation", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "service360_graphql_request_duration_seconds",
    "Time to answer a GraphQL request, by operation type.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SQL_STATEMENTS = Histogram(
    "service360_sql_statements_per_request",
    "SQL statements run by one GraphQL request, by operation type.",
    ["operation"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144),
)
SQL_SECONDS = Histogram(
    "service360_sql_seconds_per_request",
    "Time in SQL of one GraphQL request, by operation type: the sum over its "
    "statements, so statements run side by side add up (may exceed the request's time).",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
PERSISTED_QUERIES = Counter(
    "service360_persisted_query_lookups_total",
    "Persisted query lookups by result (hit, miss, registered, refused, over_quota).",
    ["result"],
)
POOL_IN_USE = Gauge(
    "service360_db_pool_connections_in_use",
    "Pool connections checked out, summed over live workers.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "service360_db_pool_connections_open",
    "Pool connections open, summed over live workers.",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "service360_db_pool_waiting",
    "Tasks waiting for a pool connection, summed over live workers.",
    multiprocess_mode="livesum",
)
ARGON2_WAITING = Gauge(
    "service360_argon2_queue_depth",
    "Password hashes waiting for a hashing slot, summed over live workers.",
    multiprocess_mode="livesum",
)

# The `operation` label: one of these, never a client-chosen name (a name
# per series would let anyone who reads /metrics tell one user's requests,
# and how many statements they ran, from everybody else's).
OPERATION_LABELS = ("query", "mutation", "subscription", "unknown")


def operation_label(operation_type: str | None) -> str:
    return operation_type if operation_type in OPERATION_LABELS else "unknown"


def observe_request(
    operation: str, outcome: str, seconds: float, stats: StatementStats | None
) -> None:
    REQUESTS.labels(operation, outcome).inc()
    REQUEST_SECONDS.labels(operation).observe(seconds)
    if stats is not None:
        SQL_STATEMENTS.labels(operation).observe(stats.count)
        SQL_SECONDS.labels(operation).observe(stats.seconds)


def pool_waiting(pool: asyncpg.Pool) -> int:
    # asyncpg has no public count of waiting acquirers: they wait on the
    # pool's internal queue of free connection holders.
    queue = getattr(pool, "_queue", None)
    getters = getattr(queue, "_getters", ())
    return sum(1 for waiter in getters if not waiter.done())


def sample_worker_gauges(pool: asyncpg.Pool, passwords: PasswordHashing) -> None:
    size = pool.get_size()
    POOL_SIZE.set(size)
    POOL_IN_USE.set(size - pool.get_idle_size())
    POOL_WAITING.set(pool_waiting(pool))
    ARGON2_WAITING.set(passwords.waiting)


async def sample_worker_gauges_forever(
    pool: asyncpg.Pool, passwords: PasswordHashing, interval: float = 1.0
) -> None:
    """Refresh this worker's gauges every `interval` (a background service)."""
    while True:
        sample_worker_gauges(pool, passwords)
        await asyncio.sleep(interval)


def forget_worker_gauges() -> None:
    """At the worker's end: its gauges leave the sums over live workers."""
    if MULTIPROC_ENV in os.environ:
        multiprocess.mark_process_dead(os.getpid())


class OutboxCollector(Collector):
    """Outbox backlog and age of the oldest unsent mail, read at scrape time."""

    def __init__(self, backlog: int, oldest_seconds: float) -> None:
        self.backlog = backlog
        self.oldest_seconds = oldest_seconds

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "service360_mail_outbox_backlog", "Mails in the outbox not sent yet.", self.backlog
        )
        yield GaugeMetricFamily(
            "service360_mail_outbox_oldest_unsent_age_seconds",
            "Age of the oldest unsent mail (0 when none).",
            self.oldest_seconds,
        )


# /metrics must answer when the pool is exhausted (that is when operators
# look): past this wait for a connection, the outbox numbers are left out.
OUTBOX_ACQUIRE_TIMEOUT_SECONDS = 1.0


async def read_outbox(pool: asyncpg.Pool) -> tuple[int, float] | None:
    try:
        async with pool.acquire(timeout=OUTBOX_ACQUIRE_TIMEOUT_SECONDS) as conn:
            row = await fetch_outbox_backlog(conn)
    except TimeoutError:
        logger.warning("metrics: no pool connection free, outbox numbers left out")
        return None
    return int(row["backlog"]), float(row["oldest_age_seconds"] or 0.0)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


async def metrics_endpoint(request: Request) -> Response:
    state: Any = request.state
    resources: AppResources = state.resources
    token = state.settings.metrics_token
    if token is None:
        # The router's own 404, so that /metrics does not tell it exists.
        raise HTTPException(404)
    if not _authorized(request, str(token)):
        return failure_response(
            401,
            "Send Authorization: Bearer <METRICS_TOKEN>.",
            "UNAUTHENTICATED",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    outbox = await read_outbox(state.pool)
    # Sampled last, with no await before rendering: the numbers of this instant.
    sample_worker_gauges(state.pool, resources.passwords)
    if MULTIPROC_ENV in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if outbox is not None:
        scrape_time = CollectorRegistry()
        scrape_time.register(OutboxCollector(*outbox))
        body += generate_latest(scrape_time)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def prepare_multiprocess_dir(path: str) -> None:
    """Empty the samples directory before workers start (old files would add up)."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
