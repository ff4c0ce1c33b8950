"""Per-request loaders of the fleet: sites, products, groups, counts and summaries.

Every loader reads with the viewer's scope, so anything outside it loads as
None (or zero), exactly as if it did not exist. One batch = one statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from db.fleet import (
    fetch_open_request_counts,
    fetch_products_by_ids,
    fetch_site_product_counts,
    fetch_sites_by_ids,
)
from db.groups import fetch_group_families, fetch_group_sites, fetch_groups_by_ids
from db.summary import SummaryRow, fetch_summaries
from resolvers.loaders import Loader, in_key_order
from resolvers.visibility import viewer_scope

# The key of the whole visible fleet for SummaryByView (DataLoader keys
# cannot be None; group ids are positive).
FLEET = 0


class SiteById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_sites_by_ids(self.context.pool, viewer_scope(self.context), keys)
        return in_key_order(keys, rows)


class ProductById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_products_by_ids(self.context.pool, viewer_scope(self.context), keys)
        return in_key_order(keys, rows)


class GroupById(Loader[int, asyncpg.Record | None]):
    """The viewer's own custom groups only."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_groups_by_ids(self.context.pool, viewer_scope(self.context), keys)
        return in_key_order(keys, rows)


class ProductCountBySiteId(Loader[int, int]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        counts = await fetch_site_product_counts(
            self.context.pool, viewer_scope(self.context), keys
        )
        return [counts.get(k, 0) for k in keys]


class OpenRequestCountByProductId(Loader[int, int]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        counts = await fetch_open_request_counts(
            self.context.pool, viewer_scope(self.context), keys
        )
        return [counts.get(k, 0) for k in keys]


class FamiliesByGroupId(Loader[int, list[asyncpg.Record]]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[asyncpg.Record]]:
        by_group: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in await fetch_group_families(self.context.pool, keys):
            by_group[row["group_id"]].append(row)
        return [by_group[k] for k in keys]


class VisibleSitesByGroupId(Loader[int, list[asyncpg.Record]]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[asyncpg.Record]]:
        by_group: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in await fetch_group_sites(self.context.pool, viewer_scope(self.context), keys):
            by_group[row["group_id"]].append(row)
        return [by_group[k] for k in keys]


class SummaryByView(Loader[int, SummaryRow | None]):
    """Summaries of the fleet (key FLEET) and of the viewer's groups: one statement per batch."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[SummaryRow | None]:
        rows = await fetch_summaries(
            self.context.pool,
            viewer_scope(self.context),
            [None if k == FLEET else k for k in keys],
        )
        return [rows.get(None if k == FLEET else k) for k in keys]
