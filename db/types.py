"""The two kinds of database handle the db functions take.

``Conn`` is one connection: a transaction's locks (``for update``) and advisory locks
live on it, so functions that lock or must run inside the caller's transaction take
``Conn``. ``Executor`` is anything that runs a single statement: a pool picks a
connection per call, which is fine for reads and single-statement writes only.
"""

from __future__ import annotations

import asyncpg
import asyncpg.pool

from db.snapshot import ReadSnapshot

Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
# A ReadSnapshot reads (fetch, fetchrow, fetchval) in a query operation's snapshot.
Executor = asyncpg.Pool | Conn | ReadSnapshot
