"""What a worker's lifespan opens, typed: the pool, the resources, their background work.

`app_state(settings)` is the lifespan's body (server.py): it opens the
pool and every resource, starts the background services under one
`Supervisor`, yields the lifespan state that each request sees as
`request.state` (and resolvers as `context.resources`), and closes it all
in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypedDict

import asyncpg

from background import Supervisor
from config import Settings
from db.changes import ChangeFeed
from db.pool import create_pool
from db.replicas import ReplicaSet
from housekeeping import Housekeeping
from mail.sender import MailSender
from resolvers.live import LiveSummaries
from security.passwords import PasswordHashing
from web.answer_cache import AnswerCache
from web.metrics import forget_worker_gauges, sample_worker_gauges_forever
from web.persisted_queries import PersistedQueries

logger = logging.getLogger("service360")
# How long the first connection of the change feed is waited for at start.
CHANGE_FEED_START_SECONDS = 10.0


@dataclass(frozen=True)
class AppResources:
    """One worker's long-lived objects, shared by every request."""

    passwords: PasswordHashing
    persisted_queries: PersistedQueries
    # The change feed and what it keeps exact (DESIGN §6, §8).
    changes: ChangeFeed
    answer_cache: AnswerCache
    live: LiveSummaries
    replicas: ReplicaSet
    background: Supervisor


class State(TypedDict):
    """The lifespan state: `request.state` of every request."""

    pool: asyncpg.Pool
    settings: Settings
    resources: AppResources


@contextlib.asynccontextmanager
async def app_state(settings: Settings) -> AsyncIterator[State]:
    """Open the pool and resources, start the background services; close it all at exit."""
    assert settings.database_url is not None  # create_app checks it
    pool = await create_pool(
        settings.database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size
    )
    background = Supervisor()
    resources = AppResources(
        passwords=PasswordHashing(
            settings.argon2_concurrency,
            settings.argon2_niceness,
            max_waiting=settings.argon2_max_queue,
        ),
        persisted_queries=PersistedQueries(
            pool,
            mode=settings.persisted_queries,
            max_document_bytes=settings.apq_max_document_bytes,
            max_stored=settings.apq_max_stored,
            max_per_client=settings.apq_max_per_client,
        ),
        changes=ChangeFeed(settings.database_url),
        answer_cache=AnswerCache(settings.answer_cache_bytes),
        live=LiveSummaries(pool, settings, background),
        replicas=ReplicaSet(
            pool,
            settings.database_replica_urls,
            max_lag_seconds=settings.replica_max_lag_seconds,
            check_seconds=settings.replica_check_seconds,
            pool_max_size=settings.pool_max_size,
        ),
        background=background,
    )
    try:
        await start_background_services(resources, pool, settings)
        yield {"pool": pool, "settings": settings, "resources": resources}
    finally:
        # Background work ends before what it uses closes.
        await background.shutdown()
        await resources.replicas.close()
        forget_worker_gauges()
        await pool.close()
        resources.passwords.close()


async def start_background_services(
    resources: AppResources, pool: asyncpg.Pool, settings: Settings
) -> None:
    """Start every service; they stop in the reverse order at shutdown."""
    background = resources.background
    changes = resources.changes
    changes.subscribe(resources.answer_cache)
    changes.subscribe(resources.live)
    background.start("change-feed", changes.run)
    if not await changes.wait_current(CHANGE_FEED_START_SECONDS):
        logger.warning("change feed not listening yet; serving anyway")
    background.start("live-sweep", resources.live.sweep)
    if resources.replicas.replicas:
        # Checked once before serving, so the first requests can use them.
        await resources.replicas.check()
        background.start("replica-monitor", resources.replicas.monitor)
    mail_sender = MailSender(pool, settings)
    background.start("mail-sender", mail_sender.run, request_stop=mail_sender.request_stop)
    housekeeping = Housekeeping(pool, settings.throttle_window_seconds)
    background.start("housekeeping", housekeeping.run)
    background.start(
        "metrics-sampler", lambda: sample_worker_gauges_forever(pool, resources.passwords)
    )
