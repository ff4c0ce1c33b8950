"""Helpers for the sync tests: a tenant with references, change lines, the state."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from sync.apply import Tally
from sync.files import RejectFile, sync_lines

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@dataclass
class SyncTenant:
    organization_id: int
    reference: str
    sites: dict[str, int]  # reference -> id


async def create_sync_tenant(
    db: asyncpg.Connection, reference: str = "initech", sites: Sequence[str] = ("austin", "paris")
) -> SyncTenant:
    org = await db.fetchval(
        "insert into organizations (name, kind, country, reference) "
        "values ($1, 'COMPANY', 'US', $1) returning id",
        reference,
    )
    ids = {}
    for ref in sites:
        ids[ref] = await db.fetchval(
            "insert into sites (organization_id, name, country, reference) "
            "values ($1, $2, 'US', $2) returning id",
            org,
            ref,
        )
    return SyncTenant(org, reference, ids)


def product(tag: str, minutes: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "product", "serviceTag": tag, "observedAt": at(minutes), **fields}


def new_product(tag: str, minutes: int, site: str = "austin", **fields: Any) -> dict[str, Any]:
    defaults = {"site": site, "family": "PowerEdge", "name": f"host-{tag}", "model": "R760"}
    return product(tag, minutes, **{**defaults, **fields})


def request(number: str, minutes: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "service_request", "number": number, "observedAt": at(minutes), **fields}


def encode(changes: Sequence[dict[str, Any] | bytes | str]) -> list[bytes]:
    out = []
    for change in changes:
        if isinstance(change, bytes):
            out.append(change)
        elif isinstance(change, str):
            out.append(change.encode())
        else:
            out.append(orjson.dumps(change))
    return out


async def run_sync(
    db: asyncpg.Connection,
    changes: Sequence[dict[str, Any] | bytes | str],
    batch_size: int = 1000,
) -> tuple[Tally, list[dict[str, Any]]]:
    """Sync these lines; the tally and the reject file's objects."""
    buffer = io.BytesIO()
    tally = await sync_lines(db, encode(changes), RejectFile(buffer), batch_size)
    rejects = [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    return tally, rejects


async def fleet_state(db: asyncpg.Connection) -> dict[str, Any]:
    """Everything a view can show of the synced tables (no ids, no timestamps
    of the database's own)."""
    products = await db.fetch(
        "select p.service_tag, p.organization_id, s.reference as site, f.name as family, "
        "p.name, p.model, p.health, p.connectivity, p.code_version, "
        "p.recommended_code_version, p.contract_level, p.contract_ends_on "
        "from products p join sites s on s.id = p.site_id "
        "join product_families f on f.id = p.family_id order by p.service_tag"
    )
    requests = await db.fetch(
        "select r.number, p.service_tag, r.severity, r.status, r.title, r.opened_at, "
        "r.closed_at from service_requests r join products p on p.id = r.product_id "
        "order by r.number"
    )
    sites = await db.fetch(
        "select reference, organization_id, name, city, country from sites order by reference"
    )
    rollups = await db.fetch(
        "select * from fleet_cells where products <> 0 or sr_open <> 0 "
        "order by organization_id, site_id, family_id"
    )
    return {
        "products": [dict(r) for r in products],
        "requests": [dict(r) for r in requests],
        "sites": [dict(r) for r in sites],
        "rollups": [dict(r) for r in rollups],
    }
