"""Sign-in and sign-out: bearer tokens of 32 random bytes, stored hashed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.accounts import fetch_user_for_sign_in, insert_session, revoke_session, set_password
from db.types import Conn
from resolvers.context import Context
from resolvers.email_policy import PASSWORD_MAX_LENGTH, normalize_email
from resolvers.errors import ErrorCode, UserError
from resolvers.i18n import user_error
from resolvers.permissions import require_viewer
from resolvers.throttle import throttle
from resolvers.viewer import hash_token
from security.passwords import HashingBusy, PasswordHashing


@dataclass(frozen=True)
class SessionGrant:
    token: str
    expires_at: datetime


async def open_session(conn: Conn, context: Context, user_id: int) -> SessionGrant:
    token = secrets.token_urlsafe(32)
    expires_at = await insert_session(
        conn, hash_token(token), user_id, context.settings.session_ttl_hours
    )
    return SessionGrant(token=token, expires_at=expires_at)


def password_hashing(context: Context) -> PasswordHashing:
    hashing: PasswordHashing = context.resources["passwords"]
    return hashing


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

    Unknown addresses cost one argon2 verification too (a dummy hash), so the
    answer and its timing say nothing about which addresses have accounts.
    """
    normalized = normalize_email(email)
    await throttle(context, "signIn", normalized.address if normalized else email)
    row = await fetch_user_for_sign_in(context.pool, normalized.address) if normalized else None
    hashing = password_hashing(context)
    # Longer than any allowed password: cannot match, but costs the same work.
    candidate = password if len(password) <= PASSWORD_MAX_LENGTH else ""
    try:
        matched = await hashing.verify(row["password_hash"] if row is not None else None, candidate)
    except HashingBusy:
        raise hashing_busy(context) from None
    if row is None or not matched or len(password) > PASSWORD_MAX_LENGTH:
        raise user_error(context.language, ErrorCode.INVALID_CREDENTIALS, "invalid_credentials")
    if row["step"] == "VERIFY_EMAIL":
        raise user_error(
            context.language, ErrorCode.EMAIL_NOT_VERIFIED, "email_not_verified", ["email"]
        )
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
