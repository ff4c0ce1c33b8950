"""Who is asking: the signed-in user behind an `Authorization: Bearer` token."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg

from db.sessions import fetch_viewer_by_token_hash


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

    @property
    def access_level(self) -> str:
        if self.step == "VERIFY_EMAIL":
            return "NONE"
        if self.step == "COMPLETE" and self.organization_id is not None:
            return "FULL"
        return "LIMITED"

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"


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
    )
