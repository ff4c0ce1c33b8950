"""`make bench` / `python -m bench`: the Summary tab, filtered lists and sign-in at scale.

Environment:
    BENCH_SCALE         S (10k products, default), M (100k) or L (1M)
    BENCH_SEED          generator seed (default 360)
    BENCH_CONCURRENCY   clients per scenario (default 16)
    BENCH_WARMUP        seconds of warm-up per scenario (default 2 at S, 3 above)
    BENCH_DURATION      measured seconds per scenario (default 6 at S, 15 above)
    BENCH_SIGNIN_CONCURRENCY  sign-in clients in the storm (default 8)
    BENCH_DATABASE_URL  a database of your own (default: embedded, .data/bench-postgres)
    BENCH_EXECUTORS     e.g. "compiled,stock" (default: both when the compiled
                        executor exists, the first is the primary)
    BENCH_SYNC          0: skip the sync scenario (bench/sync.py: 100,000 updates
                        from a file, then a stream at BENCH_SYNC_RATE (2000)/s for
                        BENCH_SYNC_SECONDS (30) through NATS and `server.py consume`)
    BENCH_REPLICA       1: also serve the dashboard and the mobile list from a streaming
                        replica (DATABASE_REPLICA_URLS) and report the primary's CPU per
                        request with and without it (bench/replica.py; BENCH_REPLICA_URL
                        for a replica of your own)
    BENCH_PROFILE       1: sample the server with py-spy during the primary executor's
                        dashboard, group and mobile_list (collapsed stacks in
                        .data/bench-profiles/<scale>-<scenario>.stacks)
    BENCH_LIVE_CONNECTIONS, BENCH_LIVE_TENANTS, BENCH_LIVE_RATE
                        the live scenario: graphql-ws connections (default 2000),
                        small tenants they spread over (200), product changes
                        per second (50); BENCH_LIVE_CONNECTIONS=0 skips it
    WORKERS             server processes (default: the number of CPUs)

Steps: load (or reuse) the dataset; for each executor, start the real server
and drive it from `python -m bench.load` (a separate process) through the
scenarios; then, with the server stopped, measure the references (naive path,
SQL floor, argon2 limit, executor microbenchmark) in this process; print the
table and write bench/results/<scale>.json.
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil

from bench import live, naive, profile, replica, report, scenarios
from bench import sync as sync_scenario
from bench.database import ROOT, bench_database_url, open_session, prepare_dataset
from bench.generator import SCALES, Dataset
from bench.load import percentile
from bench.process import ServerProcess, running_server
from bench.references import argon2_limit, capture_request, sql_floor
from config import Settings

# Every sign-in of the storm comes from one client address, so the per-client
# and per-address throttles (DESIGN §5) would answer RATE_LIMITED at once and
# the storm would measure the limiter, not argon2: they are raised for the bench,
# and so is the argon2 queue's bound (a full queue refuses at once).
SERVER_ENV = {
    "THROTTLE_PER_CLIENT": "1000000",
    "THROTTLE_PER_ADDRESS": "1000000",
    "ARGON2_MAX_QUEUE": "10000",
}


def progress(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class BenchConfig:
    scale: str
    seed: int
    concurrency: int
    signin_concurrency: int
    warmup: float
    duration: float
    workers: int
    executors: tuple[str, ...]
    profile: bool = False
    replica: bool = False
    live_connections: int = 2000
    live_tenants: int = 200
    live_rate: float = 50.0

    @classmethod
    def from_env(cls) -> BenchConfig:
        env = os.environ
        scale = env.get("BENCH_SCALE", "S").upper()
        if scale not in SCALES:
            raise SystemExit(f"BENCH_SCALE must be one of {', '.join(SCALES)}, got {scale!r}")
        small = scale in ("XS", "S")
        return cls(
            scale=scale,
            seed=int(env.get("BENCH_SEED", "360")),
            concurrency=int(env.get("BENCH_CONCURRENCY", "16")),
            signin_concurrency=int(env.get("BENCH_SIGNIN_CONCURRENCY", "8")),
            warmup=float(env.get("BENCH_WARMUP", "2" if small else "3")),
            duration=float(env.get("BENCH_DURATION", "6" if small else "15")),
            workers=int(env.get("WORKERS") or os.cpu_count() or 1),
            executors=_executors(env.get("BENCH_EXECUTORS")),
            profile=env.get("BENCH_PROFILE", "") not in ("", "0"),
            replica=env.get("BENCH_REPLICA", "") not in ("", "0"),
            live_connections=int(env.get("BENCH_LIVE_CONNECTIONS", "2000")),
            live_tenants=int(env.get("BENCH_LIVE_TENANTS", "200")),
            live_rate=float(env.get("BENCH_LIVE_RATE", "50")),
        )


def _executors(raw: str | None) -> tuple[str, ...]:
    if raw:
        return tuple(e.strip() for e in raw.split(",") if e.strip())
    if "graphql_executor" in Settings.__dataclass_fields__:
        return ("compiled", "stock")
    return ("default",)


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def drive(plan: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Run the load driver process; its results and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    finished = subprocess.run(
        [sys.executable, "-m", "bench.load"],
        input=orjson.dumps(plan),
        capture_output=True,
        check=False,
        timeout=plan["warmup"] + plan["duration"] + 180,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if finished.returncode != 0:
        raise RuntimeError("load driver failed:\n" + finished.stderr.decode(errors="replace"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results: dict[str, Any] = orjson.loads(finished.stdout)
    return results, cpu


def run_scenario(
    server: ServerProcess,
    config: BenchConfig,
    workloads: list[dict[str, Any]],
    profile_to: Path | None = None,
) -> dict[str, dict[str, Any]]:
    server.take_lines("")  # forget earlier lines (warm-ups, checks)
    server.reset_peak()
    cache_before = answer_cache_counts(server)
    cpu_before = server.cpu_seconds()
    plan = {
        "url": server.url,
        "warmup": config.warmup,
        "duration": config.duration,
        "workloads": workloads,
    }
    sampler = None
    if profile_to is not None and server.process is not None:
        # Starts with the driver; the warm-up covers py-spy's own start.
        sampler = profile.start(server.process.pid, config.warmup + config.duration, profile_to)
    measured, driver_cpu = drive(plan)
    if sampler is not None:
        sampler.wait(timeout=60)
    time.sleep(0.3)  # the last log lines are still in the pipe
    server_cpu = server.cpu_seconds() - cpu_before
    cache_after = answer_cache_counts(server)
    cache = {k: cache_after[k] - cache_before[k] for k in cache_after}
    # Every request of the scenario (warm-up included) shares that CPU time.
    served = server.line_count()
    out = {}
    for workload in workloads:
        name = workload["name"]
        # Requests slower than the window all began in the warm-up: use those.
        lines = server.take_lines(f"bench-{name}-") or server.take_lines(f"warm-{name}-")
        statements = [line.sql_statements for line in lines]
        durations = sorted(line.duration_ms for line in lines)
        result = measured[name]
        out[name] = {
            **result,
            "sql_per_request": round(statistics.fmean(statements), 2) if statements else None,
            "sql_per_request_max": max(statements) if statements else None,
            # The typical request: a pooled connection's first statements
            # (asyncpg's type introspection) make a few requests count more.
            "sql_per_request_p50": statistics.median(statements) if statements else None,
            "server_p50_ms": percentile(durations, 50),
            "server_p99_ms": percentile(durations, 99),
            "peak_rss_mb": round(server.peak_rss / 2**20, 1),
            "server_cpu_s": round(server_cpu, 2),
            # Independent of what else runs on the machine: the server's own
            # CPU time per request (all of the scenario's workloads together).
            "server_cpu_ms_per_request": round(server_cpu * 1000 / served, 1) if served else None,
            "driver_cpu_s": round(driver_cpu, 2),
            # Anything else running on the machine shows here (2 cores: > 2 is contention).
            "load_average_1m": round(os.getloadavg()[0], 2),
            # Answer cache lookups during the scenario (all its workloads).
            "cache_hits": cache["hit"],
            "cache_misses": cache["miss"],
        }
        errors = ""
        if result["errors"]:
            errors = f", {result['errors']} errors {result['error_samples'][:1]}"
            # What the server said meanwhile (warnings, tracebacks) explains them.
            out[name]["server_log_tail"] = [line[:400] for line in list(server.other_lines)[-5:]]
        progress(
            f"    {name}: {result['rps']:.1f} req/s, p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms, SQL/req {out[name]['sql_per_request']}{errors}"
        )
    return out


def answer_cache_counts(server: ServerProcess) -> dict[str, float]:
    name = "service360_answer_cache_lookups_total"
    return {
        result: live.metric_sum(server, f'{name}{{result="{result}"}}')
        for result in ("hit", "miss")
    }


def run_executor(
    database_url: str, config: BenchConfig, dataset: Dataset, token: str, executor: str, full: bool
) -> dict[str, dict[str, Any]]:
    env = dict(SERVER_ENV)
    if executor != "default":
        env["GRAPHQL_EXECUTOR"] = executor
    if not full:
        # Executors are compared on execution itself, not on answer cache hits.
        env["ANSWER_CACHE_BYTES"] = "0"
    viewers = []
    if full and config.live_connections:
        viewers = asyncio.run(live.prepare_live_viewers(database_url, config.live_tenants))
    results: dict[str, dict[str, Any]] = {}
    progress(f"server: {config.workers} worker(s), executor {executor}")
    with running_server(database_url, config.workers, env) as server:
        for name in ("dashboard", "group", "mobile_list"):
            progress(f"  scenario {name} ({executor})")
            stacks = None
            if full and config.profile:
                stacks = ROOT / ".data" / "bench-profiles" / f"{config.scale}-{name}.stacks"
            run = run_scenario(
                server,
                config,
                [scenarios.workload(name, dataset, token, config.concurrency)],
                profile_to=stacks,
            )
            if stacks is not None and stacks.exists():
                run[name]["profile"] = profile.summarize(stacks)
            results[f"{name}@{executor}"] = run[name]
        if full:
            progress(f"  scenario signin ({executor}): sign-in alone")
            run = run_scenario(
                server,
                config,
                [scenarios.workload("signin", dataset, token, config.signin_concurrency)],
            )
            results[f"signin@{executor}"] = run["signin"]
            progress(f"  scenario signin_storm ({executor}): sign-in beside the dashboard")
            run = run_scenario(
                server,
                config,
                [
                    scenarios.workload(
                        "dashboard", dataset, token, config.concurrency, suffix="_storm"
                    ),
                    scenarios.workload("signin", dataset, token, config.signin_concurrency),
                ],
            )
            results[f"storm_dashboard@{executor}"] = run["dashboard_storm"]
            results[f"storm_signin@{executor}"] = run["signin"]
            progress(f"  scenario dashboard_under_writes ({executor}): one product per second")
            writer = live.ProductWriter(database_url, [dataset.organization_id], 1.0)
            writer.start()
            try:
                run = run_scenario(
                    server,
                    config,
                    [
                        scenarios.workload(
                            "dashboard", dataset, token, config.concurrency, suffix="_under_writes"
                        )
                    ],
                )
            finally:
                writes = writer.stop()
            run["dashboard_under_writes"]["writes"] = len(writes)
            results[f"dashboard_under_writes@{executor}"] = run["dashboard_under_writes"]
            if viewers:
                progress(
                    f"  scenario live ({executor}): {config.live_connections} connections, "
                    f"{config.live_rate:g} changes/s"
                )
                results[f"live@{executor}"] = live.run_live(
                    server,
                    database_url,
                    viewers,
                    config.live_connections,
                    config.live_rate,
                    config.warmup + config.duration,
                    progress,
                )
    return results


def run_replica_reads(
    database_url: str, config: BenchConfig, dataset: Dataset, token: str, executor: str
) -> dict[str, dict[str, Any]]:
    """BENCH_REPLICA=1: the read scenarios with every read on the primary, then on a replica."""

    def reads(
        extra_env: dict[str, str], primary_cpu: Callable[[], float | None]
    ) -> dict[str, dict[str, Any]]:
        env = {**SERVER_ENV, **extra_env}
        if executor != "default":
            env["GRAPHQL_EXECUTOR"] = executor
        out: dict[str, dict[str, Any]] = {}
        with running_server(database_url, config.workers, env) as server:
            for name in ("dashboard", "mobile_list"):
                before = primary_cpu()
                workload = scenarios.workload(name, dataset, token, config.concurrency)
                result = run_scenario(server, config, [workload])[name]
                after = primary_cpu()
                # Over the warm-up and the window, per request of the window:
                # a little high, the same way in both modes.
                result["primary_cpu_s"] = (
                    after - before if after is not None and before is not None else None
                )
                out[name] = result
        return out

    progress("replica: the dashboard and the mobile list, primary only, then with a replica")
    return replica.measure(database_url, reads, progress)


async def postgres_version(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        version: str = await conn.fetchval("show server_version")
        return version
    finally:
        await conn.close()


def executor_micro() -> dict[str, Any] | None:
    """bench/executor_micro.py (issue 8's), in its own process: its result, or its error."""
    if not (ROOT / "bench" / "executor_micro.py").exists():
        return None
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, orjson; from bench import executor_micro as m; "
            "r = m.main(['--repeat', '30']); sys.stdout.write('\\n' + orjson.dumps(r).decode())",
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=600,
    )
    lines = finished.stdout.decode(errors="replace").strip().splitlines()
    if finished.returncode != 0 or not lines:
        error = finished.stderr.decode(errors="replace").strip().splitlines()
        progress(f"    executor micro failed: {error[-1] if error else finished.returncode}")
        return {"error": error[-1] if error else f"exit {finished.returncode}"}
    for line in lines[:-1]:
        progress(f"    {line}")
    measured: dict[str, Any] = orjson.loads(lines[-1])
    return measured


def main() -> int:
    config = BenchConfig.from_env()
    started = time.perf_counter()
    with bench_database_url(config.scale) as database_url:
        dataset = asyncio.run(prepare_dataset(database_url, config.scale, config.seed, progress))
        token = asyncio.run(open_session(database_url, dataset.admin_id))
        scenario_results: dict[str, dict[str, Any]] = {}
        for index, executor in enumerate(config.executors):
            scenario_results.update(
                run_executor(database_url, config, dataset, token, executor, full=index == 0)
            )
        replica_results = (
            run_replica_reads(database_url, config, dataset, token, config.executors[0])
            if config.replica
            else None
        )
        primary_env = dict(SERVER_ENV)
        if config.executors[0] != "default":
            primary_env["GRAPHQL_EXECUTOR"] = config.executors[0]

        progress("references: the dashboard's SQL, captured in-process, replayed with asyncpg")
        # The floor is the computation's SQL: with the answer cache a repeat is
        # the session lookup alone.
        answer, statements = asyncio.run(
            capture_request(
                database_url,
                scenarios.dashboard_body(),
                token,
                {**primary_env, "ANSWER_CACHE_BYTES": "0"},
            )
        )
        if answer.get("errors"):
            raise SystemExit(f"the dashboard failed in-process: {answer['errors'][:1]}")
        floor = asyncio.run(
            sql_floor(database_url, statements, config.concurrency, config.warmup, config.duration)
        )
        progress(f"    floor: {floor['rps']} req/s, p50 {floor['p50_ms']} ms")
        progress("references: the naive path (one summary query per group, no DataLoader)")
        naive_result = asyncio.run(
            naive.measure(
                database_url,
                dataset,
                answer["data"],
                config.concurrency,
                config.warmup,
                config.duration,
            )
        )
        progress(
            f"    naive: {naive_result['rps']} req/s, p50 {naive_result['p50_ms']} ms, "
            f"answers equal: {naive_result['answers_equal']}"
        )
        progress("references: the dashboard statement right after a one-product write")
        first_read = asyncio.run(live.first_read_after_write(database_url, dataset))
        progress(
            f"    after a write: p50 {first_read['after_write_p50_ms']} ms "
            f"(cached {first_read['cached_p50_ms']} ms)"
        )
        progress("references: argon2 limit, executor microbenchmark")
        argon2 = argon2_limit()
        micro = executor_micro()
        pg_version = asyncio.run(postgres_version(database_url))
        sync_results = None
        if os.environ.get("BENCH_SYNC", "1") != "0":
            sync_results = sync_scenario.run(database_url, dataset, progress)

    results: dict[str, Any] = {
        "scale": config.scale,
        "seed": config.seed,
        "products": dataset.products,
        "concurrency": config.concurrency,
        "signin_concurrency": config.signin_concurrency,
        "warmup_s": config.warmup,
        "duration_s": config.duration,
        "workers": config.workers,
        "executors": list(config.executors),
        "primary_executor": config.executors[0],
        "machine": {**machine(), "postgres": pg_version},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scenarios": scenario_results,
        **({"replica": replica_results} if replica_results is not None else {}),
        "references": {
            "naive": naive_result,
            "floor": floor,
            "argon2": argon2,
            "first_read_after_write": first_read,
        },
        "executor_micro": micro,
        "sync": sync_results,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    results["derived"] = report.derive(results)
    print()
    print(report.table(results))
    path = report.write(results)
    print(f"\nwritten to {path.relative_to(path.parents[2])} in {results['wall_seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
