"""One batch, one transaction: retried when PostgreSQL aborts it for a
concurrent writer, halved when a line it could not foresee fails it."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from db.sync import OUTCOMES, BatchResult, Change, apply_batch

logger = logging.getLogger("service360.sync")
RETRIES = 5


async def apply_changes(conn: asyncpg.Connection, changes: Sequence[Change]) -> BatchResult:
    """Apply `changes` in one transaction. A line that the database refuses
    (a value or constraint Python did not foresee) fails its transaction: the
    batch is then split in halves, each in its own transaction, down to that
    line, which is rejected with the database's message; every other line is
    applied. Merging is order-free, so splitting changes no outcome."""
    if not changes:
        return BatchResult()
    for attempt in range(RETRIES):
        try:
            async with conn.transaction():
                return await apply_batch(conn, changes)
        except asyncpg.TransactionRollbackError as error:
            # A deadlock or serialization failure with a concurrent writer:
            # nothing of this batch was kept, so it is simply run again.
            logger.info("sync batch retried", extra={"attempt": attempt + 1, "error": str(error)})
            await asyncio.sleep(0.05 * (attempt + 1))
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as error:
            if len(changes) == 1:
                result = BatchResult()
                result.rejects[changes[0].line] = f"refused by the database: {error}"
                return result
            middle = len(changes) // 2
            result = await apply_changes(conn, changes[:middle])
            result.merge(await apply_changes(conn, changes[middle:]))
            return result
    raise RuntimeError(f"sync batch aborted by concurrent writers {RETRIES} times")


@dataclass
class Tally:
    """Lines by outcome, over a whole run."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, result: BatchResult) -> None:
        self.counts.update(result.outcomes.values())
        if result.rejects:
            self.counts["rejected"] += len(result.rejects)

    def reject(self, n: int = 1) -> None:
        self.counts["rejected"] += n

    @property
    def lines(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return ", ".join(f"{self.counts[o]:,} {o}" for o in (*OUTCOMES, "rejected"))
