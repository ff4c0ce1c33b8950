"""A background service that keeps the tables that only grow from growing.

Every worker runs it (under background.Supervisor); the deletes are
idempotent, so running them twice is harmless and costs little.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from db.housekeeping import delete_stale_rows

logger = logging.getLogger("service360.housekeeping")


class Housekeeping:
    def __init__(self, pool: asyncpg.Pool, window_seconds: int, every_seconds: float = 600) -> None:
        self._pool = pool
        self._window_seconds = window_seconds
        self._every_seconds = every_seconds

    async def run_once(self) -> int:
        deleted = await delete_stale_rows(self._pool, self._window_seconds)
        if deleted:
            logger.info("stale rows deleted", extra={"deleted": deleted})
        return deleted

    async def run(self) -> None:
        """Until cancelled: a round now, then one every `every_seconds`."""
        while True:
            try:
                await self.run_once()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                logger.warning("housekeeping failed, will retry", extra={"error": str(error)})
            await asyncio.sleep(self._every_seconds)
