"""Which database a request reads the fleet from (DESIGN §8).

Queries read sites, products, groups, members and summaries on a streaming
replica when one is in rotation and has replayed the viewer's latest write;
everything else (mutations, sign-in, sessions, throttles, the outbox) stays
on the primary. After a signed-in viewer's mutation, the WAL position is
recorded on the user (on the primary), so their next reads, on any worker or
host, wait for a replica that has caught up or go to the primary.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from db.availability import database_unavailable
from db.fleet import ViewerScope
from db.pool import current_stats
from db.replicas import ReplicaSet
from db.sessions import record_write_position
from db.summary import store_summaries
from resolvers.context import Context

# Write-throughs in flight per worker at most; past that a computed summary is
# simply not shared (the next read computes it again: exact either way).
MAX_PENDING_STORES = 32
SUMMARY_STORE = "summary-store"

logger = logging.getLogger("service360.replicas")


def replicas_of(context: Context) -> ReplicaSet | None:
    replicas = context.resources.replicas
    return replicas if replicas.replicas else None


def route_reads(context: Context) -> None:
    """Point `context.read_pool` at a replica that may serve this viewer, if any."""
    replicas = replicas_of(context)
    if replicas is None:
        return
    min_lsn = context.viewer.last_write_lsn if context.viewer is not None else 0
    # Chosen afresh at each execution: a retried request whose replica failed
    # (reported below) reads the primary.
    replica = replicas.choose(min_lsn)
    if replica is None or replica.pool is None:
        context.read_pool, context.read_replay_lsn = context.pool, 0
    else:
        context.read_pool, context.read_replay_lsn = replica.pool, replica.replay_lsn


def report_replica_failures(context: Context, errors: Sequence[BaseException | None]) -> None:
    """The replica this request read from failed it: out of rotation now, not
    at the next check, so a retry of the request reads the primary."""
    replicas = replicas_of(context)
    if replicas is None or context.read_pool is context.pool:
        return
    for error in errors:
        # The same verdict that answers 503 and retries the read (web/graphql_app.py).
        if error is not None and database_unavailable(error):
            replicas.report_failure(context.read_pool, error)
            return


async def remember_write(context: Context) -> None:
    """After a mutation: the viewer's next reads must see it."""
    if replicas_of(context) is None or context.viewer is None:
        return
    try:
        await record_write_position(context.pool, context.viewer.user_id)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        # The mutation's answer stands; only read-your-writes is at stake, for
        # at most the replicas' lag bound.
        logger.warning("could not record the write position: %s", error)


def store_through_primary(context: Context, scope: ViewerScope, records: Sequence[Any]) -> None:
    """Share summaries a replica computed: store them on the primary, off the request path."""
    background = context.resources.background
    if background.running(SUMMARY_STORE) >= MAX_PENDING_STORES:
        return
    pool = context.pool

    async def store() -> None:
        current_stats.set(None)  # not the request's statements
        try:
            await store_summaries(pool, scope, records)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # Not shared this time: the next read computes it again.
            logger.warning("summary write-through failed: %s", error)

    background.spawn(SUMMARY_STORE, store())
