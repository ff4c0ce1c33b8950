"""Sign-in and sign-out: bearer tokens of 32 random bytes, stored hashed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.accounts import (
    fetch_user_for_sign_in,
    insert_session,
    revoke_session,
    revoke_user_sessions,
    set_password,
)
from db.throttle import forget_sign_in_failures, record_sign_in_failure, sign_in_wait
from db.types import Conn
from resolvers.account_values import RegistrationStep
from resolvers.context import Context
from resolvers.email_policy import PASSWORD_MAX_LENGTH, normalize_email
from resolvers.errors import ErrorCode, UserError
from resolvers.i18n import user_error
from resolvers.permissions import require_viewer
from resolvers.throttle import buckets, count_hits, give_back
from resolvers.viewer import hash_token
from security.passwords import HashingBusy, PasswordHashing


@dataclass(frozen=True)
class SessionGrant:
    token: str
    expires_at: datetime


async def open_session(conn: Conn, context: Context, user_id: int) -> SessionGrant:
    token = secrets.token_urlsafe(32)
    settings = context.settings
    expires_at = await insert_session(
        conn, hash_token(token), user_id, settings.session_ttl_hours, settings.session_idle_minutes
    )
    return SessionGrant(token=token, expires_at=expires_at)


def password_hashing(context: Context) -> PasswordHashing:
    return context.resources.passwords


def hashing_busy(context: Context) -> UserError:
    # Refused at once rather than queued for seconds behind a flood.
    return user_error(context.language, ErrorCode.RATE_LIMITED, "rate_limited", seconds=1)


async def hash_password(context: Context, password: str) -> str:
    """The argon2 hash of `password`, or RATE_LIMITED when hashing is saturated."""
    try:
        return await password_hashing(context).hash(password)
    except HashingBusy:
        raise hashing_busy(context) from None


async def sign_in(
    context: Context, email: str, password: str
) -> tuple[SessionGrant, asyncpg.Record]:
    """A new session for the right email and password; only INVALID_CREDENTIALS otherwise.

    Only failures count toward the limits: the client's hit is counted when
    the attempt starts (so concurrent tries see each other) and given back
    when it succeeds; the address's consecutive failures are counted when
    the password is wrong. After a few, each try waits longer; after many,
    the address is locked out (NIST 800-63B §5.2.2). Concurrent tries past
    the delay are bounded by the argon2 queue. Unknown addresses are counted alike and
    cost one argon2 verification too (a dummy hash), so neither the answer
    nor its timing says which addresses have accounts.
    """
    settings = context.settings
    normalized = normalize_email(email)
    address = normalized.address if normalized else email.strip().lower()[:320]
    client_limit = buckets(context, "signIn", None)
    await count_hits(context, client_limit)
    wait, locked = await sign_in_wait(
        context.pool,
        address,
        free=settings.sign_in_free_failures,
        max_delay=settings.sign_in_max_delay_seconds,
        lockout_at=settings.sign_in_lockout_failures,
        lockout_seconds=settings.sign_in_lockout_seconds,
    )
    if wait:
        await give_back(context, client_limit)
        key = "sign_in_locked" if locked else "rate_limited"
        raise user_error(context.language, ErrorCode.RATE_LIMITED, key, seconds=wait)
    row = await fetch_user_for_sign_in(context.pool, normalized.address) if normalized else None
    hashing = password_hashing(context)
    # Longer than any allowed password: cannot match, but costs the same work.
    candidate = password if len(password) <= PASSWORD_MAX_LENGTH else ""
    try:
        matched = await hashing.verify(row["password_hash"] if row is not None else None, candidate)
    except HashingBusy:
        await give_back(context, client_limit)
        raise hashing_busy(context) from None
    # An unverified account answers as a wrong password does, and counts
    # alike: its password is whoever typed it into createAccount, which
    # leaves a verified account as it is, so a distinct answer to that
    # password would tell anyone whether the address had an account.
    unverified = row is not None and row["step"] == RegistrationStep.VERIFY_EMAIL
    if row is None or not matched or len(password) > PASSWORD_MAX_LENGTH or unverified:
        await record_sign_in_failure(context.pool, address)
        raise user_error(context.language, ErrorCode.INVALID_CREDENTIALS, "invalid_credentials")
    await forget_sign_in_failures(context.pool, address)
    await give_back(context, client_limit)
    rehash = hashing.needs_rehash(row["password_hash"])
    new_hash = await hash_password(context, password) if rehash else None
    async with context.pool.acquire() as conn, conn.transaction():
        if new_hash is not None:
            await set_password(conn, row["id"], new_hash)
        grant = await open_session(conn, context, row["id"])
    return grant, row


async def sign_out(context: Context) -> None:
    viewer = require_viewer(context)
    await revoke_session(context.pool, viewer.token_hash)


async def sign_out_everywhere(context: Context) -> None:
    """Revoke every session of the viewer, this one included."""
    viewer = require_viewer(context)
    async with context.pool.acquire() as conn, conn.transaction():
        await revoke_user_sessions(conn, viewer.user_id)
