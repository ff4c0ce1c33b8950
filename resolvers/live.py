"""Live summaries: `subscription { summary(groupId) }`, kept current by the change feed.

One `LiveSummaries` per worker (lifespan). Each subscription watches a topic:
one view (the fleet or a group) seen with one scope (organization, user,
all sites or not). A topic's summary is computed once per change of its
tenant's summary version, however many subscriptions share it; the topics of
one scope are computed together in one statement (`db.summary`), and each
watcher is woken only when its summary actually changed.

Connections are authenticated once, in `connection_init`, and then kept
honest by the feed: a session revoked or removed closes the connection at
once (4403); a changed role or site scope moves its subscriptions to the
new scope (the next push is computed with it); an expired session closes the
connection when it expires. A connection with no subscription for the idle
timeout is closed (4408).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from prometheus_client import Counter, Gauge

from background import Supervisor
from config import Settings
from db.changes import TenantChange, fetch_versions, fetch_viewers_with_versions
from db.fleet import ViewerScope
from db.pool import current_stats
from db.summary import SummaryRow, fetch_summaries
from resolvers.context import Context
from resolvers.errors import PublicError
from resolvers.ids import decode_id_of
from resolvers.viewer import Viewer
from resolvers.viewer_state import load_viewer_state, viewer_from_record
from resolvers.visibility import group_not_found, viewer_scope

logger = logging.getLogger("service360.live")

FLEET_VIEW = 0
TopicKey = tuple[int, int, bool, int]  # organization, user, all sites, view

SUBSCRIPTIONS = Gauge(
    "service360_live_subscriptions",
    "Summary subscriptions open, summed over live workers.",
    multiprocess_mode="livesum",
)
CONNECTIONS = Gauge(
    "service360_live_connections",
    "Authenticated subscription connections, summed over live workers.",
    multiprocess_mode="livesum",
)
RECOMPUTED = Counter(
    "service360_live_recomputed_views_total",
    "Summaries computed for subscriptions (one per topic per change of its tenant).",
)
PUSHES = Counter(
    "service360_live_pushes_total",
    "Summaries sent to subscribers (only when the summary changed).",
)
TENANT_CHANGES = Counter(
    "service360_live_tenant_changes_total",
    "Summary version changes of tenants that have live subscriptions.",
)

CLOSE_FORBIDDEN = 4403
CLOSE_IDLE = 4408
# graphql-ws clients take 4429 as final (no reconnection storm).
CLOSE_TOO_MANY = 4429


class TooManyConnections(Exception):
    """The person already holds WS_CONNECTIONS_PER_USER connections on this worker."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Too many open connections (at most {limit} per person)")
        self.reason = str(self)


def _scope_key(scope: ViewerScope) -> tuple[int, int, bool]:
    return (scope.organization_id, scope.user_id, scope.all_sites)


@dataclass(eq=False)
class LiveConnection:
    context: Context
    token_hash: bytes
    watches: set[SummaryWatch] = field(default_factory=set)
    closed: bool = False
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    @property
    def viewer(self) -> Viewer:
        viewer = self.context.viewer
        assert viewer is not None  # set at connection_init
        return viewer


@dataclass(eq=False)
class SummaryWatch:
    connection: LiveConnection
    view_key: int
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    topic: Topic | None = None


@dataclass(eq=False)
class Topic:
    key: TopicKey
    scope: ViewerScope
    row: SummaryRow | None = None
    computed: asyncio.Event = field(default_factory=asyncio.Event)
    watchers: set[SummaryWatch] = field(default_factory=set)


class LiveSummaries:
    """Per-worker registry of live connections, topics and their summaries.

    Subscribes to the change feed (`db.changes.ChangeFeed`); its tasks and
    its sweep run under the worker's `Supervisor`.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        background: Supervisor,
        *,
        sweep_seconds: float = 30.0,
    ):
        self.pool = pool
        self.settings = settings
        self.background = background
        self.sweep_seconds = sweep_seconds
        self.connections: dict[int, set[LiveConnection]] = defaultdict(set)  # by organization
        self.by_user: dict[int, set[LiveConnection]] = defaultdict(set)
        self.topics: dict[TopicKey, Topic] = {}
        self.topics_by_org: dict[int, set[TopicKey]] = defaultdict(set)
        self.watch_count_by_user: dict[int, int] = defaultdict(int)
        self.versions: dict[int, tuple[int, object]] = {}  # org -> (summary version, day)
        self.recomputed_views = 0  # for tests and the bench
        self._refreshing: set[int] = set()  # organizations being recomputed
        self._again: set[int] = set()
        self._pending: dict[tuple[int, int, bool], set[Topic]] = {}
        # Bounds the pool connections that recomputations take at once.
        self._compute_slots = asyncio.Semaphore(max(1, settings.pool_max_size // 2))

    # ------------------------------------------------------------ connections

    async def connect(self, context: Context) -> bool:
        """Authenticate a connection from its connection_init payload."""
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization")
        if raw is None and isinstance(params.get("token"), str):
            raw = f"Bearer {params['token']}"
        if not isinstance(raw, str):
            return False
        current_stats.set(None)
        state = await load_viewer_state(self.pool, raw)
        if state is None:
            return False
        limit = self.settings.ws_connections_per_user
        if len(self.by_user.get(state.viewer.user_id, ())) >= limit:
            # Each connection costs a descriptor and memory even without a
            # subscription (closed only after WS_IDLE_TIMEOUT_SECONDS).
            raise TooManyConnections(limit)
        context.viewer = state.viewer
        context.language = state.viewer.preferred_language
        connection = LiveConnection(context, state.viewer.token_hash)
        context.live_connection = connection
        if state.viewer.organization_id is not None:
            self.connections[state.viewer.organization_id].add(connection)
            # What the first summaries will be computed at (or after): a later
            # notification of the same summary version needs no recomputation.
            self.versions.setdefault(state.viewer.organization_id, (state.version, state.today))
        self.by_user[state.viewer.user_id].add(connection)
        CONNECTIONS.inc()
        loop = asyncio.get_running_loop()
        remaining = (state.session_expires_at - datetime.now(UTC)).total_seconds()
        connection.timers["expiry"] = loop.call_later(
            max(0.0, remaining), self._close_soon, connection, CLOSE_FORBIDDEN, "Session expired"
        )
        self._arm_idle(connection)
        return True

    def disconnect(self, context: Context) -> None:
        connection = context.live_connection
        if connection is None or connection.closed:
            return
        connection.closed = True
        for timer in connection.timers.values():
            timer.cancel()
        for watch in list(connection.watches):
            self.remove_watch(watch)
        viewer = connection.viewer
        if viewer.organization_id is not None:
            self._discard(self.connections, viewer.organization_id, connection)
        self._discard(self.by_user, viewer.user_id, connection)
        CONNECTIONS.dec()

    @staticmethod
    def _discard(index: dict[int, set[LiveConnection]], key: int, item: LiveConnection) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(item)
            if not members:
                del index[key]

    def _arm_idle(self, connection: LiveConnection) -> None:
        if connection.watches or connection.closed:
            return
        old = connection.timers.pop("idle", None)
        if old is not None:
            old.cancel()
        connection.timers["idle"] = asyncio.get_running_loop().call_later(
            self.settings.ws_idle_timeout_seconds, self._close_if_idle, connection
        )

    def _close_if_idle(self, connection: LiveConnection) -> None:
        if not connection.watches:
            self._close_soon(connection, CLOSE_IDLE, "Idle: no subscription")

    def _close_soon(self, connection: LiveConnection, code: int, reason: str) -> None:
        if connection.closed:
            return
        websocket = connection.context.request
        for watch in list(connection.watches):
            watch.changed.set()  # their generators end (the connection is closed)
        self.disconnect(connection.context)

        async def close() -> None:
            # Already closing or closed: nothing left to tell the client.
            with contextlib.suppress(RuntimeError, OSError):
                await websocket.close(code, reason)  # type: ignore[attr-defined]

        self.background.spawn("live-close", close())

    # ------------------------------------------------------------ watches

    def add_watch(self, context: Context, group_id: str | None) -> SummaryWatch:
        connection = context.live_connection
        if connection is None or connection.closed:
            raise PublicError("Sign in in connection_init first.", "UNAUTHENTICATED")
        viewer_scope(context)  # FULL access, as the query
        view_key = FLEET_VIEW
        if group_id is not None:
            pk = decode_id_of(group_id, "CustomGroup")
            if pk is None:
                raise group_not_found(context)
            view_key = pk
        user_id = connection.viewer.user_id
        if self.watch_count_by_user[user_id] >= self.settings.subscriptions_per_user:
            raise PublicError(
                f"At most {self.settings.subscriptions_per_user} live subscriptions per person.",
                "TOO_MANY_SUBSCRIPTIONS",
            )
        watch = SummaryWatch(connection, view_key)
        connection.watches.add(watch)
        self.watch_count_by_user[user_id] += 1
        idle = connection.timers.pop("idle", None)
        if idle is not None:
            idle.cancel()
        SUBSCRIPTIONS.inc()
        return watch

    def remove_watch(self, watch: SummaryWatch) -> None:
        connection = watch.connection
        if watch not in connection.watches:
            return
        connection.watches.discard(watch)
        user_id = connection.viewer.user_id
        self.watch_count_by_user[user_id] -= 1
        if self.watch_count_by_user[user_id] <= 0:
            del self.watch_count_by_user[user_id]
        self._leave_topic(watch)
        SUBSCRIPTIONS.dec()
        self._arm_idle(connection)

    def _leave_topic(self, watch: SummaryWatch) -> None:
        topic = watch.topic
        watch.topic = None
        if topic is None:
            return
        topic.watchers.discard(watch)
        if not topic.watchers:
            self.topics.pop(topic.key, None)
            org_topics = self.topics_by_org.get(topic.scope.organization_id)
            if org_topics is not None:
                org_topics.discard(topic.key)
                if not org_topics:
                    del self.topics_by_org[topic.scope.organization_id]

    async def current(self, watch: SummaryWatch) -> SummaryRow | None:
        """The watched view's summary in the connection's current scope."""
        scope = viewer_scope(watch.connection.context)
        key = (*_scope_key(scope), watch.view_key)
        if watch.topic is None or watch.topic.key != key:
            self._leave_topic(watch)
            topic = self.topics.get(key)
            if topic is None:
                topic = self.topics[key] = Topic(key, scope)
                self.topics_by_org[scope.organization_id].add(key)
                self._compute_first(topic)
            topic.watchers.add(watch)
            watch.topic = topic
        await watch.topic.computed.wait()
        return watch.topic.row

    def _compute_first(self, topic: Topic) -> None:
        """Topics of one scope that appear together (a dashboard subscribing to the
        fleet and its groups) are computed in one statement."""
        scope_key = _scope_key(topic.scope)
        pending = self._pending.get(scope_key)
        if pending is not None:
            pending.add(topic)
            return
        self._pending[scope_key] = {topic}

        async def compute() -> None:
            await asyncio.sleep(0.005)  # the rest of the burst of subscribe messages
            topics = self._pending.pop(scope_key)
            await self._compute(topic.scope, list(topics))

        if self.background.spawn("live-first", compute()) is None:  # shutting down
            del self._pending[scope_key]
            topic.computed.set()  # its watcher sees "not found" instead of hanging

    async def _compute(self, scope: ViewerScope, topics: list[Topic]) -> None:
        views = sorted({t.key[3] for t in topics})
        current_stats.set(None)
        try:
            async with self._compute_slots:
                rows = await fetch_summaries(
                    self.pool, scope, [None if v == FLEET_VIEW else v for v in views]
                )
        finally:
            # Waiters must never hang: on failure they see "not found" and
            # the next change recomputes.
            for topic in topics:
                topic.computed.set()
        self.recomputed_views += len(views)
        RECOMPUTED.inc(len(views))
        for topic in topics:
            view = topic.key[3]
            row = rows.get(None if view == FLEET_VIEW else view)
            if row != topic.row:
                topic.row = row
                for watch in topic.watchers:
                    watch.changed.set()

    # ------------------------------------------------------------ the feed

    def tenant_changed(self, change: TenantChange) -> None:
        org = change.organization_id
        if org not in self.topics_by_org and org not in self.connections:
            return
        known = self.versions.get(org)
        if known is not None and known[0] == change.version:
            return  # data that no summary shows (a rename of a product, ...)
        self.versions[org] = (change.version, known[1] if known else None)
        TENANT_CHANGES.inc()
        self._refresh(org)

    def sessions_changed(self, user_id: int) -> None:
        connections = self.by_user.get(user_id)
        if connections:
            self.background.spawn("live-sessions", self._revalidate(list(connections)))

    def everything_changed(self) -> None:
        """The feed (re)connected: anything may have changed meanwhile."""
        for org in {*self.topics_by_org, *self.connections}:
            self._refresh(org)

    def _refresh(self, org: int) -> None:
        """Recompute a tenant's topics; changes arriving meanwhile coalesce into one rerun."""
        if org in self._refreshing:
            self._again.add(org)
            return

        async def run() -> None:
            try:
                while True:
                    self._again.discard(org)
                    await self._refresh_now(org)
                    if org not in self._again:
                        return
            finally:
                self._refreshing.discard(org)

        self._refreshing.add(org)
        if self.background.spawn("live-refresh", run()) is None:  # shutting down
            self._refreshing.discard(org)

    async def _refresh_now(self, org: int) -> None:
        connections = list(self.connections.get(org, ()))
        if connections:
            await self._revalidate(connections)
        by_scope: dict[tuple[int, int, bool], list[Topic]] = defaultdict(list)
        for key in list(self.topics_by_org.get(org, ())):
            topic = self.topics.get(key)
            # A topic whose watchers all moved to another scope (a role or site
            # scope just changed) is not computed again with the old one.
            if (
                topic is not None
                and topic.computed.is_set()
                and any(self._still_in_scope(w, topic) for w in topic.watchers)
            ):
                by_scope[key[:3]].append(topic)
        await asyncio.gather(
            *(self._compute(topics[0].scope, topics) for topics in by_scope.values())
        )

    @staticmethod
    def _still_in_scope(watch: SummaryWatch, topic: Topic) -> bool:
        viewer = watch.connection.viewer
        all_sites = viewer.is_admin or viewer.site_scope == "ALL_SITES"
        return (viewer.organization_id, viewer.user_id, all_sites) == topic.key[:3]

    async def _revalidate(self, connections: list[LiveConnection]) -> None:
        """Re-read the sessions of these connections: close the revoked, move the changed."""
        current_stats.set(None)
        records = await fetch_viewers_with_versions(
            self.pool, list({c.token_hash for c in connections})
        )
        by_hash = {bytes(r["token_hash"]): r for r in records}
        for connection in connections:
            if connection.closed:
                continue
            record = by_hash.get(connection.token_hash)
            if record is None:
                self._close_soon(connection, CLOSE_FORBIDDEN, "Session revoked")
                continue
            viewer = viewer_from_record(record, connection.token_hash)
            if viewer != connection.viewer:
                old = connection.viewer
                connection.context.viewer = viewer
                if old.organization_id != viewer.organization_id:
                    if old.organization_id is not None:
                        self._discard(self.connections, old.organization_id, connection)
                    if viewer.organization_id is not None:
                        self.connections[viewer.organization_id].add(connection)
                for watch in connection.watches:
                    watch.changed.set()

    async def sweep(self) -> None:
        """Safety net and day changes (a background service): a tenant whose day
        or version moved without a notification heard (contract buckets move
        at midnight)."""
        while True:
            await asyncio.sleep(self.sweep_seconds)
            orgs = list(self.topics_by_org)
            if not orgs:
                continue
            current_stats.set(None)
            try:
                found = await fetch_versions(self.pool, orgs)
            except (OSError, asyncpg.PostgresError) as error:
                logger.warning("live sweep failed", extra={"error": str(error)})
                continue
            for versions in found:
                seen = (versions.version, versions.today)
                known = self.versions.get(versions.organization_id)
                self.versions[versions.organization_id] = seen
                if known is not None and known != seen:
                    self._refresh(versions.organization_id)


async def watch_summary(context: Context, group_id: str | None) -> AsyncIterator[SummaryRow]:
    """The summary now, then each time it changes (and only then)."""
    hub = context.resources.live
    watch = hub.add_watch(context, group_id)
    started = time.monotonic()
    try:
        last: SummaryRow | None = None
        while not watch.connection.closed:
            watch.changed.clear()
            row = await hub.current(watch)
            if watch.connection.closed:
                return
            if row is None:
                raise group_not_found(context)
            if row != last:
                last = row
                PUSHES.inc()
                yield row
            await watch.changed.wait()
    finally:
        hub.remove_watch(watch)
        logger.debug("summary subscription ended", extra={"seconds": time.monotonic() - started})
