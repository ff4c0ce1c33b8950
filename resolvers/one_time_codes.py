"""Six-digit one-time codes: emailed, stored only as a keyed hash.

Several codes of one purpose may be live at once (a request by someone else
must not cancel the code the owner holds); a try is checked against each.
Attempt counters change in PostgreSQL under the codes' row locks (`FOR
UPDATE` in the mutation's transaction), so concurrent requests all count. A
wrong try counts against every live code of the purpose, so five wrong tries
spend them all, however many there are; and against the account's day, so
that asking for new codes does not give new guesses without end. A wrong
try is only ever told INVALID_CODE, spent codes and the day's cap included:
see `check_code`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from config import Settings
from db.accounts import (
    consume_code,
    count_wrong_attempt,
    count_wrong_code,
    insert_code,
    lock_live_codes,
    wrong_codes_today,
)
from db.types import Conn
from resolvers.errors import ErrorCode, UserError
from resolvers.i18n import user_error


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(settings: Settings, user_id: int, purpose: str, code: str) -> bytes:
    key = str(settings.secret_key).encode()
    return hmac.new(key, f"{purpose}:{user_id}:{code}".encode(), hashlib.sha256).digest()


async def issue_code(
    conn: Conn,
    settings: Settings,
    user_id: int,
    purpose: str,
    registration_json: str | None = None,
) -> str:
    """A fresh code for `purpose`, carrying `registration` if given; the caller mails it."""
    code = new_code()
    await insert_code(
        conn,
        user_id,
        purpose,
        code_hash(settings, user_id, purpose, code),
        settings.code_ttl_seconds,
        registration_json,
    )
    return code


@dataclass(frozen=True)
class CheckedCode:
    """The outcome of a try: `error` when refused, else what the code carried."""

    error: UserError | None
    registration_json: str | None = None


async def check_code(
    conn: Conn,
    settings: Settings,
    language: str,
    user_id: int,
    purpose: str,
    code: str,
    field: list[str],
) -> CheckedCode:
    """Consume the code when right; else count the try (a wrong one says only INVALID_CODE).

    The caller holds the user's row locked, commits in both cases (the
    counted try must stay) and raises the error after the commit. Past the
    day's cap of wrong codes, no code is accepted until the day ends.
    """
    invalid = CheckedCode(user_error(language, ErrorCode.INVALID_CODE, "code_invalid", field))
    rows = await lock_live_codes(conn, user_id, purpose)
    expected = code_hash(settings, user_id, purpose, code.strip())
    matching = next(
        (row for row in rows if hmac.compare_digest(expected, bytes(row["code_hash"]))), None
    )
    # A wrong code is answered INVALID_CODE whatever the state of the codes:
    # only an account with live codes could answer anything else (spent, the
    # day's cap), and anyone may create live codes for an address (a reset
    # request, a sign-up), so a different answer to guesses would tell which
    # addresses have accounts. The right code, known only to the mailbox,
    # hears why it no longer works.
    if await wrong_codes_today(conn, user_id) >= settings.code_max_wrong_per_day:
        if matching is None:
            return invalid
        return CheckedCode(user_error(language, ErrorCode.TOO_MANY_ATTEMPTS, "code_day_cap", field))
    if matching is not None:
        if matching["attempts"] >= settings.code_max_attempts:
            return CheckedCode(
                user_error(language, ErrorCode.TOO_MANY_ATTEMPTS, "code_spent", field)
            )
        if matching["expired"]:
            return CheckedCode(user_error(language, ErrorCode.CODE_EXPIRED, "code_expired", field))
        await consume_code(conn, matching["id"])
        return CheckedCode(None, matching["registration"])
    usable = [r for r in rows if not r["expired"] and r["attempts"] < settings.code_max_attempts]
    if usable:
        await count_wrong_attempt(conn, [r["id"] for r in usable])
        await count_wrong_code(conn, user_id)
    return invalid
