"""Cursor codec and page-size rules for Relay connections (keyset pagination).

A cursor is the opaque encoding of the sort key of the last row seen; the
`db/` query continues with a row comparison `(key, id) > (...)`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

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
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
    ):
        raise bad_input("The cursor in `after` is not valid.")
    return tuple(value)


def page_request(first: int | None, after: str | None, arity: int = 1) -> PageRequest:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 0:
        raise bad_input("`first` must not be negative.")
    if size > MAX_PAGE_SIZE:
        raise bad_input(f"`first` must be at most {MAX_PAGE_SIZE}.")
    key = decode_cursor(after, arity) if after else None
    return PageRequest(first=size, after=key)
