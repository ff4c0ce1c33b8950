"""The Summary tab in SQL: exact counts of a view of the fleet, from roll-ups.

API (also used directly by the benchmark for its "SQL floor" and "naive path"):

    scope = ViewerScope(organization_id, user_id, all_sites)   # from db.fleet
    rows = await fetch_summaries(conn, scope, [None, 12, 13])  # one statement
    row = rows[12]                      # SummaryRow, or absent when the group
                                        # is not the viewer's (or not found)
    one = await fetch_summary(conn, scope, 12)       # the same for one view
    fresh = await fetch_summaries(conn, scope, [None], use_cache=False)
    await refresh_contract_buckets(conn, organization_id)

A view is the viewer's whole visible fleet (`None`) or one of the viewer's
custom groups (its id). `fetch_summaries` answers any number of views in ONE
statement, so a dashboard of 1 or 50 groups costs the same round trips.

How it stays fast (migration 0020): triggers keep exact counters per
organization x site x family (`fleet_cells`) and per site and per family.
Each view reads the coarsest grain its rule allows: the whole fleet of an
ALL_SITES viewer, or a families-only group, sums at most 12 family rows; a
sites-only group one row per site; a families x sites group the matching
cells. Listed products that the rule does not already cover are counted
from `products` one by one (never twice). Contract buckets in the roll-ups
are as of `fleet_rollup_dates.as_of`; products whose bucket moved since then
are corrected here from three narrow date ranges, so counts are exact on any
day, and `refresh_contract_buckets` moves them for good.

Computed summaries are shared between requests (migration 0021): each is
stored with the tenant's data version and day, and every write that could
change a summary bumps that version in its own transaction, so a stored
summary is used only while it is still the exact answer. The statement reads
what it finds and computes (and stores) only the rest; `use_cache=False`
skips both, to measure or check the computation itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from db.fleet import Conn, Executor, ViewerScope

FLEET_VIEW = 0  # the key of the whole visible fleet inside the statement
MAX_TOP_SITES = 100

COUNTERS = (
    "products",
    "health_good",
    "health_warning",
    "health_critical",
    "health_unknown",
    "connected",
    "disconnected",
    "not_configured",
    "code_current",
    "code_update_available",
    "code_unknown",
    "contract_expired",
    "contract_within_30",
    "contract_within_90",
    "contract_active",
    "sr_open",
    "sr_critical",
    "sr_high",
    "sr_medium",
    "sr_low",
)


class FamilyCount(NamedTuple):
    family_id: int
    name: str
    product_count: int


class SiteCount(NamedTuple):
    site_id: int
    name: str
    city: str | None
    country: str
    product_count: int


@dataclass(frozen=True)
class SummaryRow:
    products: int
    health_good: int
    health_warning: int
    health_critical: int
    health_unknown: int
    connected: int
    disconnected: int
    not_configured: int
    code_current: int
    code_update_available: int
    code_unknown: int
    contract_expired: int
    contract_within_30: int
    # Days 31..90 only; endingWithin90Days is contract_within_30 + this.
    contract_within_90: int
    contract_active: int
    sr_open: int
    sr_critical: int
    sr_high: int
    sr_medium: int
    sr_low: int
    site_count: int
    # Largest first (the family's name comes along: no second query).
    by_family: tuple[FamilyCount, ...]
    # True when the roll-ups' contract day is behind the tenant's today.
    stale_contracts: bool
    # The top sites as stored (parallel lists, largest first); built into
    # SiteCount tuples only as far as a caller asks (`top_sites`).
    site_columns: tuple[Sequence[Any], ...] = ((), (), (), (), ())

    def top_sites(self, n: int) -> list[SiteCount]:
        return list(map(SiteCount, *(column[:n] for column in self.site_columns)))

    @property
    def by_site(self) -> list[SiteCount]:
        """Largest first, at most MAX_TOP_SITES (or the `top_sites` asked for)."""
        return self.top_sites(MAX_TOP_SITES)


def _columns(prefix: str) -> str:
    return ", ".join(f"{prefix}{c}" for c in COUNTERS)


def _listed_counters() -> str:
    bucket = "fleet_contract_bucket(l.contract_ends_on, l.today)"
    return ", ".join(
        [
            "1",
            "(l.health = 'GOOD')::int",
            "(l.health = 'WARNING')::int",
            "(l.health = 'CRITICAL')::int",
            "(l.health = 'UNKNOWN')::int",
            "(l.connectivity = 'CONNECTED')::int",
            "(l.connectivity = 'DISCONNECTED')::int",
            "(l.connectivity = 'NOT_CONFIGURED')::int",
            "(l.code_status = 'CURRENT')::int",
            "(l.code_status = 'UPDATE_AVAILABLE')::int",
            "(l.code_status = 'UNKNOWN')::int",
            f"({bucket} = 0)::int",
            f"({bucket} = 1)::int",
            f"({bucket} = 2)::int",
            f"({bucket} = 3)::int",
            "l.sr_open",
            "l.sr_critical",
            "l.sr_high",
            "l.sr_medium",
            "l.sr_low",
        ]
    )


def _correction_counters() -> str:
    zeros = ["0"] * 11
    moves = [f"(m.b_new = {b})::int - (m.b_old = {b})::int" for b in range(4)]
    return ", ".join(zeros + moves + ["0"] * 5)


_SUMS = ", ".join(f"sum({c})::int as {c}" for c in COUNTERS)

# $1 organization, $2 user, $3 all sites visible, $4 view keys (0 = fleet),
# $5 how many top sites, $6 read and fill the shared cache. A rule with no
# families matches any family, with no sites any site; the fleet view is a
# rule with neither.
#
# Each view reads roll-up rows by key lookups only (unnest of its families
# and sites), never a scan of a tenant's cells:
#   family_rows_all  ALL-sites views with no site list: family totals
#   site_rows_all    ... and no families either: site totals (for bySite)
#   fam_cells        ... with families: their cells (for bySite)
#   site_rows_some   views restricted to sites (a site list, or a SELECTED
#                    viewer) with no families: site totals of those sites
#   site_cells       ... their cells (for byFamily)
#   pair_cells       views restricted to sites, with families: the cells
# Listed products outside the rule are added one by one ("listed"), and
# products whose contract bucket moved since the roll-ups' day ("moved").
SUMMARIES_SQL = f"""
with day as (
    select (now() at time zone o.time_zone)::date as today, d.as_of
      from organizations o
      left join fleet_rollup_dates d on d.organization_id = o.id
     where o.id = $1
),
version as (
    select coalesce((select fv.version from fleet_versions fv where fv.organization_id = $1), 0)
           as v
),
cached as (
    select c.view_key, c.payload from summary_cache c
     where c.user_id = $2 and c.organization_id = $1 and c.view_key = any($4::bigint[])
       and c.version = (select v from version) and c.today = (select today from day)
       and $6::boolean
),
visible as (
    select array_agg(us.site_id) as ids from user_sites us
     where us.user_id = $2 and us.organization_id = $1
),
raw_views as (
    select k.key as view_key, g.id as group_id,
           coalesce(f.ids, '{{}}') as fams, coalesce(s.ids, '{{}}') as sites,
           (k.key = 0 or f.ids is not null or s.ids is not null) as has_rule
      from (select key from unnest($4::bigint[]) as key
             where key not in (select view_key from cached)) as k(key)
      left join custom_groups g
        on g.id = k.key and g.owner_id = $2 and g.organization_id = $1
      left join lateral (
          select array_agg(cf.family_id) as ids from custom_group_families cf
           where cf.group_id = g.id) as f on true
      left join lateral (
          select array_agg(cs.site_id) as ids from custom_group_sites cs
           where cs.group_id = g.id) as s on true
     where k.key = 0 or g.id is not null
),
views as materialized (
    -- eff_sites: the sites a view is restricted to (null: every site).
    select r.view_key, r.group_id, r.fams, r.sites, r.has_rule,
           case
               when cardinality(r.sites) > 0 and $3 then r.sites
               when cardinality(r.sites) > 0 then array(
                   select x from unnest(r.sites) x
                    where x = any(coalesce((select ids from visible), '{{}}')))
               when $3 then null
               else coalesce((select ids from visible), '{{}}')
           end as eff_sites
      from raw_views r
),
family_rows_all as (
    select v.view_key, t.*
      from views v
      join fleet_family_totals t
        on t.organization_id = $1
       and (cardinality(v.fams) = 0 or t.family_id = any(v.fams))
     where v.has_rule and v.eff_sites is null
),
site_rows_all as (
    select v.view_key, t.site_id, t.products
      from views v
      join fleet_site_totals t on t.organization_id = $1
     where v.has_rule and v.eff_sites is null and cardinality(v.fams) = 0
),
fam_cells as (
    select v.view_key, t.site_id, t.products
      from views v
      cross join lateral unnest(v.fams) as f(id)
      join fleet_cells t on t.organization_id = $1 and t.family_id = f.id
     where v.has_rule and v.eff_sites is null
),
site_rows_some as (
    select v.view_key, t.*
      from views v
      cross join lateral unnest(v.eff_sites) as s(id)
      join fleet_site_totals t on t.organization_id = $1 and t.site_id = s.id
     where v.has_rule and cardinality(v.fams) = 0
),
site_cells as (
    select v.view_key, t.family_id, t.products
      from views v
      cross join lateral unnest(v.eff_sites) as s(id)
      join fleet_cells t on t.organization_id = $1 and t.site_id = s.id
     where v.has_rule and cardinality(v.fams) = 0
),
pair_cells as materialized (
    select v.view_key, t.*
      from views v
      cross join lateral unnest(v.eff_sites) as s(id)
      cross join lateral unnest(v.fams) as f(id)
      join fleet_cells t
        on t.organization_id = $1 and t.site_id = s.id and t.family_id = f.id
     where v.has_rule
),
listed as materialized (
    select v.view_key, p.site_id, p.family_id, p.health, p.connectivity, p.code_status,
           p.contract_ends_on, day.today,
           coalesce(r.open, 0) as sr_open, coalesce(r.critical, 0) as sr_critical,
           coalesce(r.high, 0) as sr_high, coalesce(r.medium, 0) as sr_medium,
           coalesce(r.low, 0) as sr_low
      from views v
      cross join day
      join custom_group_products gp on gp.group_id = v.group_id
      cross join lateral (
          select p.* from products p
           where p.id = gp.product_id and p.organization_id = $1
          offset 0) as p
      left join product_open_requests r on r.product_id = p.id
     where ($3 or p.site_id = any(coalesce((select ids from visible), '{{}}')))
       and not (v.has_rule
                and (cardinality(v.fams) = 0 or p.family_id = any(v.fams))
                and (cardinality(v.sites) = 0 or p.site_id = any(v.sites)))
),
moved as (
    select p.site_id, p.family_id,
           fleet_contract_bucket(p.contract_ends_on, day.as_of) as b_old,
           fleet_contract_bucket(p.contract_ends_on, day.today) as b_new
      from day
      join products p
        on p.organization_id = $1
       and (p.contract_ends_on between least(day.as_of, day.today)
                                   and greatest(day.as_of, day.today) - 1
            or p.contract_ends_on between least(day.as_of, day.today) + 31
                                      and greatest(day.as_of, day.today) + 30
            or p.contract_ends_on between least(day.as_of, day.today) + 91
                                      and greatest(day.as_of, day.today) + 90)
     where day.as_of <> day.today
       and fleet_contract_bucket(p.contract_ends_on, day.as_of)
           <> fleet_contract_bucket(p.contract_ends_on, day.today)
),
corrections as (
    select v.view_key, m.b_old, m.b_new
      from views v
      join moved m
        on v.has_rule
       and (cardinality(v.fams) = 0 or m.family_id = any(v.fams))
       and (v.eff_sites is null or m.site_id = any(v.eff_sites))
),
totals as (
    select view_key, {_SUMS}
      from (
        select view_key, {_columns("")} from family_rows_all
        union all
        select view_key, {_columns("")} from site_rows_some
        union all
        select view_key, {_columns("")} from pair_cells
        union all
        select l.view_key, {_listed_counters()} from listed l
        union all
        select m.view_key, {_correction_counters()} from corrections m
      ) as all_rows
     group by view_key
),
family_rows as (
    select view_key, family_id, products as n from family_rows_all
    union all
    select view_key, family_id, products from site_cells
    union all
    select view_key, family_id, products from pair_cells
    union all
    select view_key, family_id, 1 from listed
),
families as (
    select x.view_key,
           array_agg(x.family_id order by x.n desc, x.family_id) as family_ids,
           array_agg(pf.name order by x.n desc, x.family_id) as family_names,
           array_agg(x.n order by x.n desc, x.family_id) as family_counts
      from (select view_key, family_id, sum(n)::int as n from family_rows
             group by view_key, family_id having sum(n) > 0) as x
      join product_families pf on pf.id = x.family_id
     group by x.view_key
),
site_rows as (
    select view_key, site_id, products as n from site_rows_all
    union all
    select view_key, site_id, products from fam_cells
    union all
    select view_key, site_id, products from site_rows_some
    union all
    select view_key, site_id, products from pair_cells
    union all
    select view_key, site_id, 1 from listed
),
ranked_sites as (
    select view_key, site_id, n,
           row_number() over (partition by view_key order by n desc, site_id) as rank
      from (select view_key, site_id, sum(n)::int as n from site_rows
             group by view_key, site_id having sum(n) > 0) as x
),
sites as (
    select x.view_key, count(*)::int as site_count,
           array_agg(x.site_id order by x.rank) filter (where x.rank <= $5) as site_ids,
           array_agg(x.n order by x.rank) filter (where x.rank <= $5) as site_counts,
           array_agg(st.name order by x.rank) filter (where x.rank <= $5) as site_names,
           array_agg(st.city order by x.rank) filter (where x.rank <= $5) as site_cities,
           array_agg(st.country::text order by x.rank) filter (where x.rank <= $5)
               as site_countries
      from ranked_sites x
      left join lateral (
          select s.name, s.city, s.country from sites s
           where s.id = x.site_id and x.rank <= $5) as st on true
     group by x.view_key
),
computed as (
select v.view_key, {", ".join(f"coalesce(t.{c}, 0) as {c}" for c in COUNTERS)},
       coalesce(s.site_count, 0) as site_count,
       coalesce(f.family_ids, '{{}}') as family_ids,
       coalesce(f.family_names, '{{}}') as family_names,
       coalesce(f.family_counts, '{{}}') as family_counts,
       coalesce(s.site_ids, '{{}}') as site_ids,
       coalesce(s.site_names, '{{}}') as site_names,
       coalesce(s.site_cities, '{{}}') as site_cities,
       coalesce(s.site_countries, '{{}}') as site_countries,
       coalesce(s.site_counts, '{{}}') as site_counts
  from views v
  left join totals t using (view_key)
  left join families f using (view_key)
  left join sites s using (view_key)
),
stored as (
    insert into summary_cache (user_id, view_key, organization_id, version, today, payload)
    select $2, c.view_key, $1, (select v from version), (select today from day), to_jsonb(c)
      from computed c
     where $6::boolean
     order by c.view_key  -- one lock order for concurrent fillers
    on conflict (user_id, view_key) do update
       set organization_id = excluded.organization_id, version = excluded.version,
           today = excluded.today, payload = excluded.payload
     where summary_cache.version <= excluded.version
)
select view_key, payload::text as payload,
       coalesce((select day.as_of <> day.today from day), false) as stale_contracts
  from cached
union all
select view_key, to_jsonb(c)::text, coalesce((select day.as_of <> day.today from day), false)
  from computed c
"""


def _row(record: Mapping[str, Any], top_sites: int) -> SummaryRow:
    return SummaryRow(
        **{c: record[c] for c in COUNTERS},
        site_count=record["site_count"],
        by_family=tuple(
            map(
                FamilyCount,
                record["family_ids"],
                record["family_names"],
                record["family_counts"],
            )
        ),
        stale_contracts=record["stale_contracts"],
        site_columns=tuple(
            record[column][:top_sites]
            for column in ("site_ids", "site_names", "site_cities", "site_countries", "site_counts")
        ),
    )


async def fetch_summaries(
    conn: Executor,
    scope: ViewerScope,
    group_ids: Sequence[int | None],
    top_sites: int = MAX_TOP_SITES,
    *,
    use_cache: bool = True,
) -> dict[int | None, SummaryRow]:
    """Summaries of several views in one statement.

    `None` is the whole visible fleet; an int is a custom group id, answered
    only when the group belongs to the viewer (absent from the result
    otherwise, as if it did not exist). With `use_cache=False` every view is
    computed from the roll-ups and nothing is stored (what a first request,
    or the first request after a change, costs).
    """
    keys = sorted({FLEET_VIEW if g is None else g for g in group_ids})
    records = await conn.fetch(
        SUMMARIES_SQL,
        scope.organization_id,
        scope.user_id,
        scope.all_sites,
        keys,
        MAX_TOP_SITES,  # cached at the largest size, cut below
        use_cache,
    )
    size = min(max(top_sites, 0), MAX_TOP_SITES)
    rows: dict[int | None, SummaryRow] = {}
    for record in records:
        payload = orjson.loads(record["payload"])
        payload["stale_contracts"] = record["stale_contracts"]
        key = None if record["view_key"] == FLEET_VIEW else record["view_key"]
        rows[key] = _row(payload, size)
    return rows


async def fetch_summary(
    conn: Executor,
    scope: ViewerScope,
    group_id: int | None,
    top_sites: int = MAX_TOP_SITES,
    *,
    use_cache: bool = True,
) -> SummaryRow | None:
    """One view's summary (the benchmark's naive path calls this per group)."""
    rows = await fetch_summaries(conn, scope, [group_id], top_sites, use_cache=use_cache)
    return rows.get(group_id)


async def refresh_contract_buckets(conn: Conn, organization_id: int) -> None:
    """Move products whose contract bucket changed since the roll-ups' day."""
    await conn.execute("select fleet_refresh_contract_buckets($1)", organization_id)
