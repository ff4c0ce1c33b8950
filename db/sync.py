"""Applying one batch of install-base changes in one transaction (migration 0040).

A batch holds validated changes (sync/changes.py) of three kinds: sites by
reference, products by service tag, service requests by number. For each kind,
in this order (a product may name a site created by the same batch):

1. references are resolved (organization, site, family); a line naming an
   unknown one, or moving a record to another organization, is set aside as a
   reject and never reaches the tables;
2. records that exist but were never synced are adopted into sync_* with no
   clocks (older than any change);
3. the changes are COPYed into a temporary staging table, reduced to one row
   per key (per field, the newest value), and merged into sync_* by ONE
   `INSERT ... ON CONFLICT DO UPDATE ... WHERE <a field is newer>`;
4. the merged records of the keys that moved are projected into the real
   table by one upsert (and a delete for decommissioned products or requests
   whose product is gone), so the existing statement-level triggers keep the
   roll-ups and the tenants' summary versions exact in the same transaction;
5. each line is classified: created, updated, removed, unchanged, stale
   (older than what is stored, for every field it carries) or pending (kept,
   but its record is not complete yet: an update seen before its creation).

The caller owns the transaction (sync/apply.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

OUTCOMES = ("created", "updated", "removed", "unchanged", "stale", "pending")


@dataclass(frozen=True)
class Field:
    """One ordered field: its columns share one clock (`<name>_observed_at`)."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, SQL type)

    @property
    def clock(self) -> str:
        return f"{self.name}_observed_at"


@dataclass(frozen=True)
class Kind:
    name: str  # the "kind" of a change line
    key: str  # key column, in sync_<table> and in the projected table
    table: str  # sync_<table>
    fields: tuple[Field, ...]

    @property
    def stage(self) -> str:
        return f"sync_stage_{self.name}"

    def bit(self, name: str) -> int:
        return 1 << [f.name for f in self.fields].index(name)

    @property
    def value_columns(self) -> list[str]:
        return [c for f in self.fields for c, _ in f.columns]

    @property
    def stage_columns(self) -> list[str]:
        return ["line", "round", self.key, "observed_at", "given", *self.value_columns]


def _f(name: str, *columns: tuple[str, str]) -> Field:
    return Field(name, columns or ((name, "text"),))


SITE = Kind(
    "site",
    "reference",
    "sync_sites",
    (
        _f("organization", ("organization_id", "bigint")),
        _f("name"),
        _f("city"),
        _f("country"),
    ),
)
PRODUCT = Kind(
    "product",
    "service_tag",
    "sync_products",
    (
        _f("site", ("organization_id", "bigint"), ("site_id", "bigint")),
        _f("family", ("family_id", "bigint")),
        _f("name"),
        _f("model"),
        _f("health"),
        _f("connectivity"),
        _f("code_version"),
        _f("recommended_code_version"),
        _f("contract_level"),
        _f("contract_ends_on", ("contract_ends_on", "date")),
        _f("decommissioned", ("decommissioned", "boolean")),
    ),
)
SERVICE_REQUEST = Kind(
    "service_request",
    "number",
    "sync_service_requests",
    (
        _f("product", ("product_tag", "text")),
        _f("severity"),
        _f("title"),
        _f("status", ("status", "text"), ("closed_at", "timestamptz")),
        _f("opened", ("opened_at", "timestamptz")),
    ),
)
KINDS = {k.name: k for k in (SITE, PRODUCT, SERVICE_REQUEST)}


@dataclass
class Change:
    """One validated line. `values` holds the fields it gives, by field name;
    references (site, organization, family) are still names here."""

    line: int
    kind: str
    key: str
    observed_at: dt.datetime
    values: dict[str, Any]


@dataclass
class BatchResult:
    outcomes: dict[int, str] = field(default_factory=dict)  # line -> outcome
    rejects: dict[int, str] = field(default_factory=dict)  # line -> reason

    def merge(self, other: BatchResult) -> None:
        self.outcomes.update(other.outcomes)
        self.rejects.update(other.rejects)


# ------------------------------------------------------------------ SQL text


def _tiebreak(kind: Kind, f: Field, alias: str) -> str:
    # Equal clocks: the greater value wins, whatever arrived first.
    parts = ", ".join(f"{alias}{c}::text" for c, _ in f.columns)
    return f"coalesce(concat_ws('|', {parts}), '')"


def _newer(kind: Kind, f: Field) -> str:
    return (
        f"(excluded.{f.clock} is not null and (excluded.{f.clock}, "
        f"{_tiebreak(kind, f, 'excluded.')}) > (coalesce(t.{f.clock}, '-infinity'), "
        f"{_tiebreak(kind, f, 't.')}))"
    )


def _stage_sql(kind: Kind) -> str:
    columns = ", ".join(
        [
            "line bigint",  # a file line, or a stream sequence
            "round integer",  # 0 for a key's first change in the batch, 1 for its second...
            f"{kind.key} text",
            "observed_at timestamptz",
            "given integer",
            *(f"{c} {t}" for f in kind.fields for c, t in f.columns),
        ]
    )
    return f"create temp table if not exists {kind.stage} ({columns}) on commit delete rows"


def _merge_sql(kind: Kind) -> str:
    """One round of the batch (at most one change per key) merged field by
    field. Merging is order-free, so a key's changes may go in any rounds."""
    values: list[str] = []
    for f in kind.fields:
        bit = kind.bit(f.name)
        values.append(f"case when given & {bit} <> 0 then observed_at end as {f.clock}")
        values.extend(c for c, _ in f.columns)
    sets: list[str] = []
    for f in kind.fields:
        newer = _newer(kind, f)
        for column in [c for c, _ in f.columns] + [f.clock]:
            sets.append(f"{column} = case when {newer} then excluded.{column} else t.{column} end")
    targets = [kind.key, "first_observed_at", "observed_at"]
    targets += [c for f in kind.fields for c in [f.clock, *(c for c, _ in f.columns)]]
    return f"""
        insert into {kind.table} as t ({", ".join(targets)})
        select {kind.key}, observed_at, observed_at, {", ".join(values)}
          from {kind.stage}
         where round = $1
         order by {kind.key}
        on conflict ({kind.key}) do update set {", ".join(sets)},
            first_observed_at = least(t.first_observed_at, excluded.first_observed_at),
            observed_at = greatest(t.observed_at, excluded.observed_at)
        where {" or ".join(_newer(kind, f) for f in kind.fields)}
        returning {kind.key}
    """


def _lines_sql(kind: Kind, complete: str) -> str:
    """The lines that lost every field they carry (stale), and those whose
    record is still incomplete, so not in the projected table (pending)."""
    stale = " and ".join(
        f"(s.given & {kind.bit(f.name)} = 0 or t.{f.clock} > s.observed_at)" for f in kind.fields
    )
    gone = "coalesce(t.decommissioned, false)" if kind is PRODUCT else "false"
    return f"""
        select line, stale from (
            select s.line, ({stale}) as stale, not {gone} and not ({complete}) as pending
              from {kind.stage} s join {kind.table} t using ({kind.key})
        ) as x
         where stale or pending
    """


MERGE_SQL = {k.name: _merge_sql(k) for k in KINDS.values()}
STAGE_SQL = ";\n".join(_stage_sql(k) for k in KINDS.values())
LINES_SQL = {
    "site": _lines_sql(
        SITE, "t.organization_id is not null and t.name is not null and t.country is not null"
    ),
    "product": _lines_sql(
        PRODUCT,
        "t.site_id is not null and t.family_id is not null and t.name is not null "
        "and t.model is not null",
    ),
    "service_request": _lines_sql(
        SERVICE_REQUEST,
        "t.severity is not null and t.title is not null "
        "and exists (select 1 from products x where x.service_tag = t.product_tag)",
    ),
}

ADOPT_SQL = {
    "site": """
        insert into sync_sites (reference, organization_id, name, city, country,
                                first_observed_at, observed_at)
        select reference, organization_id, name, city, country, '-infinity', '-infinity'
          from sites where reference = any($1::text[])
         order by reference
        on conflict (reference) do nothing
    """,
    "product": """
        insert into sync_products (service_tag, organization_id, site_id, family_id, name, model,
                                   health, connectivity, code_version, recommended_code_version,
                                   contract_level, contract_ends_on, decommissioned,
                                   first_observed_at, observed_at)
        select p.service_tag, p.organization_id, p.site_id, p.family_id, p.name, p.model,
               p.health, p.connectivity, p.code_version, p.recommended_code_version,
               p.contract_level, p.contract_ends_on, false, '-infinity', '-infinity'
          from products p
         where p.service_tag = any($1::text[])
           and not exists (select 1 from sync_products s where s.service_tag = p.service_tag)
         order by p.service_tag
        on conflict (service_tag) do nothing
    """,
    "service_request": """
        insert into sync_service_requests (number, product_tag, severity, title, status,
                                           closed_at, opened_at, first_observed_at, observed_at)
        select r.number, p.service_tag, r.severity, r.title, r.status, r.closed_at, r.opened_at,
               '-infinity', '-infinity'
          from service_requests r join products p on p.id = r.product_id
         where r.number = any($1::text[])
           and not exists (select 1 from sync_service_requests s where s.number = r.number)
         order by r.number
        on conflict (number) do nothing
    """,
}

# Projections: what the merged records say, for the keys that moved. Each
# writes only rows that differ, so a replay fires no trigger and bumps no
# summary version.
PROJECT_SITES_SQL = """
    insert into sites (organization_id, name, city, country, reference)
    select organization_id, name, city, country, reference
      from sync_sites
     where reference = any($1::text[])
       and organization_id is not null and name is not null and country is not null
     order by reference
    on conflict (reference) do update
       set name = excluded.name, city = excluded.city, country = excluded.country
     where (sites.name, sites.city, sites.country)
           is distinct from (excluded.name, excluded.city, excluded.country)
    returning reference, xmax = 0 as created
"""

PROJECT_PRODUCTS_SQL = """
    insert into products (organization_id, site_id, family_id, service_tag, name, model, health,
                          connectivity, code_version, recommended_code_version, contract_level,
                          contract_ends_on)
    select organization_id, site_id, family_id, service_tag, name, model,
           coalesce(health, 'UNKNOWN'), coalesce(connectivity, 'NOT_CONFIGURED'), code_version,
           recommended_code_version, contract_level, contract_ends_on
      from sync_products
     where service_tag = any($1::text[])
       and not coalesce(decommissioned, false)
       and site_id is not null and family_id is not null and name is not null
       and model is not null
     order by service_tag
    on conflict (service_tag) do update
       set site_id = excluded.site_id, family_id = excluded.family_id, name = excluded.name,
           model = excluded.model, health = excluded.health,
           connectivity = excluded.connectivity, code_version = excluded.code_version,
           recommended_code_version = excluded.recommended_code_version,
           contract_level = excluded.contract_level,
           contract_ends_on = excluded.contract_ends_on, updated_at = now()
     where (products.site_id, products.family_id, products.name, products.model,
            products.health, products.connectivity, products.code_version,
            products.recommended_code_version, products.contract_level,
            products.contract_ends_on)
           is distinct from
           (excluded.site_id, excluded.family_id, excluded.name, excluded.model,
            excluded.health, excluded.connectivity, excluded.code_version,
            excluded.recommended_code_version, excluded.contract_level,
            excluded.contract_ends_on)
    returning service_tag, xmax = 0 as created
"""

REMOVE_PRODUCTS_SQL = """
    delete from products p
     using sync_products s
     where s.service_tag = any($1::text[]) and s.decommissioned
       and p.service_tag = s.service_tag
    returning p.service_tag
"""

# Requests of the numbers that moved, and of products that appeared (a
# request seen before its product, or a product back from decommissioning).
PROJECT_REQUESTS_SQL = """
    insert into service_requests (organization_id, product_id, number, severity, status, title,
                                  opened_at, closed_at)
    select p.organization_id, p.id, s.number, s.severity, coalesce(s.status, 'OPEN'), s.title,
           coalesce(s.opened_at, s.first_observed_at),
           case when s.status = 'CLOSED' then s.closed_at end
      from sync_service_requests s
      join products p on p.service_tag = s.product_tag
     where (s.number = any($1::text[]) or s.product_tag = any($2::text[]))
       and s.severity is not null and s.title is not null
     order by s.number
    on conflict (number) do update
       set organization_id = excluded.organization_id, product_id = excluded.product_id,
           severity = excluded.severity, status = excluded.status, title = excluded.title,
           opened_at = excluded.opened_at, closed_at = excluded.closed_at
     where (service_requests.product_id, service_requests.severity, service_requests.status,
            service_requests.title, service_requests.opened_at, service_requests.closed_at)
           is distinct from
           (excluded.product_id, excluded.severity, excluded.status, excluded.title,
            excluded.opened_at, excluded.closed_at)
    returning number, xmax = 0 as created
"""

# A request moved to a product that does not exist (yet) leaves the views.
REMOVE_REQUESTS_SQL = """
    delete from service_requests r
     using sync_service_requests s
     where s.number = any($1::text[]) and r.number = s.number
       and not exists (select 1 from products p where p.service_tag = s.product_tag)
    returning r.number
"""


# ------------------------------------------------------------------ applying


async def prepare(conn: asyncpg.Connection) -> None:
    """The staging tables of this session (temporary, emptied at each commit)."""
    await conn.execute(STAGE_SQL)


async def apply_batch(conn: asyncpg.Connection, changes: Sequence[Change]) -> BatchResult:
    """Apply `changes` inside the caller's transaction."""
    result = BatchResult()
    by_kind: dict[str, list[Change]] = {name: [] for name in KINDS}
    for change in changes:
        by_kind[change.kind].append(change)
    appeared: list[str] = []  # products created this batch: their requests follow
    if by_kind["site"]:
        await _apply_kind(conn, SITE, await _resolve_sites(conn, by_kind["site"], result), result)
    if by_kind["product"]:
        kept = await _resolve_products(conn, by_kind["product"], result)
        appeared = await _apply_kind(conn, PRODUCT, kept, result)
    if by_kind["service_request"] or appeared:
        await _apply_kind(conn, SERVICE_REQUEST, by_kind["service_request"], result, appeared)
    return result


async def _apply_kind(
    conn: asyncpg.Connection,
    kind: Kind,
    changes: list[Change],
    result: BatchResult,
    appeared: Sequence[str] = (),
) -> list[str]:
    """Stage, merge, project and classify one kind; return the keys created."""
    keys = sorted({c.key for c in changes})
    moved: list[str] = []
    if changes:
        await conn.execute(ADOPT_SQL[kind.name], keys)
        await conn.copy_records_to_table(
            kind.stage, records=_stage_rows(kind, changes), columns=kind.stage_columns
        )
        rounds = max(_rounds(changes)) + 1
        moved_keys: set[str] = set()
        for round_ in range(rounds):
            moved_keys.update(r[0] for r in await conn.fetch(MERGE_SQL[kind.name], round_))
        moved = sorted(moved_keys)
    created: set[str] = set()
    changed: set[str] = set()
    if moved or appeared:
        for key, was_created in await _project(conn, kind, moved, appeared):
            (created if was_created else changed).add(key)
    if not changes:
        return sorted(created)
    pending: set[int] = set()
    stale: set[int] = set()
    for row in await conn.fetch(LINES_SQL[kind.name]):
        (stale if row["stale"] else pending).add(row["line"])
    decommissioned = {
        c.line for c in changes if kind is PRODUCT and c.values.get("decommissioned") is True
    }
    first_line: dict[str, int] = {}
    for change in sorted(changes, key=lambda c: c.line):
        if change.line in stale:
            outcome = "stale"
        elif change.key in created:
            outcome = "updated" if change.key in first_line else "created"
        elif change.key in changed:
            outcome = "removed" if change.line in decommissioned else "updated"
        elif change.line in pending:
            outcome = "pending"
        else:
            outcome = "unchanged"
        if outcome != "stale":
            first_line.setdefault(change.key, change.line)
        result.outcomes[change.line] = outcome
    return sorted(created)


async def _project(
    conn: asyncpg.Connection, kind: Kind, moved: list[str], appeared: Sequence[str]
) -> list[tuple[str, bool]]:
    """(key, created) for each projected row that was written or removed."""
    rows: list[tuple[str, bool]] = []
    if kind is SITE:
        rows += [(r[0], r[1]) for r in await conn.fetch(PROJECT_SITES_SQL, moved)]
    elif kind is PRODUCT:
        rows += [(r[0], False) for r in await conn.fetch(REMOVE_PRODUCTS_SQL, moved)]
        rows += [(r[0], r[1]) for r in await conn.fetch(PROJECT_PRODUCTS_SQL, moved)]
    else:
        rows += [(r[0], False) for r in await conn.fetch(REMOVE_REQUESTS_SQL, moved)]
        rows += [
            (r[0], r[1]) for r in await conn.fetch(PROJECT_REQUESTS_SQL, moved, list(appeared))
        ]
    return rows


def _rounds(changes: Sequence[Change]) -> list[int]:
    """Per change: how many earlier changes of the batch have its key."""
    seen: dict[str, int] = {}
    rounds = []
    for change in changes:
        rounds.append(seen.get(change.key, 0))
        seen[change.key] = rounds[-1] + 1
    return rounds


def _stage_rows(kind: Kind, changes: Sequence[Change]) -> Iterable[tuple[Any, ...]]:
    layout = [(f.name, kind.bit(f.name), len(f.columns)) for f in kind.fields]
    for change, round_ in zip(changes, _rounds(changes), strict=True):
        given = 0
        row: list[Any] = [change.line, round_, change.key, change.observed_at, 0]
        values = change.values
        for name, bit, width in layout:
            if name in values:
                given |= bit
                if width == 1:
                    row.append(values[name])
                else:
                    row.extend(values[name])
            else:
                row.extend((None,) * width)
        row[4] = given
        yield tuple(row)


# ------------------------------------------------------ references, in SQL


async def _resolve_sites(
    conn: asyncpg.Connection, changes: list[Change], result: BatchResult
) -> list[Change]:
    """Organization references to ids; a site never changes organization."""
    refs = sorted({c.values["organization"] for c in changes if "organization" in c.values})
    orgs = {
        r["reference"]: r["id"]
        for r in await conn.fetch(
            "select reference, id from organizations where reference = any($1::text[])", refs
        )
    }
    current = {
        r["reference"]: r["organization_id"]
        for r in await conn.fetch(
            "select reference, organization_id from sites where reference = any($1::text[]) "
            "union all "
            "select reference, organization_id from sync_sites "
            " where reference = any($1::text[]) and organization_id is not null",
            sorted({c.key for c in changes}),
        )
    }
    for change in sorted(changes, key=lambda c: (c.observed_at, c.line)):
        if change.values.get("organization") in orgs:
            current.setdefault(change.key, orgs[change.values["organization"]])
    kept = []
    for change in changes:
        if "organization" in change.values:
            ref = change.values["organization"]
            if ref not in orgs:
                result.rejects[change.line] = f"unknown organization {ref!r}"
                continue
            if current.get(change.key, orgs[ref]) != orgs[ref]:
                result.rejects[change.line] = f"site {change.key!r} belongs to another organization"
                continue
            change = replace(change, values={**change.values, "organization": orgs[ref]})
        kept.append(change)
    return kept


async def _resolve_products(
    conn: asyncpg.Connection, changes: list[Change], result: BatchResult
) -> list[Change]:
    """Site references to (organization, site) ids, family names to ids; a
    product never moves to another organization (its requests and group
    memberships are the tenant's)."""
    refs = sorted({c.values["site"] for c in changes if "site" in c.values})
    sites = {
        r["reference"]: (r["organization_id"], r["id"])
        for r in await conn.fetch(
            "select reference, organization_id, id from sites where reference = any($1::text[])",
            refs,
        )
    }
    families = {
        r["name"]: r["id"] for r in await conn.fetch("select id, name from product_families")
    }
    tags = sorted({c.key for c in changes if "site" in c.values})
    current = {
        r["service_tag"]: r["organization_id"]
        for r in await conn.fetch(
            "select service_tag, organization_id from sync_products "
            " where service_tag = any($1::text[]) and organization_id is not null "
            "union all "
            "select service_tag, organization_id from products where service_tag = any($1::text[])",
            tags,
        )
    }
    # A new product belongs to the organization of its oldest change in the
    # batch; a change placing it elsewhere is rejected like any move.
    for change in sorted(changes, key=lambda c: (c.observed_at, c.line)):
        site = sites.get(change.values.get("site", ""))
        if site is not None:
            current.setdefault(change.key, site[0])
    kept = []
    for change in changes:
        values = dict(change.values)
        if "site" in values:
            site = sites.get(values["site"])
            if site is None:
                result.rejects[change.line] = f"unknown site {values['site']!r}"
                continue
            if current.get(change.key, site[0]) != site[0]:
                result.rejects[change.line] = (
                    f"site {values['site']!r} belongs to another organization than "
                    f"product {change.key}"
                )
                continue
            values["site"] = site
        if "family" in values:
            family = families.get(values["family"])
            if family is None:
                result.rejects[change.line] = f"unknown product family {values['family']!r}"
                continue
            values["family"] = family
        kept.append(replace(change, values=values))
    return kept
