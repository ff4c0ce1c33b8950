"""Six-digit one-time codes: emailed, stored only as a keyed hash.

The attempt counter changes in PostgreSQL under the code row's lock (`FOR
UPDATE` in the mutation's transaction), so concurrent requests and aliased
mutations in one request all count, and the fifth wrong try spends the code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from config import Settings
from db.accounts import Conn, consume_code, count_wrong_attempt, insert_code, lock_live_code
from resolvers.errors import ErrorCode, UserError
from resolvers.i18n import user_error


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(settings: Settings, user_id: int, purpose: str, code: str) -> bytes:
    key = str(settings.secret_key).encode()
    return hmac.new(key, f"{purpose}:{user_id}:{code}".encode(), hashlib.sha256).digest()


async def issue_code(conn: Conn, settings: Settings, user_id: int, purpose: str) -> str:
    """A fresh code for `purpose` (older ones are spent); the caller mails it."""
    code = new_code()
    await insert_code(
        conn,
        user_id,
        purpose,
        code_hash(settings, user_id, purpose, code),
        settings.code_ttl_seconds,
    )
    return code


async def check_code(
    conn: Conn,
    settings: Settings,
    language: str,
    user_id: int,
    purpose: str,
    code: str,
    field: list[str],
) -> UserError | None:
    """Consume the code when right; else count the try and say why (None: right).

    The caller commits in both cases (the counted try must stay) and raises
    the error after the commit.
    """
    row = await lock_live_code(conn, user_id, purpose)
    if row is None:
        return user_error(language, ErrorCode.INVALID_CODE, "code_invalid", field)
    if row["attempts"] >= settings.code_max_attempts:
        return user_error(language, ErrorCode.TOO_MANY_ATTEMPTS, "code_spent", field)
    if row["expired"]:
        return user_error(language, ErrorCode.CODE_EXPIRED, "code_expired", field)
    expected = code_hash(settings, user_id, purpose, code.strip())
    if hmac.compare_digest(expected, bytes(row["code_hash"])):
        await consume_code(conn, row["id"])
        return None
    attempts = await count_wrong_attempt(conn, row["id"])
    if attempts >= settings.code_max_attempts:
        return user_error(language, ErrorCode.TOO_MANY_ATTEMPTS, "code_spent", field)
    return user_error(language, ErrorCode.INVALID_CODE, "code_invalid", field)
