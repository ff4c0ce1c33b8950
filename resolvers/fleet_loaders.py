"""Per-request loaders of the fleet: sites, products, groups, counts and summaries.

Every loader reads with the viewer's scope, so anything outside it loads as
None (or zero), exactly as if it did not exist. One batch = one statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from db.fleet import (
    ProductCriteria,
    count_group_products,
    fetch_group_products_pages,
    fetch_open_request_counts,
    fetch_products_by_ids,
    fetch_site_product_counts,
    fetch_sites_by_ids,
)
from db.groups import fetch_group_families, fetch_group_sites, fetch_groups_by_ids
from db.summary import SummaryRow, fetch_summaries
from resolvers.loaders import Loader, in_key_order
from resolvers.read_routing import store_through_primary
from resolvers.visibility import viewer_scope

# The key of the whole visible fleet for SummaryByView (DataLoader keys
# cannot be None; group ids are positive).
FLEET = 0


class SiteById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_sites_by_ids(self.context.db, viewer_scope(self.context), keys)
        return in_key_order(keys, rows)


class ProductById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_products_by_ids(self.context.db, viewer_scope(self.context), keys)
        return in_key_order(keys, rows)


class GroupById(Loader[int, asyncpg.Record | None]):
    """The viewer's own custom groups only."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_groups_by_ids(self.context.db, viewer_scope(self.context), keys)
        return in_key_order(keys, rows)


class ProductCountBySiteId(Loader[int, int]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        counts = await fetch_site_product_counts(self.context.db, viewer_scope(self.context), keys)
        return [counts.get(k, 0) for k in keys]


class OpenRequestCountByProductId(Loader[int, int]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        counts = await fetch_open_request_counts(self.context.db, viewer_scope(self.context), keys)
        return [counts.get(k, 0) for k in keys]


class FamiliesByGroupId(Loader[int, list[asyncpg.Record]]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[asyncpg.Record]]:
        by_group: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in await fetch_group_families(self.context.db, keys):
            by_group[row["group_id"]].append(row)
        return [by_group[k] for k in keys]


class VisibleSitesByGroupId(Loader[int, list[asyncpg.Record]]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[asyncpg.Record]]:
        by_group: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in await fetch_group_sites(self.context.db, viewer_scope(self.context), keys):
            by_group[row["group_id"]].append(row)
        return [by_group[k] for k in keys]


class SummaryByView(Loader[int, SummaryRow | None]):
    """Summaries of the fleet (key FLEET) and of the viewer's groups: one statement per batch."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[SummaryRow | None]:
        context = self.context
        scope = viewer_scope(context)
        on_replica = context.read_pool is not context.pool
        computed: list[asyncpg.Record] = []
        rows = await fetch_summaries(
            context.db,
            scope,
            [None if k == FLEET else k for k in keys],
            read_only=on_replica,
            computed=computed,
        )
        if computed:
            store_through_primary(context, scope, computed)
        return [rows.get(None if k == FLEET else k) for k in keys]


@dataclass(frozen=True)
class GroupProductsPage:
    """One page of a group's products (or only its listed ones) under criteria."""

    group_pk: int
    criteria: ProductCriteria
    first: int
    after_id: int | None
    listed_only: bool


class ProductPageByGroup(Loader[GroupProductsPage, list[asyncpg.Record]]):
    """Pages of many groups (e.g. every group of a list) in one statement per shape."""

    async def batch_load_fn(self, keys: Sequence[GroupProductsPage]) -> list[list[asyncpg.Record]]:
        scope = viewer_scope(self.context)
        shapes: dict[tuple[ProductCriteria, int, int | None, bool], list[int]] = defaultdict(list)
        for key in keys:
            shapes[(key.criteria, key.first, key.after_id, key.listed_only)].append(key.group_pk)
        pages: dict[tuple[object, ...], list[asyncpg.Record]] = defaultdict(list)
        for (criteria, first, after_id, listed_only), groups in shapes.items():
            rows = await fetch_group_products_pages(
                self.context.db,
                scope,
                criteria,
                sorted(set(groups)),
                after_id=after_id,
                limit=first + 1,
                listed_only=listed_only,
            )
            for row in rows:
                pages[(criteria, first, after_id, listed_only, row["group_id"])].append(row)
        return [pages[(k.criteria, k.first, k.after_id, k.listed_only, k.group_pk)] for k in keys]


@dataclass(frozen=True)
class GroupProductsCount:
    group_pk: int
    criteria: ProductCriteria
    listed_only: bool


class ProductCountByGroup(Loader[GroupProductsCount, int]):
    async def batch_load_fn(self, keys: Sequence[GroupProductsCount]) -> list[int]:
        scope = viewer_scope(self.context)
        shapes: dict[tuple[ProductCriteria, bool], list[int]] = defaultdict(list)
        for key in keys:
            shapes[(key.criteria, key.listed_only)].append(key.group_pk)
        counts: dict[tuple[ProductCriteria, bool, int], int] = {}
        for (criteria, listed_only), groups in shapes.items():
            found = await count_group_products(
                self.context.db, scope, criteria, sorted(set(groups)), listed_only=listed_only
            )
            for group, n in found.items():
                counts[(criteria, listed_only, group)] = n
        return [counts.get((k.criteria, k.listed_only, k.group_pk), 0) for k in keys]
