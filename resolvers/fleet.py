"""Lists of the fleet: products and sites as keyset pages, with their filters.

Filters and pages run the same predicate as the summary's rule (in `db/`),
so a list filtered by a group holds exactly the products its summary counts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from db.fleet import (
    ProductCriteria,
    ViewerScope,
    count_products,
    count_sites,
    fetch_products_page,
    fetch_sites_page,
)
from resolvers.context import Context
from resolvers.errors import bad_input
from resolvers.fleet_loaders import (
    GroupById,
    GroupProductsCount,
    GroupProductsPage,
    ProductCountByGroup,
    ProductPageByGroup,
)
from resolvers.i18n import text
from resolvers.ids import decode_id_of
from resolvers.pagination import Page, PageRequest, encode_cursor, page_request
from resolvers.visibility import group_not_found, viewer_scope

MAX_SEARCH_LENGTH = 100
MAX_CONTRACT_DAYS = 36_500


@dataclass(frozen=True)
class ProductQuery:
    """A ProductFilter as the client sent it (global ids, enum values)."""

    group_id: str | None = None
    family_ids: Sequence[str] | None = None
    site_ids: Sequence[str] | None = None
    health: Sequence[str] | None = None
    connectivity: Sequence[str] | None = None
    code_status: Sequence[str] | None = None
    contract_ends_within_days: int | None = None
    search: str | None = None


@dataclass(frozen=True)
class SiteQuery:
    country: str | None = None
    search: str | None = None


def like_pattern(context: Context, search: str | None) -> str | None:
    """A case-insensitive "contains" pattern with LIKE's wildcards escaped."""
    if search is None or not search.strip():
        return None
    wanted = search.strip()
    if len(wanted) > MAX_SEARCH_LENGTH:
        raise bad_input(text(context.language, "search_too_long", max=MAX_SEARCH_LENGTH))
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def decode_ids(ids: Sequence[str] | None, type_name: str) -> list[int] | None:
    """Keys of the ids naming `type_name`; an id that names nothing matches nothing."""
    if ids is None:
        return None
    return [pk for pk in (decode_id_of(i, type_name) for i in ids) if pk is not None]


def _id_cursor(page: PageRequest, context: Context) -> int | None:
    if page.after is None:
        return None
    value = page.after[0]
    if not isinstance(value, int):
        raise bad_input(text(context.language, "cursor_invalid"))
    return value


def _tuple(values: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


async def product_criteria(context: Context, query: ProductQuery | None) -> ProductCriteria:
    """Validated, hashable criteria (a loader key); a groupId must be the viewer's."""
    query = query or ProductQuery()
    group_ids: tuple[int, ...] = ()
    if query.group_id is not None:
        filter_group = decode_id_of(query.group_id, "CustomGroup")
        if filter_group is None or await context.loaders.get(GroupById).load(filter_group) is None:
            raise group_not_found(context)
        group_ids = (filter_group,)
    days = query.contract_ends_within_days
    if days is not None and not 0 <= days <= MAX_CONTRACT_DAYS:
        raise bad_input(text(context.language, "days_invalid", max=MAX_CONTRACT_DAYS))
    return ProductCriteria(
        family_ids=_tuple(decode_ids(query.family_ids, "ProductFamily")),
        site_ids=_tuple(decode_ids(query.site_ids, "Site")),
        health=_tuple(query.health),
        connectivity=_tuple(query.connectivity),
        code_status=_tuple(query.code_status),
        contract_ends_within_days=days,
        search_pattern=like_pattern(context, query.search),
        group_ids=group_ids,
    )


async def products_page(
    context: Context,
    query: ProductQuery | None,
    first: int | None,
    after: str | None,
    *,
    group_pk: int | None = None,
    listed_only: bool = False,
) -> Page:
    """Visible products by id; with `group_pk`, that group's (or its listed) products.

    Pages of groups go through loaders, so a list of groups each showing its
    products runs one statement for all of them.
    """
    scope = viewer_scope(context)
    page = page_request(first, after)
    after_id = _id_cursor(page, context)
    criteria = await product_criteria(context, query)
    pool = context.db
    rows: list[asyncpg.Record] = []
    total: Callable[[], Awaitable[int]]
    if group_pk is not None:
        if page.first > 0:
            rows = await context.loaders.get(ProductPageByGroup).load(
                GroupProductsPage(group_pk, criteria, page.first, after_id, listed_only)
            )
        count_key = GroupProductsCount(group_pk, criteria, listed_only)

        async def group_total() -> int:
            count: int = await context.loaders.get(ProductCountByGroup).load(count_key)
            return count

        total = group_total
    else:
        if page.first > 0:
            rows = await fetch_products_page(
                pool, scope, criteria, after_id=after_id, limit=page.first + 1
            )

        async def fleet_total() -> int:
            return await count_products(pool, scope, criteria)

        total = fleet_total
    return Page(
        rows=rows[: page.first],
        cursors=[encode_cursor((row["id"],)) for row in rows[: page.first]],
        has_next_page=len(rows) > page.first,
        has_previous_page=after_id is not None,
        count_total=total,
    )


async def sites_page(
    context: Context,
    query: SiteQuery | None,
    first: int | None,
    after: str | None,
    *,
    scope: ViewerScope | None = None,
) -> Page:
    """Visible sites by name (the viewer's, or `scope`'s when given)."""
    scope = scope or viewer_scope(context)
    page = page_request(first, after, arity=2)
    if page.after is not None and not (
        isinstance(page.after[0], str) and isinstance(page.after[1], int)
    ):
        raise bad_input(text(context.language, "cursor_invalid"))
    after_key = (str(page.after[0]), int(page.after[1])) if page.after is not None else None
    query = query or SiteQuery()
    country = query.country.strip().upper() if query.country else None
    pattern = like_pattern(context, query.search)
    pool = context.db
    rows = (
        await fetch_sites_page(
            pool,
            scope,
            country=country,
            search_pattern=pattern,
            after=after_key,
            limit=page.first + 1,
        )
        if page.first > 0
        else []
    )
    shown = rows[: page.first]

    async def total() -> int:
        return await count_sites(pool, scope, country=country, search_pattern=pattern)

    return Page(
        rows=shown,
        cursors=[encode_cursor((row["name"], row["id"])) for row in shown],
        has_next_page=len(rows) > page.first,
        has_previous_page=after_key is not None,
        count_total=total,
    )
