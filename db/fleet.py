"""Sites and products, always within what one viewer may see.

Visibility is part of every statement: the viewer's organization, and, for a
SELECTED_SITES member, the sites listed in `user_sites`. Everything takes a
`ViewerScope`; an id outside it simply matches no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import asyncpg

from db.types import Executor


@dataclass(frozen=True)
class ViewerScope:
    """Whose eyes a query uses: organization, user, and whether every site is visible."""

    organization_id: int
    user_id: int
    all_sites: bool


# $1 organization, $2 user, $3 all sites visible: the first three parameters
# of every statement below.
VISIBLE_SITE = (
    "($3::boolean or {site} in (select us.site_id from user_sites us\n"
    " where us.organization_id = $1 and us.user_id = $2))"
)

SITE_COLUMNS = "s.id, s.organization_id, s.name, s.city, s.country"
PRODUCT_COLUMNS = """
    p.id, p.organization_id, p.site_id, p.family_id, p.service_tag, p.name, p.model, p.health,
    p.connectivity, p.code_version, p.recommended_code_version, p.code_status,
    p.contract_level, p.contract_ends_on
"""


# Around a page (after its LIMIT): what a product shows of its family and
# site, so that listing products needs no second round trip for them.
_SHOWN = """
select x.*, pf.name as family_name,
       st.name as site_name, st.city as site_city, st.country as site_country
  from ({page}) as x
  join product_families pf on pf.id = x.family_id
  join sites st on st.id = x.site_id
 order by {order}
"""


def _scope_args(scope: ViewerScope) -> tuple[int, int, bool]:
    return scope.organization_id, scope.user_id, scope.all_sites


# ------------------------------------------------------------------- sites


async def fetch_sites_by_ids(
    conn: Executor, scope: ViewerScope, ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        select {SITE_COLUMNS} from sites s
         where s.organization_id = $1 and s.id = any($4::bigint[])
           and {VISIBLE_SITE.format(site="s.id")}
        """,
        *_scope_args(scope),
        list(ids),
    )


_SITE_FILTER = f"""
    s.organization_id = $1 and {VISIBLE_SITE.format(site="s.id")}
    and ($4::text is null or s.country = $4)
    and ($5::text is null or (s.name || ' ' || coalesce(s.city, '')) ilike $5)
"""


async def fetch_sites_page(
    conn: Executor,
    scope: ViewerScope,
    *,
    country: str | None,
    search_pattern: str | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Visible sites ordered by (name, id), after a keyset position."""
    return await conn.fetch(
        f"""
        select {SITE_COLUMNS} from sites s
         where {_SITE_FILTER}
           and ($6::text is null or (s.name, s.id) > ($6::text, $7::bigint))
         order by s.name, s.id
         limit $8
        """,
        *_scope_args(scope),
        country,
        search_pattern,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def count_sites(
    conn: Executor, scope: ViewerScope, *, country: str | None, search_pattern: str | None
) -> int:
    count: int = await conn.fetchval(
        f"select count(*) from sites s where {_SITE_FILTER}",
        *_scope_args(scope),
        country,
        search_pattern,
    )
    return count


async def fetch_site_product_counts(
    conn: Executor, scope: ViewerScope, site_ids: Sequence[int]
) -> dict[int, int]:
    """Visible products per visible site (a site is visible whole, or not at all)."""
    rows = await conn.fetch(
        f"""
        select t.site_id, t.products from fleet_site_totals t
         where t.organization_id = $1 and t.site_id = any($4::bigint[])
           and {VISIBLE_SITE.format(site="t.site_id")}
        """,
        *_scope_args(scope),
        list(site_ids),
    )
    return {row["site_id"]: row["products"] for row in rows}


async def fetch_visible_site_ids(
    conn: Executor, scope: ViewerScope, ids: Sequence[int]
) -> set[int]:
    rows = await conn.fetch(
        f"""
        select s.id from sites s
         where s.organization_id = $1 and s.id = any($4::bigint[])
           and {VISIBLE_SITE.format(site="s.id")}
        """,
        *_scope_args(scope),
        list(ids),
    )
    return {row["id"] for row in rows}


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class ProductCriteria:
    """A ProductFilter after validation: None means "no condition"."""

    family_ids: Sequence[int] | None = None
    site_ids: Sequence[int] | None = None
    health: Sequence[str] | None = None
    connectivity: Sequence[str] | None = None
    code_status: Sequence[str] | None = None
    contract_ends_within_days: int | None = None
    search_pattern: str | None = None  # an ILIKE pattern, already escaped
    # Products of every one of these groups (the viewer's own, checked here too).
    group_ids: Sequence[int] = ()
    # Only products listed explicitly in this group.
    listed_in_group: int | None = None


# $4..$12: the criteria, in ProductCriteria order. A group's rule is the SQL
# functions fleet_viewer_groups and fleet_group_rule_matches (migration 0070).
#
# Only the criteria given become predicates; an absent one is a bare `$n is
# null` (a one-time check) so every parameter keeps its type and number. One
# statement of `($n is null or column = any($n))` for all of them let a generic
# plan (asyncpg prepares; PostgreSQL switches to a generic plan after five runs)
# read the tenant's every product at M scale: one site 210 ms and a search
# 917 ms, against 0.1 ms each with the predicate an index condition.
_TODAY = "(select (now() at time zone o.time_zone)::date from organizations o where o.id = $1)"
_CRITERIA_PREDICATES: tuple[tuple[str, str, str], ...] = (
    ("family_ids", "$4::bigint[]", "p.family_id = any($4::bigint[])"),
    ("site_ids", "$5::bigint[]", "p.site_id = any($5::bigint[])"),
    ("health", "$6::text[]", "p.health = any($6::text[])"),
    ("connectivity", "$7::text[]", "p.connectivity = any($7::text[])"),
    ("code_status", "$8::text[]", "p.code_status = any($8::text[])"),
    (
        "contract_ends_within_days",
        "$9::integer",
        f"p.contract_ends_on between {_TODAY} and {_TODAY} + $9::integer",
    ),
    (
        "search_pattern",
        "$10::text",
        "(p.service_tag || ' ' || p.name || ' ' || p.model) ilike $10::text",
    ),
    (
        "listed_in_group",
        "$12::bigint",
        """exists (select 1 from custom_group_products gp
                    where gp.group_id = $12::bigint and gp.product_id = p.id)""",
    ),
)
_IN_EVERY_GROUP = """(
        (select count(*) from fleet_viewer_groups($1, $2, $11::bigint[]))
            = cardinality($11::bigint[])
        and not exists (
            select 1 from fleet_viewer_groups($1, $2, $11::bigint[]) g
             where not (
                   exists (select 1 from custom_group_products gp
                            where gp.group_id = g.group_id and gp.product_id = p.id)
                   or fleet_group_rule_matches(g.fams, g.sites, p.family_id, p.site_id))))"""


def _product_filter(criteria: ProductCriteria) -> str:
    """The WHERE condition on products `p` for these criteria ($1..$12)."""
    predicates = [f"p.organization_id = $1 and {VISIBLE_SITE.format(site='p.site_id')}"]
    for name, parameter, predicate in _CRITERIA_PREDICATES:
        given = getattr(criteria, name) is not None
        predicates.append(predicate if given else f"{parameter} is null")
    predicates.append(_IN_EVERY_GROUP if criteria.group_ids else "cardinality($11::bigint[]) = 0")
    return "\n    and ".join(predicates)


def _after(after_id: int | None) -> str:
    """The keyset condition ($13), built only when there is a position."""
    return "p.id > $13::bigint" if after_id is not None else "$13::bigint is null"


def _criteria_args(criteria: ProductCriteria) -> tuple[object, ...]:
    def listed(values: Sequence[object] | None) -> list[object] | None:
        return None if values is None else list(values)

    return (
        listed(criteria.family_ids),
        listed(criteria.site_ids),
        listed(criteria.health),
        listed(criteria.connectivity),
        listed(criteria.code_status),
        criteria.contract_ends_within_days,
        criteria.search_pattern,
        list(criteria.group_ids),
        criteria.listed_in_group,
    )


# A group's products read through indexes, in proportion to the group: its
# listed products by key (those its rule does not match), plus its rule's
# products by (organization, site, family) or (organization, family, id);
# the branches are disjoint, so nothing is counted twice. $13 is the keyset
# position, $14 the groups (the viewer's own; others match nothing). Further
# groups of the criteria are checked row by row by _product_filter ($11).
_GROUP_PRODUCTS = """
with grp as materialized (
    select g.group_id as id, g.fams, g.sites from fleet_viewer_groups($1, $2, $14::bigint[]) g
),
group_products as (
    select grp.id as group_id, p.* from grp
      join custom_group_products gp on gp.group_id = grp.id
      join products p on p.id = gp.product_id
     where p.organization_id = $1 and ($13::bigint is null or p.id > $13::bigint)
       -- listed products that the rule matches come from the rule's branch
       and not fleet_group_rule_matches(grp.fams, grp.sites, p.family_id, p.site_id)
    union all
    select grp.id as group_id, p.* from grp cross join lateral (
        select * from products p
         where grp.sites is not null and grp.fams is not null
           and p.organization_id = $1 and p.site_id = any(grp.sites)
           and p.family_id = any(grp.fams)
           and ($13::bigint is null or p.id > $13::bigint)
        offset 0) as p  -- offset 0: keep it a per-group index lookup
    union all
    select grp.id as group_id, p.* from grp cross join lateral (
        select * from products p
         where grp.fams is not null and grp.sites is null
           and p.organization_id = $1 and p.family_id = any(grp.fams)
           and ($13::bigint is null or p.id > $13::bigint)
        offset 0) as p  -- offset 0: keep it a per-group index lookup
    union all
    select grp.id as group_id, p.* from grp cross join lateral (
        select * from products p
         where grp.sites is not null and grp.fams is null
           and p.organization_id = $1 and p.site_id = any(grp.sites)
           and ($13::bigint is null or p.id > $13::bigint)
        offset 0) as p  -- offset 0: keep it a per-group index lookup
)
"""


# Only the listed products of groups ($14, the viewer's own).
_LISTED_PRODUCTS = """
with grp as materialized (
    select g.group_id as id from fleet_viewer_groups($1, $2, $14::bigint[]) g
),
group_products as (
    select grp.id as group_id, p.* from grp
      join custom_group_products gp on gp.group_id = grp.id
      join products p on p.id = gp.product_id
     where p.organization_id = $1 and ($13::bigint is null or p.id > $13::bigint)
)
"""


def _split_groups(criteria: ProductCriteria) -> tuple[int | None, ProductCriteria]:
    groups = list(criteria.group_ids)
    if not groups:
        return None, criteria
    return groups[0], replace(criteria, group_ids=tuple(groups[1:]))


async def fetch_products_page(
    conn: Executor,
    scope: ViewerScope,
    criteria: ProductCriteria,
    *,
    after_id: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Visible products matching the criteria, ordered by id, after a keyset position."""
    group, rest = _split_groups(criteria)
    if group is not None:
        return await fetch_group_products_pages(
            conn, scope, rest, [group], after_id=after_id, limit=limit
        )
    page = f"""
        select {PRODUCT_COLUMNS} from products p
         where {_product_filter(criteria)}
           and {_after(after_id)}
         order by p.id
         limit $14
    """
    return await conn.fetch(
        _SHOWN.format(page=page, order="x.id"),
        *_scope_args(scope),
        *_criteria_args(criteria),
        after_id,
        limit,
    )


async def count_products(conn: Executor, scope: ViewerScope, criteria: ProductCriteria) -> int:
    group, rest = _split_groups(criteria)
    if group is not None:
        counts = await count_group_products(conn, scope, rest, [group])
        return counts.get(group, 0)
    count: int = await conn.fetchval(
        f"select count(*) from products p where {_product_filter(criteria)}",
        *_scope_args(scope),
        *_criteria_args(criteria),
    )
    return count


async def fetch_group_products_pages(
    conn: Executor,
    scope: ViewerScope,
    criteria: ProductCriteria,
    group_ids: Sequence[int],
    *,
    after_id: int | None,
    limit: int,
    listed_only: bool = False,
) -> list[asyncpg.Record]:
    """One page of products (or listed products) for each group, in one statement.

    Rows carry `group_id`, ordered by group then product id; at most `limit`
    per group. The criteria narrow every group alike (their own group_ids
    must hold too).
    """
    source = _LISTED_PRODUCTS if listed_only else _GROUP_PRODUCTS
    page = f"""
        select * from (
            select p.group_id, {PRODUCT_COLUMNS},
                   row_number() over (partition by p.group_id order by p.id) as rank
              from group_products p
             where {_product_filter(criteria)}
        ) as ranked
         where rank <= $15
    """
    return await conn.fetch(
        source + _SHOWN.format(page=page, order="x.group_id, x.id"),
        *_scope_args(scope),
        *_criteria_args(criteria),
        after_id,
        list(group_ids),
        limit,
    )


async def count_group_products(
    conn: Executor,
    scope: ViewerScope,
    criteria: ProductCriteria,
    group_ids: Sequence[int],
    *,
    listed_only: bool = False,
) -> dict[int, int]:
    source = _LISTED_PRODUCTS if listed_only else _GROUP_PRODUCTS
    rows = await conn.fetch(
        f"""
        {source}
        select p.group_id, count(*) as n from group_products p
         where {_product_filter(criteria)}
         group by p.group_id
        """,
        *_scope_args(scope),
        *_criteria_args(criteria),
        None,
        list(group_ids),
    )
    return {row["group_id"]: row["n"] for row in rows}


async def fetch_products_by_ids(
    conn: Executor, scope: ViewerScope, ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        select {PRODUCT_COLUMNS} from products p
         where p.organization_id = $1 and p.id = any($4::bigint[])
           and {VISIBLE_SITE.format(site="p.site_id")}
        """,
        *_scope_args(scope),
        list(ids),
    )


async def fetch_open_request_counts(
    conn: Executor, scope: ViewerScope, product_ids: Sequence[int]
) -> dict[int, int]:
    rows = await conn.fetch(
        """
        select r.product_id, r.open from product_open_requests r
         where r.organization_id = $1 and r.product_id = any($2::bigint[])
        """,
        scope.organization_id,
        list(product_ids),
    )
    return {row["product_id"]: row["open"] for row in rows}
