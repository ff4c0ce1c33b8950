"""`server.py sync FILE|-`: change lines from a file or standard input.

Lines are checked one by one (sync/changes.py) and applied in batches
(sync/apply.py). A rejected line goes to the reject file with its number and
reason; every other line is applied. A progress line goes to stderr about
once a second, the summary to stdout at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import asyncpg
import orjson

from db.sync import Change, prepare
from sync.apply import Tally, apply_changes
from sync.changes import BadChange, parse_change

DEFAULT_BATCH_SIZE = 5000
PROGRESS_SECONDS = 1.0


class RejectFile:
    """One JSON object per rejected line: its number, the reason, the line."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle

    def write(self, line: int, reason: str, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        self.handle.write(orjson.dumps({"line": line, "error": reason, "change": text}) + b"\n")


def default_rejects_path(source: str) -> Path:
    return Path("sync-rejects.jsonl") if source == "-" else Path(source + ".rejects.jsonl")


@dataclass
class ParsedBatch:
    changes: list[Change] = field(default_factory=list)
    raw: dict[int, bytes] = field(default_factory=dict)  # line -> text, for rejects
    refused: list[tuple[int, str]] = field(default_factory=list)  # failed the checks


def parsed_batches(lines: Iterable[bytes], batch_size: int) -> Iterator[ParsedBatch]:
    """Numbered lines (1-based, blank ones skipped), checked, in batches."""
    batch = ParsedBatch()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            batch.changes.append(parse_change(number, raw))
        except BadChange as error:
            batch.refused.append((number, str(error)))
        batch.raw[number] = raw
        if len(batch.changes) >= batch_size:
            yield batch
            batch = ParsedBatch()
    if batch.raw:
        yield batch


async def sync_lines(
    conn: asyncpg.Connection,
    lines: Iterable[bytes],
    rejects: RejectFile,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[str], None] | None = None,
) -> Tally:
    """Apply the lines in batches. The next batch is read and checked in a
    thread while PostgreSQL applies the current one (two cores, both busy)."""
    await prepare(conn)
    tally = Tally()
    last_progress = time.monotonic()
    batches = parsed_batches(lines, batch_size)
    upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    try:
        while (batch := await upcoming) is not None:
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            for number, reason in batch.refused:
                tally.reject()
                rejects.write(number, reason, batch.raw[number])
            result = await apply_changes(conn, batch.changes)
            tally.add(result)
            for number, reason in sorted(result.rejects.items()):
                rejects.write(number, reason, batch.raw[number])
            if progress is not None and time.monotonic() - last_progress >= PROGRESS_SECONDS:
                last_progress = time.monotonic()
                progress(f"sync: {tally.lines:,} lines so far: {tally.summary()}")
    finally:
        # A failed batch leaves the reader thread's batch in flight: let it end.
        with contextlib.suppress(Exception):
            await upcoming
    return tally


async def sync_source(
    database_url: str,
    lines: BinaryIO,
    rejects: BinaryIO,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[str], None] | None = None,
) -> tuple[Tally, float]:
    """Apply every line of `lines`; the tally and the seconds it took."""
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url)
    try:
        tally = await sync_lines(conn, lines, RejectFile(rejects), batch_size, progress)
    finally:
        await conn.close()
    return tally, time.perf_counter() - started
