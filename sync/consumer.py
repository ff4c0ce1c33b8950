"""`server.py consume`: the change lines of `sync`, from NATS JetStream.

One JSON change per message. A durable pull consumer (several `consume`
processes may share it) fetches batches closed by size (SYNC_BATCH_SIZE) or
time (SYNC_BATCH_WAIT_MS after the batch's first message); each batch is one
transaction (sync/apply.py) and its messages are acknowledged only after it
commits. A crash or restart before the acknowledgement re-delivers them, and
applying a change twice leaves the state as once (db/sync.py), so nothing is
lost or counted twice. A rejected message is acknowledged too (redelivering
it cannot help) and written to SYNC_REJECTS_FILE when set, else logged.

Settings (environment): NATS_URL (required), NATS_STREAM (SERVICE360_CHANGES,
created with NATS_SUBJECT when missing), NATS_SUBJECT (service360.changes.>),
NATS_DURABLE (service360-sync), SYNC_BATCH_SIZE (1000), SYNC_BATCH_WAIT_MS
(100), SYNC_ACK_WAIT_SECONDS (60), CONSUME_METRICS_HOST (127.0.0.1),
CONSUME_METRICS_PORT (9464; 0: no endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import asyncpg
import nats
import orjson
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from config import ConfigError
from db.sync import Change, prepare
from sync import metrics
from sync.apply import Tally, apply_changes
from sync.changes import BadChange, parse_change

logger = logging.getLogger("service360.consume")


@dataclass(frozen=True)
class ConsumerSettings:
    nats_url: str
    stream: str = "SERVICE360_CHANGES"
    subject: str = "service360.changes.>"
    durable: str = "service360-sync"
    batch_size: int = 1000
    batch_wait: float = 0.1
    ack_wait: float = 60.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    rejects_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConsumerSettings:
        url = env.get("NATS_URL", "")
        if not url.startswith(("nats://", "tls://")):
            raise ConfigError("NATS_URL must be set (nats://host:4222) for consume")

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {raw!r}") from None
            if not low <= value <= high:
                raise ConfigError(f"{name} must be between {low:g} and {high:g}")
            return value

        return cls(
            nats_url=url,
            stream=env.get("NATS_STREAM", cls.stream),
            subject=env.get("NATS_SUBJECT", cls.subject),
            durable=env.get("NATS_DURABLE", cls.durable),
            batch_size=int(number("SYNC_BATCH_SIZE", cls.batch_size, 1, 50_000)),
            batch_wait=number("SYNC_BATCH_WAIT_MS", cls.batch_wait * 1000, 1, 60_000) / 1000,
            ack_wait=number("SYNC_ACK_WAIT_SECONDS", cls.ack_wait, 1, 3600),
            metrics_host=env.get("CONSUME_METRICS_HOST", cls.metrics_host),
            metrics_port=int(number("CONSUME_METRICS_PORT", cls.metrics_port, 0, 65535)),
            rejects_file=env.get("SYNC_REJECTS_FILE", ""),
        )


async def ensure_stream(js: JetStreamContext, settings: ConsumerSettings) -> None:
    """The stream, created on first use (an existing one is left as it is)."""
    try:
        await js.stream_info(settings.stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=settings.stream, subjects=[settings.subject]))


async def next_batch(sub: JetStreamContext.PullSubscription, size: int, wait: float) -> list[Any]:
    """Up to `size` messages: waits (long poll) for a first one, then at most
    `wait` seconds for the rest."""
    try:
        messages = await sub.fetch(size, timeout=5)
    except TimeoutError:
        return []
    deadline = time.monotonic() + wait
    while len(messages) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0.001:
            break
        try:
            messages += await sub.fetch(size - len(messages), timeout=remaining)
        except TimeoutError:
            break
    return messages


class Consumer:
    def __init__(
        self, settings: ConsumerSettings, database_url: str, rejects: BinaryIO | None = None
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.rejects = rejects
        self.tally = Tally()
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        s = self.settings
        nc = await nats.connect(s.nats_url, name="service360-consume", max_reconnect_attempts=-1)
        conn = await asyncpg.connect(self.database_url)
        try:
            await prepare(conn)
            js = nc.jetstream()
            await ensure_stream(js, s)
            sub = await js.pull_subscribe(
                s.subject,
                durable=s.durable,
                stream=s.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=s.ack_wait,
                    max_ack_pending=max(s.batch_size * 4, 1000),
                ),
            )
            logger.info("consuming", extra={"stream": s.stream, "durable": s.durable})
            while not self.stopping.is_set():
                fetching = asyncio.ensure_future(next_batch(sub, s.batch_size, s.batch_wait))
                stopping = asyncio.ensure_future(self.stopping.wait())
                await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not fetching.done():
                    # Stopping while waiting: what the fetch brings is not
                    # acknowledged, so the stream delivers it again later.
                    fetching.cancel()
                    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                        await fetching
                    break
                messages = fetching.result()
                if messages:
                    await self.apply(conn, messages)
            await nc.flush()
        finally:
            await conn.close()
            await nc.close()

    async def apply(self, conn: asyncpg.Connection, messages: list[Any]) -> None:
        started = time.perf_counter()
        changes: list[Change] = []
        refused: dict[int, str] = {}
        raw: dict[int, bytes] = {}
        for message in messages:
            sequence = message.metadata.sequence.stream
            if sequence in raw:
                continue  # delivered twice within the batch (its ack wait ran out)
            raw[sequence] = message.data
            try:
                changes.append(parse_change(sequence, message.data))
            except BadChange as error:
                refused[sequence] = str(error)
        result = await apply_changes(conn, changes)
        refused.update(result.rejects)
        # Committed: only now may the stream forget these messages.
        for message in messages:
            await message.ack()
        committed = time.time()
        self.tally.add(result)
        self.tally.reject(len(refused) - len(result.rejects))
        rejects = self.rejects
        for sequence, reason in sorted(refused.items()):
            logger.info("change rejected", extra={"sequence": sequence, "error": reason})
            if rejects is not None:
                line = {
                    "line": sequence,
                    "error": reason,
                    "change": raw[sequence].decode(errors="replace"),
                }
                rejects.write(orjson.dumps(line) + b"\n")
        if rejects is not None:
            rejects.flush()
        metrics.BATCHES.inc()
        metrics.BATCH_SIZE.observe(len(messages))
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
        for outcome in result.outcomes.values():
            metrics.CHANGES.labels(outcome).inc()
        if refused:
            metrics.CHANGES.labels("rejected").inc(len(refused))
            metrics.REJECTS.inc(len(refused))
        published = [m.metadata.timestamp.timestamp() for m in messages if m.metadata.timestamp]
        for at in published:
            metrics.DELIVERY_SECONDS.observe(max(0.0, committed - at))
        if published:
            metrics.LAG_SECONDS.set(max(0.0, committed - min(published)))
        metrics.LAG_MESSAGES.set(messages[-1].metadata.num_pending or 0)
