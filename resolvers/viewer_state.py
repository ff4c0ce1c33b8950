"""The viewer together with the freshness of their tenant's data.

One statement answers both who is asking (as `resolvers.viewer.load_viewer`)
and which data versions and day their organization is at, so a per-worker
answer cache can tell, at the cost of the session lookup every request makes
anyway, whether an answer it holds is still the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from db.changes import fetch_viewer_with_versions
from db.types import Executor
from resolvers.viewer import Viewer, bearer_token, hash_token


@dataclass(frozen=True)
class ViewerState:
    viewer: Viewer
    # fleet_versions of the viewer's organization (0 when none yet).
    data_version: int
    version: int
    # The organization's today (contract buckets depend on it); None without one.
    today: date | None
    session_expires_at: datetime
    # The primary's WAL position when the versions were read: an answer read
    # on a replica that has replayed this far is current for them.
    wal_lsn: int = 0


def viewer_from_record(record: asyncpg.Record, token_hash: bytes) -> Viewer:
    return Viewer(
        user_id=record["id"],
        email=record["email"],
        organization_id=record["organization_id"],
        role=record["role"],
        site_scope=record["site_scope"],
        step=record["step"],
        is_staff=record["is_staff"],
        preferred_language=record["preferred_language"],
        token_hash=token_hash,
        last_write_lsn=record["last_write_lsn"] or 0,
        session_expires_at=record["expires_at"],
    )


def state_from_record(record: asyncpg.Record, token_hash: bytes) -> ViewerState:
    return ViewerState(
        viewer=viewer_from_record(record, token_hash),
        data_version=record["data_version"],
        version=record["version"],
        today=record["today"],
        session_expires_at=record["expires_at"],
        wal_lsn=record["wal_lsn"] or 0,
    )


async def load_viewer_state(conn: Executor, authorization: str | None) -> ViewerState | None:
    """The signed-in viewer and their tenant's versions, or None (not signed in)."""
    token = bearer_token(authorization)
    if token is None:
        return None
    token_hash = hash_token(token)
    record = await fetch_viewer_with_versions(conn, token_hash)
    return None if record is None else state_from_record(record, token_hash)
