"""The naive resolver path: the dashboard answered with one summary query per
view (`db.summary.fetch_summary`, no DataLoader), in-process with asyncpg.

It is what a resolver per field would do: list the groups, then ask for each
group's summary in turn (with the same `db/` functions that the server uses). Its
answers are shaped like the GraphQL answer and compared with the server's:
they must be equal, or the comparison of speeds would mean nothing.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bench.generator import Dataset
from bench.references import closed_loop, reference_concurrency, warm_connections
from resolvers.ids import encode_id

TOP_SITES = 10  # bySite(first: 10) in the dashboard document


def summary_answer(row: Any) -> dict[str, Any]:
    """A `db.summary.SummaryRow` as the dashboard document asks for it."""
    return {
        "productCount": row.products,
        "siteCount": row.site_count,
        "health": {
            "good": row.health_good,
            "warning": row.health_warning,
            "critical": row.health_critical,
            "unknown": row.health_unknown,
        },
        "connectivity": {
            "connected": row.connected,
            "disconnected": row.disconnected,
            "notConfigured": row.not_configured,
        },
        "contracts": {
            "active": row.contract_active,
            "endingWithin30Days": row.contract_within_30,
            "endingWithin90Days": row.contract_within_30 + row.contract_within_90,
            "expired": row.contract_expired,
        },
        "code": {
            "current": row.code_current,
            "updateAvailable": row.code_update_available,
            "unknown": row.code_unknown,
        },
        "serviceRequests": {
            "open": row.sr_open,
            "critical": row.sr_critical,
            "high": row.sr_high,
            "medium": row.sr_medium,
            "low": row.sr_low,
        },
        "byFamily": [
            {
                "family": {"id": encode_id("ProductFamily", f.family_id), "name": f.name},
                "count": f.product_count,
            }
            for f in row.by_family
        ],
        "bySite": [
            {
                "site": {
                    "id": encode_id("Site", site.site_id),
                    "name": site.name,
                    "city": site.city,
                    "country": site.country,
                },
                "count": site.product_count,
            }
            for site in row.by_site[:TOP_SITES]
        ],
    }


class NaiveDashboard:
    def __init__(self, dataset: Dataset) -> None:
        from db.fleet import ViewerScope

        self.scope = ViewerScope(dataset.organization_id, dataset.admin_id, True)
        self.statements = 0

    async def answer(self, conn: Any) -> dict[str, Any]:
        from db.groups import fetch_groups_page
        from db.summary import fetch_summary

        statements = 0
        groups = await fetch_groups_page(conn, self.scope, after_id=None, limit=50)
        statements += 1
        fleet = await fetch_summary(conn, self.scope, None, TOP_SITES)
        statements += 1
        summaries = {}
        for group in groups:
            summaries[group["id"]] = await fetch_summary(conn, self.scope, group["id"], TOP_SITES)
            statements += 1
        self.statements = statements
        return {
            "summary": summary_answer(fleet),
            "customGroups": {
                "nodes": [
                    {
                        "id": encode_id("CustomGroup", group["id"]),
                        "name": group["name"],
                        "summary": summary_answer(summaries[group["id"]]),
                    }
                    for group in groups
                ]
            },
        }


def first_difference(left: Any, right: Any, path: str = "") -> str | None:
    """Where two JSON values first differ (None when equal)."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            found = first_difference(left.get(key), right.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items vs {len(right)}"
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if left == right else f"{path}: {left!r:.120} vs {right!r:.120}"


async def measure(
    database_url: str,
    dataset: Dataset,
    server_data: dict[str, Any],
    concurrency: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    """Naive dashboards per second at `concurrency`, and whether they match the server."""
    clients = reference_concurrency(concurrency)
    pool = await asyncpg.create_pool(database_url, min_size=clients, max_size=clients)
    assert pool is not None
    try:
        naive = NaiveDashboard(dataset)
        async with pool.acquire() as conn:
            expected = await naive.answer(conn)
        difference = first_difference(expected, server_data)
        # One naive dashboard runs the summary statement 51 times: that warms a
        # connection's plans (see references.warm_connections).
        await warm_connections(pool, naive.answer, clients, 1)
        result = await closed_loop(pool, naive.answer, clients, warmup, duration)
    finally:
        await pool.close()
    return {
        **result.as_dict(),
        "clients": clients,
        "statements": naive.statements,
        "answers_equal": difference is None,
        "first_difference": difference,
    }
