"""Issue 13's scenarios: the dashboard under writes, and live subscriptions.

- `dashboard_under_writes`: the dashboard workload while a writer changes one
  product of the bench tenant per second through SQL (as the install-base
  feed would); every answer after a write is recomputed.
- `first_read_after_write` (a reference, server stopped): the dashboard's
  summary statement run right after a one-product write, in-process.
- `live`: N graphql-ws connections (bench/live_load.mjs, the reference client),
  each subscribed to its tenant's fleet summary and 10 group summaries, spread
  over small tenants, while a writer changes products of random tenants at a
  fixed rate; reports change-to-push latency (writer's commit to the client's
  receipt), pushes per second, recomputations per change, server CPU per
  push and memory per idle subscription.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench.generator import Dataset
from bench.load import percentile
from bench.process import ServerProcess
from db.fleet import ViewerScope
from db.summary import fetch_summaries
from resolvers.ids import encode_id
from resolvers.viewer import hash_token

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIR = ROOT / "tests" / "graphql_ws"
LIVE_GROUPS = 10
# Every write changes the product (a write of equal values changes no version).
TOGGLE_HEALTH = (
    "update products set health = case when health = 'CRITICAL' then 'GOOD' else 'CRITICAL' end "
    "where id = $1"
)


# ------------------------------------------------------------ the writer


class ProductWriter:
    """Changes one product's health per tick in its own thread (own event loop),
    recording (organization, time before the statement, time after its commit)."""

    def __init__(
        self, dsn: str, organizations: list[int], per_second: float, *, rotate: bool = False
    ) -> None:
        self.dsn = dsn
        self.organizations = organizations
        self.per_second = per_second
        self.rotate = rotate  # tenants in turn (each changed at most once per round)
        self.commits: list[tuple[int, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[tuple[int, float, float]]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.commits

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        rng = random.Random(13)
        try:
            products: dict[int, list[int]] = {}
            for org in self.organizations:
                products[org] = [
                    r["id"]
                    for r in await conn.fetch(
                        "select id from products where organization_id = $1 order by id limit 200",
                        org,
                    )
                ]
            interval = 1.0 / self.per_second
            tick = time.perf_counter()
            turn = 0
            while not self._stop.is_set():
                org = (
                    self.organizations[turn % len(self.organizations)]
                    if self.rotate
                    else rng.choice(self.organizations)
                )
                turn += 1
                product = rng.choice(products[org])
                before = time.time() * 1000
                await conn.execute(TOGGLE_HEALTH, product)
                self.commits.append((org, before, time.time() * 1000))
                tick += interval
                delay = tick - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            await conn.close()


# ------------------------------------------------------------ first read after a write


async def first_read_after_write(dsn: str, dataset: Dataset, repeats: int = 10) -> dict[str, Any]:
    """The dashboard's summary statement (fleet + every group) right after one
    product of the tenant changed, in ms: what the first reader after a write pays.
    Writes alternate between a health change (counters only) and a move to
    another site (top-site counts too)."""
    conn = await asyncpg.connect(dsn, server_settings={"jit": "off"})
    try:
        scope = ViewerScope(dataset.organization_id, dataset.admin_id, True)
        views: list[int | None] = [None, *dataset.group_ids]
        product_ids = [
            r["id"]
            for r in await conn.fetch(
                "select id from products where organization_id = $1 order by id limit 50",
                dataset.organization_id,
            )
        ]
        site_ids = [
            r["id"]
            for r in await conn.fetch(
                "select id from sites where organization_id = $1 order by id limit 50",
                dataset.organization_id,
            )
        ]
        await fetch_summaries(conn, scope, views)  # warm plans and caches
        after: dict[str, list[float]] = {"health": [], "move": []}
        cached = []
        for n in range(repeats):
            product = product_ids[n % len(product_ids)]
            kind = "health" if n % 2 == 0 else "move"
            if kind == "health":
                await conn.execute(TOGGLE_HEALTH, product)
            else:
                await conn.execute(
                    "update products set site_id = $2 where id = $1 and site_id <> $2",
                    product,
                    site_ids[(n * 7) % len(site_ids)],
                )
            started = time.perf_counter()
            await fetch_summaries(conn, scope, views)
            after[kind].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await fetch_summaries(conn, scope, views)
            cached.append((time.perf_counter() - started) * 1000)
        every = after["health"] + after["move"]
        return {
            "repeats": repeats,
            "views": len(views),
            "after_write_p50_ms": round(statistics.median(every), 2),
            "after_write_max_ms": round(max(every), 2),
            "after_health_p50_ms": round(statistics.median(after["health"]), 2),
            "after_move_p50_ms": round(statistics.median(after["move"]), 2),
            "cached_p50_ms": round(statistics.median(cached), 2),
        }
    finally:
        await conn.close()


# ------------------------------------------------------------ live


@dataclass(frozen=True)
class LiveViewer:
    organization_id: int
    user_id: int
    token: str
    group_ids: tuple[str, ...]


async def prepare_live_viewers(dsn: str, tenants: int) -> list[LiveViewer]:
    """An administrator with 10 groups in each of `tenants` small tenants (made
    once, reused), and a fresh session for each."""
    conn = await asyncpg.connect(dsn)
    try:
        orgs = [
            r["id"]
            for r in await conn.fetch(
                "select id from organizations where name like 'Tenant %' order by id limit $1",
                tenants,
            )
        ]
        families = [r["id"] for r in await conn.fetch("select id from product_families")]
        viewers = []
        for org in orgs:
            email = f"live-{org}@bench-live.example"
            user_id = await conn.fetchval("select id from users where email = $1", email)
            if user_id is None:
                async with conn.transaction():
                    user_id = await conn.fetchval(
                        """
                        insert into users (email, password_hash, first_name, last_name, step,
                                           access_type, organization_id, role, site_scope,
                                           verified_at)
                        values ($1, 'not-a-real-hash', 'Live', 'Bench', 'COMPLETE',
                                'CUSTOMER_EMPLOYEE', $2, 'ADMIN', 'ALL_SITES', now())
                        returning id
                        """,
                        email,
                        org,
                    )
                    sites = [
                        r["id"]
                        for r in await conn.fetch(
                            "select id from sites where organization_id = $1 order by id", org
                        )
                    ]
                    for g in range(LIVE_GROUPS):
                        group = await conn.fetchval(
                            "insert into custom_groups (organization_id, owner_id, name) "
                            "values ($1, $2, $3) returning id",
                            org,
                            user_id,
                            f"Live {g}",
                        )
                        if g % 2 == 0:
                            await conn.execute(
                                "insert into custom_group_families "
                                "(organization_id, group_id, family_id) values ($1, $2, $3)",
                                org,
                                group,
                                families[g % len(families)],
                            )
                        else:
                            await conn.execute(
                                "insert into custom_group_sites "
                                "(organization_id, group_id, site_id) values ($1, $2, $3)",
                                org,
                                group,
                                sites[g % len(sites)],
                            )
            groups = [
                encode_id("CustomGroup", r["id"])
                for r in await conn.fetch(
                    "select id from custom_groups where owner_id = $1 order by id", user_id
                )
            ]
            token = secrets.token_urlsafe(32)
            await conn.execute(
                "insert into sessions (token_hash, user_id, expires_at) "
                "values ($1, $2, now() + interval '1 day')",
                hash_token(token),
                user_id,
            )
            viewers.append(LiveViewer(org, user_id, token, tuple(groups)))
        return viewers
    finally:
        await conn.close()


def metric_sum(server: ServerProcess, name: str) -> float:
    response = httpx.get(
        server.url.replace("/graphql", "/metrics"),
        headers={"Authorization": f"Bearer {server.metrics_token}"},
        timeout=10,
    )
    response.raise_for_status()  # a missing metric must not read as zero
    text = response.text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            if head == name or head.startswith(name + "{"):
                total += float(value)
    return total


def run_live(
    server: ServerProcess,
    dsn: str,
    viewers: list[LiveViewer],
    connections: int,
    changes_per_second: float,
    seconds: float,
    progress: Any,
) -> dict[str, Any]:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        return {"error": "node and npm are needed for the live scenario"}
    if not (CLIENT_DIR / "node_modules" / "graphql-ws").exists():
        subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT_DIR, check=True
        )
    plan_connections: list[dict[str, Any]] = [
        {
            "token": viewers[i % len(viewers)].token,
            "org": viewers[i % len(viewers)].organization_id,
            "groups": list(viewers[i % len(viewers)].group_ids),
        }
        for i in range(connections)
    ]
    subscriptions = sum(1 + len(c["groups"]) for c in plan_connections)
    plan = {
        "url": server.url.replace("http://", "ws://"),
        "seconds": seconds,
        "connections": plan_connections,
    }
    rss_before = server.rss()
    driver = subprocess.Popen(  # noqa: S603 - our own script
        [node, str(ROOT / "bench" / "live_load.mjs")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert driver.stdin is not None and driver.stdout is not None and driver.stderr is not None
    driver.stdin.write(orjson.dumps(plan))
    driver.stdin.close()
    ready_line = driver.stdout.readline().decode().split()
    if not ready_line or ready_line[0] != "ready":
        driver.kill()
        return {"error": "the clients did not get ready: " + driver.stderr.read().decode()[-400:]}
    time.sleep(2.0)  # idle: every subscription held, nothing changing
    rss_idle = server.rss()
    recomputed_before = metric_sum(server, "service360_live_recomputed_views_total")
    cpu_before = server.cpu_seconds()
    orgs = sorted({v.organization_id for v in viewers})
    writer = ProductWriter(dsn, orgs, changes_per_second, rotate=True)
    writer.start()
    window_started = time.time() * 1000
    time.sleep(max(1.0, seconds - 4.0))
    commits = writer.stop()
    writing_seconds = time.time() - window_started / 1000
    time.sleep(2.0)  # the last pushes
    cpu = server.cpu_seconds() - cpu_before
    recomputed = metric_sum(server, "service360_live_recomputed_views_total")
    out = driver.stdout.read()  # until the driver ends (its own timer)
    driver.wait(timeout=60)
    lines = out.decode().splitlines()
    pushes = [
        (int(parts[0]), int(parts[1]), int(parts[2]))
        for parts in (line.split() for line in lines)
        if len(parts) == 3 and all(part.isdigit() for part in parts)
    ]
    done = [line for line in lines if line.startswith("done ")]
    errors = int(done[-1].split()[1]) if done else -1
    # Change-to-push: for every change, each connection of its tenant should get
    # a fleet push (sub 0) after the commit and before the tenant's next change.
    by_org_connections: dict[int, list[int]] = {}
    for index, connection in enumerate(plan_connections):
        by_org_connections.setdefault(connection["org"], []).append(index)
    fleet_pushes: dict[int, list[int]] = {}
    for index, sub, at in pushes:
        if sub == 0:
            fleet_pushes.setdefault(index, []).append(at)
    for times in fleet_pushes.values():
        times.sort()
    latencies: list[float] = []
    missed = 0
    next_change: dict[int, float] = {}
    for org, before, _after in reversed(commits):
        horizon = next_change.get(org, before + 10_000)
        next_change[org] = before
        for index in by_org_connections.get(org, []):
            found = [t for t in fleet_pushes.get(index, []) if before <= t < horizon]
            if found:
                latencies.append(found[0] - before)
            else:
                missed += 1
    latencies.sort()
    window = (time.time() * 1000 - window_started) / 1000
    workers = server.workers
    topics = 1 + LIVE_GROUPS
    result = {
        "connections": connections,
        "subscriptions": subscriptions,
        "tenants": len(orgs),
        "changes": len(commits),
        "changes_per_second": round(len(commits) / writing_seconds, 1),
        "ready_ms": int(ready_line[1]),
        "pushes": len(pushes),
        "pushes_per_second": round(len(pushes) / window, 1),
        "push_p50_ms": percentile(latencies, 50),
        "push_p99_ms": percentile(latencies, 99),
        "push_max_ms": round(latencies[-1], 1) if latencies else None,
        "fleet_pushes_missed": missed,
        "errors": errors,
        "recomputed_views": recomputed - recomputed_before,
        "recomputed_views_per_change": round((recomputed - recomputed_before) / len(commits), 2)
        if commits
        else None,
        # Each worker holding a tenant's connections computes each of its topics once.
        "recomputations_per_topic_per_worker": round(
            (recomputed - recomputed_before) / (len(commits) * topics * workers), 2
        )
        if commits
        else None,
        "server_cpu_ms_per_push": round(cpu * 1000 / len(pushes), 3) if pushes else None,
        "memory_kb_per_idle_subscription": round((rss_idle - rss_before) / 1024 / subscriptions, 1),
        "rss_mb_idle": round(rss_idle / 2**20, 1),
    }
    progress(
        f"    live: {connections} connections, {subscriptions} subscriptions, "
        f"{result['changes']} changes, push p50 {result['push_p50_ms']} ms "
        f"p99 {result['push_p99_ms']} ms, {result['pushes_per_second']} pushes/s, "
        f"{result['recomputed_views_per_change']} recomputed views/change, "
        f"{result['memory_kb_per_idle_subscription']} KB/subscription, errors {errors}"
    )
    return result
