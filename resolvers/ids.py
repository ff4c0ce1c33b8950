"""Opaque global ids: base64url of "TypeName:primary key".

Clients treat them as opaque strings; any id that does not decode to a known
type and a positive integer key is simply not found.
"""

from __future__ import annotations

import base64
import binascii


def encode_id(type_name: str, pk: int) -> str:
    raw = f"{type_name}:{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_id(global_id: str) -> tuple[str, int] | None:
    """Return (type name, key), or None when the id is not one of ours."""
    if not isinstance(global_id, str) or not 0 < len(global_id) <= 200:
        return None
    padded = global_id + "=" * (-len(global_id) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    type_name, sep, key = raw.partition(":")
    # ASCII digits only: str.isdigit() also takes "²" (int() refuses it) and
    # other scripts' digits (int() reads them: a second id for one object).
    if not sep or not type_name.isidentifier() or not key.isascii() or not key.isdigit():
        return None
    if len(key) > 18:
        return None
    pk = int(key)
    # One id per object: what encode_id gives, with or without its padding
    # (base64 decoding skips stray characters and leading zeros parse too).
    if pk <= 0 or global_id.rstrip("=") != encode_id(type_name, pk):
        return None
    return (type_name, pk)


def decode_id_of(global_id: str, type_name: str) -> int | None:
    """The key of an id that must name `type_name`; None otherwise."""
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]
