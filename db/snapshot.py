"""One consistent view of the database for the reads of one query operation.

`ReadSnapshot` answers `fetch`, `fetchrow` and `fetchval` as a pool does, but
every statement runs on the same connection inside one REPEATABLE READ
transaction, opened by the first statement: each later statement sees the
database as that first one did. A group deleted while a dashboard is read is
therefore either in every part of the answer (its summary included) or in
none. Nothing is taken from the pool until the first statement.

Statements run one at a time (a lock, in arrival order) and each in a task of
its own: graphql-core cancels the siblings of a failed field, and a caller
cancelled midway must not interrupt a statement on the shared connection
(asyncpg would cancel it server-side and abort the transaction for every
other reader of the request).

A statement that fails in the server aborts the transaction. It is rolled
back at once, so the next statement runs (in a new snapshot) instead of
failing for a reason that is not its own. `close()` commits (summary reads
fill the shared summary cache), hands the connection back and never raises:
the answer is already computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from db.availability import database_unavailable

logger = logging.getLogger("service360.db")

BEGIN = "begin isolation level repeatable read"


class ReadSnapshot:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._lock = asyncio.Lock()
        self._conn: PoolConnectionProxy | None = None
        self._in_transaction = False
        self._closed = False

    # Awaitables, as the pool's methods are (asyncpg's signatures).
    def fetch(self, query: str, *args: Any, timeout: float | None = None) -> Awaitable[list[Any]]:
        return self._statement("fetch", query, args, timeout=timeout)

    def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Awaitable[Any]:
        return self._statement("fetchrow", query, args, timeout=timeout)

    def fetchval(
        self, query: str, *args: Any, column: int = 0, timeout: float | None = None
    ) -> Awaitable[Any]:
        return self._statement("fetchval", query, args, column=column, timeout=timeout)

    def execute(self, query: str, *args: Any, timeout: float | None = None) -> Awaitable[str]:
        return self._statement("execute", query, args, timeout=timeout)

    async def close(self) -> None:
        """End the transaction and give the connection back (also when cancelled)."""
        await asyncio.shield(self._close())

    # ------------------------------------------------------------ internals

    def _statement(
        self, method: str, query: str, args: tuple[Any, ...], **options: Any
    ) -> asyncio.Future[Any]:
        # A task of its own (it carries the caller's context, so the statement
        # is still charged to the request): see the module's docstring.
        return asyncio.shield(self._run(method, query, args, options))

    async def _run(
        self, method: str, query: str, args: tuple[Any, ...], options: dict[str, Any]
    ) -> Any:
        async with self._lock:
            if self._closed:
                # Reads after the operation ended have no snapshot to share.
                return await getattr(self._pool, method)(query, *args, **options)
            conn = await self._begin()
            try:
                return await getattr(conn, method)(query, *args, **options)
            except asyncpg.PostgresError:
                with contextlib.suppress(Exception):  # on failure _end drops the connection
                    await self._end("rollback")
                raise
            except BaseException:
                # The connection's state is unknown (lost, timed out midway).
                await self._discard()
                raise

    async def _begin(self) -> PoolConnectionProxy:
        if self._conn is None:
            self._conn = await self._pool.acquire()
        if not self._in_transaction:
            try:
                await self._conn.execute(BEGIN)
            except BaseException:
                await self._discard()
                raise
            self._in_transaction = True
        return self._conn

    async def _end(self, command: str) -> None:
        """Commit or roll back; on failure the connection is dropped, not reused."""
        if self._conn is None or not self._in_transaction:
            return
        self._in_transaction = False
        try:
            await self._conn.execute(command)
        except BaseException:
            await self._discard()
            raise

    async def _discard(self) -> None:
        """Close the connection at once; the pool replaces it."""
        conn, self._conn = self._conn, None
        self._in_transaction = False
        if conn is not None:
            conn.terminate()
            await self._pool.release(conn)

    async def _close(self) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                await self._end("commit")
            except Exception as error:
                # The answer is already made; a connection lost or handed back
                # during an outage is the outage (logged where it is answered),
                # not a failure of ours: WARNING, and ERROR only for the rest.
                if database_unavailable(error) or isinstance(error, asyncpg.InterfaceError):
                    logger.warning("ending a request's read snapshot failed: %s", error)
                else:
                    logger.exception("ending a request's read snapshot failed")
            conn, self._conn = self._conn, None
            if conn is not None:
                if conn.is_in_transaction():
                    conn.terminate()  # the pool's reset does not end transactions
                await self._pool.release(conn)
