"""Numbered SQL migrations, applied once under an advisory lock.

Files are `db/migrations/NNNN_name.sql`. Each file and the row that records it
commit in one transaction. The lock is taken and released on the same
connection, so several workers starting at once apply each file once.
A file edited after it was applied stops the start (its checksum changed).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit number; it names the lock, not data.
ADVISORY_LOCK_KEY = 360_360_001
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"bad migration file name: {path.name} (want NNNN_name.sql)")
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return migrations


async def apply_migrations(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations; return the versions applied now."""
    applied_now: list[int] = []
    await conn.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(
            """
            create table if not exists schema_migrations (
                version integer primary key,
                name text not null,
                checksum text not null,
                applied_at timestamptz not null default now()
            )
            """
        )
        done = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("select version, checksum from schema_migrations")
        }
        for migration in load_migrations():
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it "
                        "was applied; add a new migration instead"
                    )
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "insert into schema_migrations (version, name, checksum) "
                        "values ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as error:
                position = getattr(error, "position", None)
                where = ""
                if position:
                    line = migration.sql[: int(position)].count("\n") + 1
                    where = f" at line {line}"
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed{where}: {error}"
                ) from error
            applied_now.append(migration.version)
            logger.info("migration applied", extra={"version": migration.version})
    finally:
        await conn.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    return applied_now


async def pending_migrations(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
) -> list[int]:
    """Versions on disk not yet recorded (for /readyz)."""
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    recorded: set[int] = set()
    if exists:
        recorded = {r["version"] for r in await conn.fetch("select version from schema_migrations")}
    return [m.version for m in load_migrations() if m.version not in recorded]
