"""Cursor codec and page-size rules for Relay connections (keyset pagination).

A cursor is the opaque encoding of the sort key of the last row seen; the
`db/` query continues with a row comparison `(key, id) > (...)`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from resolvers.errors import bad_input

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: tuple[Any, ...] | None


def encode_cursor(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        raise bad_input("The cursor in `after` is not valid.") from None
    if (
        not isinstance(value, list)
        or len(value) != arity
        or not all(_is_key_part(v) for v in value)
    ):
        raise bad_input("The cursor in `after` is not valid.")
    return tuple(value)


# What a cursor's key parts may be: the sort keys our own cursors carry
# (bigint ids, names). A forged cursor is refused here rather than by
# PostgreSQL, which rejects integers past bigint and text holding NUL.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
MAX_CURSOR_TEXT = 1000


def _is_key_part(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return BIGINT_MIN <= value <= BIGINT_MAX
    if isinstance(value, str):
        return len(value) <= MAX_CURSOR_TEXT and "\x00" not in value
    return False


def page_request(first: int | None, after: str | None, arity: int = 1) -> PageRequest:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 0:
        raise bad_input("`first` must not be negative.")
    if size > MAX_PAGE_SIZE:
        raise bad_input(f"`first` must be at most {MAX_PAGE_SIZE}.")
    key = decode_cursor(after, arity) if after else None
    return PageRequest(first=size, after=key)


@dataclass(frozen=True)
class Page:
    """One page of a connection, before the schema wraps rows into types."""

    rows: list[asyncpg.Record]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count_total: Callable[[], Awaitable[int]]


async def id_keyset_page(
    first: int | None,
    after: str | None,
    fetch: Callable[[int | None, int], Awaitable[Sequence[asyncpg.Record]]],
    count_total: Callable[[], Awaitable[int]],
) -> Page:
    """A page of rows ordered by id: `fetch(after_id, limit)` asks for one row
    more than the page, which tells whether another page follows."""
    page = page_request(first, after)
    after_id = page.after[0] if page.after is not None else None
    if after_id is not None and not isinstance(after_id, int):
        raise bad_input("The cursor in `after` is not valid.")
    rows = await fetch(after_id, page.first + 1) if page.first > 0 else []
    shown = list(rows[: page.first])
    return Page(
        rows=shown,
        cursors=[encode_cursor((row["id"],)) for row in shown],
        has_next_page=len(rows) > page.first,
        has_previous_page=after_id is not None,
        count_total=count_total,
    )
