"""The change feed: tenants' data versions, as PostgreSQL notifies them.

Every write that can change what a fleet viewer sees bumps its tenant's
versions in its own transaction (migrations 0021, 0022, 0050), and a trigger
on `fleet_versions` notifies them on commit:

    channel service360_changes   payload "organization_id:data_version:version"
    channel service360_sessions  payload "user_id" (a session revoked or removed)

`ChangeFeed` listens on ONE dedicated connection per worker (not a pooled
one: LISTEN belongs to a session), reconnects by itself with back-off, and
after every (re)connection tells its subscribers to treat everything as
changed, since notifications sent while it was away are lost.

`fetch_versions` reads versions directly: a reader that must not miss a write
whose commit was already acknowledged reads the version itself, since a
notification reaches other connections some time after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import asyncpg

from db.types import Executor

logger = logging.getLogger("service360.changes")

CHANGES_CHANNEL = "service360_changes"
SESSIONS_CHANNEL = "service360_sessions"


@dataclass(frozen=True)
class TenantChange:
    """A tenant's versions after a committed write."""

    organization_id: int
    data_version: int
    version: int


@dataclass(frozen=True)
class TenantVersions:
    organization_id: int
    data_version: int
    version: int
    today: date


class ChangeSubscriber(Protocol):
    def tenant_changed(self, change: TenantChange) -> None: ...

    def sessions_changed(self, user_id: int) -> None: ...

    def everything_changed(self) -> None: ...


def parse_change(payload: str) -> TenantChange | None:
    parts = payload.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return TenantChange(int(parts[0]), int(parts[1]), int(parts[2]))


async def fetch_versions(conn: Executor, organization_ids: Sequence[int]) -> list[TenantVersions]:
    """Current versions and day of these tenants (a tenant never written has 0, 0)."""
    rows = await conn.fetch(
        """
        select o.id, coalesce(v.data_version, 0) as data_version,
               coalesce(v.version, 0) as version,
               (now() at time zone o.time_zone)::date as today
          from organizations o
          left join fleet_versions v on v.organization_id = o.id
         where o.id = any($1::bigint[])
        """,
        list(organization_ids),
    )
    return [TenantVersions(r["id"], r["data_version"], r["version"], r["today"]) for r in rows]


Connect = Callable[[], Any]  # an awaitable of asyncpg.Connection


class ChangeFeed:
    """LISTEN on one connection of its own; subscribers hear every change.

    `current` is True while the listening connection is up and nothing may
    have been missed since the last `everything_changed`.
    """

    def __init__(
        self,
        dsn: str,
        *,
        ping_seconds: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.ping_seconds = ping_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.subscribers: list[ChangeSubscriber] = []
        self.current = False
        self.connections = 0  # successful (re)connections, for tests and metrics
        self._listening = asyncio.Event()

    def subscribe(self, subscriber: ChangeSubscriber) -> None:
        self.subscribers.append(subscriber)

    async def wait_current(self, seconds: float = 10.0) -> bool:
        """True once listening (again); for the start, tests and readiness."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), seconds)
        return self.current

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with back-off (a background service)."""
        backoff = self.min_backoff
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": "service360-changes"}
                )
            except (OSError, asyncpg.PostgresError) as error:
                logger.warning("change feed cannot connect", extra={"error": str(error)})
                await asyncio.sleep(backoff * (1 + random.random()))  # noqa: S311 - jitter
                backoff = min(backoff * 2, self.max_backoff)
                continue
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANGES_CHANNEL, self._on_change)
                await conn.add_listener(SESSIONS_CHANNEL, self._on_session)
                # Listening: whatever commits from now on is heard. What
                # committed while nobody listened is covered by treating
                # everything as changed.
                self.connections += 1
                self.current = True
                self._listening.set()
                self._everything_changed()
                backoff = self.min_backoff
                await self._watch(conn, lost)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                logger.warning("change feed connection lost", extra={"error": str(error)})
            finally:
                self.current = False
                self._listening.clear()
                if not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(backoff * (1 + random.random()))  # noqa: S311 - jitter
            backoff = min(backoff * 2, self.max_backoff)

    # ------------------------------------------------------------ internals

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Until the connection ends: the server closing it ends at once, a
        silent network loss by the ping's timeout."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self.ping_seconds)
            if lost.is_set() or conn.is_closed():
                break
            await conn.fetchval("select 1", timeout=self.ping_seconds)
        logger.warning("change feed connection ended; reconnecting")

    def _on_change(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        change = parse_change(str(payload))
        if change is None:
            return
        for subscriber in self.subscribers:
            try:
                subscriber.tenant_changed(change)
            except Exception:
                logger.exception("change subscriber failed")

    def _on_session(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        if not str(payload).isdigit():
            return
        for subscriber in self.subscribers:
            try:
                subscriber.sessions_changed(int(str(payload)))
            except Exception:
                logger.exception("session subscriber failed")

    def _everything_changed(self) -> None:
        for subscriber in self.subscribers:
            try:
                subscriber.everything_changed()
            except Exception:
                logger.exception("change subscriber failed")


async def fetch_viewer_with_versions(conn: Executor, token_hash: bytes) -> asyncpg.Record | None:
    """The session's viewer (as db.sessions reads it) with its tenant's versions
    and day, in one statement: the freshness check of a cached answer costs no
    round trip beyond the session lookup every request makes anyway."""
    return await conn.fetchrow(
        """
        select u.id, u.email, u.organization_id, u.role, u.site_scope, u.step,
               u.is_staff, u.preferred_language, u.verified_at, s.expires_at,
               coalesce(v.data_version, 0) as data_version,
               coalesce(v.version, 0) as version,
               u.last_write_lsn, pg_current_wal_insert_lsn() as wal_lsn,
               (now() at time zone o.time_zone)::date as today
          from sessions s
          join users u on u.id = s.user_id
          left join organizations o on o.id = u.organization_id
          left join fleet_versions v on v.organization_id = u.organization_id
         where s.token_hash = $1 and s.revoked_at is null and s.expires_at > now()
        """,
        token_hash,
    )


async def fetch_viewers_with_versions(
    conn: Executor, token_hashes: Sequence[bytes]
) -> list[asyncpg.Record]:
    """Many sessions at once (live subscriptions re-checking theirs)."""
    return await conn.fetch(
        """
        select s.token_hash, u.id, u.email, u.organization_id, u.role, u.site_scope, u.step,
               u.is_staff, u.preferred_language, u.verified_at, s.expires_at,
               coalesce(v.data_version, 0) as data_version,
               coalesce(v.version, 0) as version,
               u.last_write_lsn, pg_current_wal_insert_lsn() as wal_lsn,
               (now() at time zone o.time_zone)::date as today
          from sessions s
          join users u on u.id = s.user_id
          left join organizations o on o.id = u.organization_id
          left join fleet_versions v on v.organization_id = u.organization_id
         where s.token_hash = any($1::bytea[]) and s.revoked_at is null and s.expires_at > now()
        """,
        list(token_hashes),
    )
