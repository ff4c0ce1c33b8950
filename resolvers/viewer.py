"""Who is asking: the signed-in user behind an `Authorization: Bearer` token."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from db.sessions import extend_idle_expiry, fetch_viewer_by_token_hash
from resolvers.account_values import AccessLevel, Role, access_level


@dataclass(frozen=True)
class Viewer:
    user_id: int
    email: str
    organization_id: int | None
    role: str | None
    site_scope: str
    step: str
    is_staff: bool
    preferred_language: str
    token_hash: bytes
    # WAL position of the viewer's latest mutation (0: none recorded).
    last_write_lsn: int = 0
    # When the session ends unless used again (idle timeout, absolute at most).
    session_expires_at: datetime | None = None

    @property
    def access_level(self) -> AccessLevel:
        return access_level(self.step, self.organization_id)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def hash_token(token: str) -> bytes:
    # Tokens are 32 random bytes: a plain SHA-256 is enough to make a stolen
    # table useless, and it lets the lookup use the primary key.
    return hashlib.sha256(token.encode()).digest()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


async def load_viewer(pool: asyncpg.Pool, authorization: str | None) -> Viewer | None:
    token = bearer_token(authorization)
    if token is None:
        return None
    token_hash = hash_token(token)
    row = await fetch_viewer_by_token_hash(pool, token_hash)
    if row is None:
        return None
    return Viewer(
        user_id=row["id"],
        email=row["email"],
        organization_id=row["organization_id"],
        role=row["role"],
        site_scope=row["site_scope"],
        step=row["step"],
        is_staff=row["is_staff"],
        preferred_language=row["preferred_language"],
        token_hash=token_hash,
        last_write_lsn=row["last_write_lsn"] or 0,
        session_expires_at=row["expires_at"],
    )


async def keep_session_alive(pool: asyncpg.Pool, viewer: Viewer, idle_minutes: int) -> None:
    """Slide the session's idle expiry when it is more than a minute behind:
    one write a minute for a session in use, none for the requests between."""
    expires_at = viewer.session_expires_at
    if expires_at is None:
        return
    behind = datetime.now(UTC) + timedelta(minutes=idle_minutes) - expires_at
    if behind > timedelta(minutes=1):
        await extend_idle_expiry(pool, viewer.token_hash, idle_minutes)
