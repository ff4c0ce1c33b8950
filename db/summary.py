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

How it stays fast: triggers (migration 0020) keep exact counters per
organization x site x family (`fleet_cells`) and per site and per family.
Each view reads the coarsest grain its rule allows: the whole fleet of an
ALL_SITES viewer, or a families-only group, sums at most 12 family rows; a
sites-only group one row per site; a families x sites group the matching
cells. Listed products that the rule does not already cover are counted
from `products` one by one (never twice). Contract buckets in the roll-ups
are as of `fleet_rollup_dates.as_of`; products whose bucket moved since then
are corrected from three narrow date ranges, so counts are exact on any day,
and `refresh_contract_buckets` moves them for good. That computation is the
function `fleet_compute_summaries` (migration 0025).

Computed summaries are shared between requests (migrations 0021-0024): each is
stored with the tenant's data version and day, and every write that could
change a summary bumps that version in its own transaction, so a stored
summary is used only while it is still the exact answer. A stored summary is
also kept for the viewer's site scope (all sites or some), so one stored for
a scope that has since changed is never read.

The first read after a product or service-request write does not compute
again (migration 0090): such writes log what they changed (each product's
image before and after) in `fleet_changes`, and `fleet_advance_summaries`
moves the stored summaries forward by those images, reading the roll-ups
only for the sites whose count moved. Other writes (groups, scopes, sites,
bulk imports) force a computation. The statement reads what it finds
current, moves what it can, computes (and stores) only the rest;
`use_cache=False` skips all three, to measure or check the computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import asyncpg

from db.fleet import ViewerScope
from db.types import Conn, Executor

FLEET_VIEW = 0  # the key of the whole visible fleet inside the statement
MAX_TOP_SITES = 100


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
class SummaryCounts:
    """The summary's counters, in the order of the SQL columns (migrations 0024, 0025)."""

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


# Every counter's name, from the one declaration above.
COUNTERS = tuple(field.name for field in fields(SummaryCounts))


@dataclass(frozen=True)
class SummaryRow(SummaryCounts):
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


# Everything a summary holds: the columns of summary_cache (migration 0024)
# and of fleet_compute_summaries() (migration 0025).
_STORED_COLUMNS = (
    *COUNTERS,
    "site_count",
    "family_ids",
    "family_names",
    "family_counts",
    "site_ids",
    "site_names",
    "site_cities",
    "site_countries",
    "site_counts",
)
_STORED = ", ".join(_STORED_COLUMNS)
_UPDATED = ", ".join(f"{c} = excluded.{c}" for c in _STORED_COLUMNS)
# In summary_cache's column order, after its five key and version columns.
_STORED_FROM_COMPUTED = ", ".join(f"c.{c}" for c in _STORED_COLUMNS)

# $1 organization, $2 user, $3 all sites visible, $4 view keys (0 = fleet),
# $5 how many top sites, $6 read and fill the shared cache. The views found
# in summary_cache at the tenant's current version, day and scope are read
# back; those only logged writes left behind are moved forward
# (fleet_advance_summaries, migration 0090); only the others go through
# fleet_compute_summaries() (migration 0025: the roll-up reads). Both are
# stored. This statement stays small to plan; the large one is planned only
# when something must be computed.
_READ = f"""
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
    select c.* from summary_cache c
     where c.user_id = $2 and c.organization_id = $1 and c.view_key = any($4::bigint[])
       and c.version = (select v from version) and c.today = (select today from day)
       and c.all_sites = $3 and $6::boolean
),
behind as (
    select array_agg(k) as keys from unnest($4::bigint[]) as k
     where k not in (select view_key from cached)
),
advanced as (
    -- Stored summaries that only logged product writes left behind, moved
    -- forward by those writes (migration 0090): milliseconds, not a computation.
    -- Whole summary_cache rows, at the current version.
    select a.* from behind
     cross join lateral fleet_advance_summaries($1, $2, $3, behind.keys, $5) as a
     where behind.keys is not null and $6::boolean
),
missing as (
    select array_agg(k) as keys from unnest($4::bigint[]) as k
     where k not in (select view_key from cached) and k not in (select view_key from advanced)
),
computed as (
    select f.* from missing
     cross join lateral fleet_compute_summaries($1, $2, $3, missing.keys, $5) as f
     where missing.keys is not null
),
fresh as (
    select view_key, {_STORED}, true as advanced from advanced
    union all
    select view_key, {_STORED}, false from computed
)"""
_STORE = f"""
, stored as (
    -- summary_cache_fill (migration 0026) skips a fill that races another
    -- request's in a REPEATABLE READ snapshot (db/snapshot.py) rather than
    -- failing the read. A select: the answer refers to it, so that it runs.
    select summary_cache_fill(array_agg(
               row($2, c.view_key, $1, (select v from version), (select today from day),
                   {_STORED_FROM_COMPUTED}, $3)::summary_cache))
      from fresh c
     where $6::boolean
)"""
_ANSWER = f"""
select view_key, {_STORED},
       coalesce((select day.as_of <> day.today from day), false) as stale_contracts,
       false as computed, false as advanced, (select v from version) as version,
       (select today from day) as today
  from cached
union all
select view_key, {_STORED}, coalesce((select day.as_of <> day.today from day), false),
       true, advanced, (select v from version), (select today from day)
  from fresh{{store}}
"""
SUMMARIES_SQL = _READ + _STORE + _ANSWER.format(store="\n cross join stored")
# On a streaming replica nothing may write: the same reads, no `stored`
# (a data-modifying CTE fails in a read-only transaction even with no rows).
# What it computes is written through the primary off the request path
# (`store_summaries`).
SUMMARIES_READ_ONLY_SQL = _READ + _ANSWER.format(store="")

# One summary computed elsewhere: $1 user, $2 view key, $3 organization,
# $4 version, $5 day, then the stored columns. Kept only while the primary is
# still at that version, so an answer computed from an older snapshot (a
# replica's) is never stored as current.
_PLACEHOLDERS = ", ".join(f"${i}" for i in range(6, 6 + len(_STORED_COLUMNS)))
STORE_SQL = f"""
insert into summary_cache (user_id, view_key, organization_id, version, today, {_STORED},
                           all_sites)
select $1, $2, $3, $4, $5, {_PLACEHOLDERS}, ${6 + len(_STORED_COLUMNS)}
 where coalesce((select fv.version from fleet_versions fv where fv.organization_id = $3), 0) = $4
on conflict (organization_id, user_id, view_key) do update
   set organization_id = excluded.organization_id, version = excluded.version,
       today = excluded.today, all_sites = excluded.all_sites, {_UPDATED}
 where summary_cache.version <= excluded.version
"""


def _row(record: asyncpg.Record, top_sites: int) -> SummaryRow:
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
    read_only: bool = False,
    computed: list[asyncpg.Record] | None = None,
) -> dict[int | None, SummaryRow]:
    """Summaries of several views in one statement.

    `None` is the whole visible fleet; an int is a custom group id, answered
    only when the group belongs to the viewer (absent from the result
    otherwise, as if it did not exist). With `use_cache=False` every view is
    computed from the roll-ups and nothing is stored (what a first request,
    or the first request after a change, costs). With `read_only` (a
    replica) nothing is stored either, and the records computed rather than
    read from the cache are appended to `computed`, for `store_summaries`.
    """
    keys = sorted({FLEET_VIEW if g is None else g for g in group_ids})
    records = await conn.fetch(
        SUMMARIES_READ_ONLY_SQL if read_only else SUMMARIES_SQL,
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
        key = None if record["view_key"] == FLEET_VIEW else record["view_key"]
        rows[key] = _row(record, size)
        if computed is not None and record["computed"] and use_cache:
            computed.append(record)
    return rows


async def store_summaries(
    conn: asyncpg.Pool | Conn, scope: ViewerScope, records: Sequence[Any]
) -> None:
    """Store summaries computed on a replica, where they are still current (primary)."""
    await conn.executemany(
        STORE_SQL,
        [
            (
                scope.user_id,
                r["view_key"],
                scope.organization_id,
                r["version"],
                r["today"],
                *(r[c] for c in _STORED_COLUMNS),
                scope.all_sites,
            )
            for r in records
        ],
    )


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
