"""Bulk loading of fleet rows with COPY, shared by the demo data and the
benchmark's generator (one place that knows the column order)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

PRODUCT_COLUMNS = (
    "organization_id",
    "site_id",
    "family_id",
    "service_tag",
    "name",
    "model",
    "health",
    "connectivity",
    "code_version",
    "recommended_code_version",
    "contract_level",
    "contract_ends_on",
)
SERVICE_REQUEST_COLUMNS = (
    "organization_id",
    "product_id",
    "number",
    "severity",
    "status",
    "title",
    "opened_at",
    "closed_at",
)


async def copy_products(conn: asyncpg.Connection, rows: Iterable[tuple[object, ...]]) -> None:
    """Rows in PRODUCT_COLUMNS order."""
    await conn.copy_records_to_table("products", records=rows, columns=PRODUCT_COLUMNS)


async def copy_service_requests(
    conn: asyncpg.Connection, rows: Iterable[tuple[object, ...]]
) -> None:
    """Rows in SERVICE_REQUEST_COLUMNS order."""
    await conn.copy_records_to_table(
        "service_requests", records=rows, columns=SERVICE_REQUEST_COLUMNS
    )
