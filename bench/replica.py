"""`BENCH_REPLICA=1 make bench`: the dashboard and the mobile list from a replica.

The gain of a replica is the primary's work it takes away, so that is what is
measured: the CPU seconds of the primary's PostgreSQL processes per request,
with every read on the primary, then with `DATABASE_REPLICA_URLS` set. The
replica is a streaming replica of the bench database's server, made with
`pg_basebackup -R` beside it (`.data/bench-replica`), or `BENCH_REPLICA_URL`'s.
Both PostgreSQL servers share this machine's cores, so throughput is not the
point here; the primary's CPU per request is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.database import ROOT
from db.embedded import dsn_for_database
from tests.support.pg_cluster import Cluster, free_port, pick_binaries

REPLICA_DIR = ROOT / ".data" / "bench-replica"
PRIMARY_DIR = ROOT / ".data" / "bench-postgres"


def postgres_cpu_seconds(data_dir: Path) -> float:
    """CPU time of a PostgreSQL server: the postmaster, its live backends, and
    the backends that have exited (reaped by the postmaster: its children's
    times), so a connection closed between two samples still counts."""
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        parent = psutil.Process(pid)
        own = parent.cpu_times()
        total += own.user + own.system + own.children_user + own.children_system
        for proc in parent.children():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


@contextlib.contextmanager
def bench_replica(primary_url: str) -> Iterator[str]:
    """BENCH_REPLICA_URL, or a fresh streaming replica of the embedded bench server."""
    given = os.environ.get("BENCH_REPLICA_URL")
    if given:
        yield given
        return
    if os.environ.get("BENCH_DATABASE_URL"):
        raise SystemExit("BENCH_REPLICA=1 with BENCH_DATABASE_URL needs BENCH_REPLICA_URL too")
    binaries = pick_binaries()
    shutil.rmtree(REPLICA_DIR, ignore_errors=True)
    REPLICA_DIR.mkdir(parents=True, mode=0o700)
    if binaries.system_user is not None:
        shutil.chown(REPLICA_DIR, binaries.system_user, binaries.system_user)
    parts = urlsplit(primary_url)
    # The whole URL: the embedded server is reached by its socket (?host=...).
    binaries.run(
        "pg_basebackup", "-d", primary_url, "-D", str(REPLICA_DIR), "-R", "-X", "stream",
        "--checkpoint=fast", "--no-sync", timeout=900,
    )  # fmt: skip
    replica = Cluster(binaries, REPLICA_DIR, free_port())
    (REPLICA_DIR / "postmaster.pid").unlink(missing_ok=True)
    replica.configure(
        port=str(replica.port),
        listen_addresses="127.0.0.1",
        unix_socket_directories=str(REPLICA_DIR),
        hot_standby="on",
    )
    replica.start()
    try:
        yield dsn_for_database(
            f"postgresql://{parts.username or 'postgres'}@127.0.0.1:{replica.port}/postgres",
            parts.path.strip("/"),
        )
    finally:
        replica.stop("fast")
        shutil.rmtree(REPLICA_DIR, ignore_errors=True)


# Every read reaches the database in both modes (the per-worker answer cache
# would otherwise serve repeated reads from memory, on the primary's session
# lookup alone): what a replica takes away is what a cache miss costs.
READ_ENV = {"ANSWER_CACHE_BYTES": "0"}

ReadRunner = Callable[[dict[str, str], Callable[[], float | None]], dict[str, dict[str, Any]]]


def measure(
    primary_url: str, run_reads: ReadRunner, progress: Callable[[str], None]
) -> dict[str, Any]:
    """The same reads with and without the replica; the primary's CPU per request of each.

    `run_reads(extra_env, primary_cpu)` starts the server with `extra_env` and
    runs the scenarios, answering {scenario: result} with `requests` and the
    `primary_cpu_s` it read from `primary_cpu()` around each scenario.
    """
    if os.environ.get("BENCH_DATABASE_URL"):
        progress("    primary CPU is measured only on the embedded bench server")
    out: dict[str, Any] = {}
    with bench_replica(primary_url) as replica_url:
        for mode, env in (
            ("primary", dict(READ_ENV)),
            ("replica", {**READ_ENV, "DATABASE_REPLICA_URLS": replica_url}),
        ):
            progress(f"  reads on the {mode} (answer cache off)")
            for name, result in run_reads(env, _primary_cpu).items():
                used, served = result.get("primary_cpu_s"), int(result.get("requests") or 0)
                result["primary_cpu_ms_per_request"] = (
                    round(used * 1000 / served, 2) if used is not None and served else None
                )
                out[f"{name}@{mode}"] = result
                progress(
                    f"    {name}: {result['rps']:.1f} req/s, p50 {result['p50_ms']} ms, "
                    f"primary CPU {result['primary_cpu_ms_per_request']} ms/request"
                )
    return out


def _primary_cpu() -> float | None:
    if os.environ.get("BENCH_DATABASE_URL"):
        return None
    return postgres_cpu_seconds(PRIMARY_DIR)
