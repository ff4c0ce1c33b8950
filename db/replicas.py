"""Streaming replicas for fleet reads: which one may serve a read, and when.

A `ReplicaSet` owns one pool per replica (`DATABASE_REPLICA_URLS`) and a
monitor task that, every `check_seconds`, reads the primary's WAL insert
position and each replica's replay position. From those it keeps, per
replica:

- `replay_lsn`: how far it has replayed (monotonic while it stays up);
- `lag_seconds`: how long ago the primary was where the replica is now (the
  age of the oldest primary position, among recent samples, that the replica
  has not replayed yet; 0 when it has replayed everything seen);
- `state`: `up` (in rotation), `lagging` (lag past `max_lag_seconds`) or
  `down` (it failed to answer; retried at every check).

Read-your-writes: a caller that wrote asks `choose(min_lsn)` with the WAL
position of its last commit; only a replica known to have replayed that far
is returned, else `None` (read on the primary). Positions are compared as
integers (asyncpg decodes `pg_lsn` to int).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import asyncpg

from db.pool import create_pool

logger = logging.getLogger("service360.replicas")

ReplicaState = Literal["up", "lagging", "down"]

# How long primary positions are remembered to turn a replay position into a
# lag in seconds; a replica further behind than this counts as this far.
_HISTORY_SECONDS = 120.0


def describe(url: str) -> str:
    """host:port/db of a URL, without credentials: safe for logs and metrics."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


@dataclass
class Replica:
    name: str
    url: str
    pool: asyncpg.Pool | None = None
    state: ReplicaState = "down"
    replay_lsn: int = 0
    lag_seconds: float = 0.0
    last_error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "lagSeconds": round(self.lag_seconds, 3),
            "replayLsn": self.replay_lsn,
            **({"error": self.last_error} if self.last_error else {}),
        }


@dataclass
class ReplicaSet:
    primary: asyncpg.Pool
    urls: tuple[str, ...]
    max_lag_seconds: float = 1.0
    check_seconds: float = 0.2
    pool_max_size: int = 10
    replicas: list[Replica] = field(init=False)
    _history: deque[tuple[float, int]] = field(init=False, default_factory=deque)
    _turn: itertools.count[int] = field(init=False, default_factory=itertools.count)
    _checked: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.replicas = [Replica(describe(url), url) for url in self.urls]

    # ------------------------------------------------------------ lifecycle

    async def monitor(self) -> None:
        """Check every `check_seconds` until cancelled (a background service: an
        unexpected failure of a check is logged and monitoring restarts)."""
        while True:
            await asyncio.sleep(self.check_seconds)
            await self.check()

    async def close(self) -> None:
        """Close the replicas' pools (once `monitor` has stopped)."""
        for replica in self.replicas:
            if replica.pool is not None:
                await replica.pool.close()

    # ------------------------------------------------------------ checking

    async def check(self) -> None:
        """One round: the primary's position, then each replica's."""
        now = time.monotonic()
        try:
            primary_lsn = await self.primary.fetchval("select pg_current_wal_insert_lsn()")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            primary_lsn = None  # the primary is away: keep the replicas' last verdicts
        if primary_lsn is not None:
            self._history.append((now, int(primary_lsn)))
            while self._history and now - self._history[0][0] > _HISTORY_SECONDS:
                self._history.popleft()
        await asyncio.gather(*(self._check_one(replica, now) for replica in self.replicas))
        self._checked.set()

    async def _check_one(self, replica: Replica, now: float) -> None:
        try:
            if replica.pool is None:
                replica.pool = await create_pool(
                    replica.url, min_size=1, max_size=self.pool_max_size, connect_timeout=2
                )
            row = await replica.pool.fetchrow(
                "select pg_is_in_recovery() as standby, pg_last_wal_replay_lsn() as replayed",
                timeout=2,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._mark_down(replica, error)
            return
        assert row is not None
        if not row["standby"] or row["replayed"] is None:
            # Promoted, or not a streaming standby: positions mean nothing here.
            self._mark_down(replica, RuntimeError("not a standby in recovery"))
            return
        replica.replay_lsn = max(replica.replay_lsn, int(row["replayed"]))
        replica.lag_seconds = self._lag(replica.replay_lsn, now)
        replica.last_error = None
        state: ReplicaState = "up" if replica.lag_seconds <= self.max_lag_seconds else "lagging"
        if state != replica.state:
            logger.info(
                "replica %s is %s",
                replica.name,
                state,
                extra={"replica": replica.name, "lag_seconds": replica.lag_seconds},
            )
        replica.state = state

    def _lag(self, replayed: int, now: float) -> float:
        for seen_at, position in self._history:
            if position > replayed:
                return now - seen_at
        return 0.0

    def _mark_down(self, replica: Replica, error: BaseException) -> None:
        if replica.state != "down":
            logger.warning(
                "replica %s is down: %s", replica.name, error, extra={"replica": replica.name}
            )
        replica.state = "down"
        replica.last_error = type(error).__name__

    def report_failure(self, pool: asyncpg.Pool, error: BaseException) -> None:
        """A request saw `pool`'s replica fail: out of rotation until a check succeeds."""
        for replica in self.replicas:
            if replica.pool is pool:
                self._mark_down(replica, error)

    # ------------------------------------------------------------ choosing

    def choose(self, min_lsn: int = 0) -> Replica | None:
        """A replica in rotation that has replayed `min_lsn`, in turn; else None."""
        ready = [
            r
            for r in self.replicas
            if r.state == "up" and r.pool is not None and r.replay_lsn >= min_lsn
        ]
        if not ready:
            return None
        return ready[next(self._turn) % len(ready)]

    def status(self) -> list[dict[str, object]]:
        return [replica.as_json() for replica in self.replicas]
