"""Where the bench data lives, and loading it only when it is not there yet.

`BENCH_DATABASE_URL` names a database on a server of your own; without it an
embedded PostgreSQL runs under `.data/bench-postgres` with one database per
scale (`bench_s`, `bench_m`, `bench_l`). A database whose `bench_dataset`
fingerprint matches the scale, seed, generator and migrations is reused, so M
and L are generated once; anything else is dropped and generated again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bench.generator import BENCH_PASSWORD, Dataset, Progress, generate, stored_dataset
from db.embedded import dsn_for_database, embedded_postgres
from db.migrate import apply_migrations
from resolvers.viewer import hash_token
from security.passwords import hash_password_sync

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def bench_database_url(scale: str) -> Iterator[str]:
    """BENCH_DATABASE_URL, or a database of the embedded bench server."""
    url = os.environ.get("BENCH_DATABASE_URL")
    name = f"bench_{scale.lower()}"
    if url:
        yield url if urlsplit(url).path.strip("/") else dsn_for_database(url, name)
        return
    with embedded_postgres(ROOT / ".data" / "bench-postgres") as server_dsn:
        yield dsn_for_database(server_dsn, name)


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.strip("/")


async def prepare_dataset(dsn: str, scale: str, seed: int, progress: Progress) -> Dataset:
    """The dataset for (scale, seed) in `dsn`: reused when it matches, else generated."""
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        conn = None
    if conn is not None:
        try:
            dataset = await stored_dataset(conn, scale, seed)
        finally:
            await conn.close()
        if dataset is not None:
            progress(f"reusing the {scale} dataset (seed {seed}) in {database_name(dsn)}")
            return dataset
    name = database_name(dsn)
    progress(f"generating the {scale} dataset (seed {seed}) into {name}")
    started = time.perf_counter()
    admin = await asyncpg.connect(dsn_for_database(dsn, "postgres"))
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
        dataset = await generate(conn, scale, seed, hash_password_sync(BENCH_PASSWORD), progress)
    finally:
        await conn.close()
    progress(f"dataset ready in {time.perf_counter() - started:.1f}s")
    return dataset


async def open_session(dsn: str, user_id: int) -> str:
    """A bearer token for `user_id`, stored the way sign-in stores one."""
    token = secrets.token_urlsafe(32)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "insert into sessions (token_hash, user_id, expires_at) "
            "values ($1, $2, now() + interval '1 day')",
            hash_token(token),
            user_id,
        )
    finally:
        await conn.close()
    return token
