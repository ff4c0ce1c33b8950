"""The fleet schema stays distributable by tenant (Citus; docs/scaling.md).

Read from the catalog of the migrated database, so a new table or key that
breaks co-location fails here rather than on the day of distribution.
"""

from __future__ import annotations

import asyncpg

# Distributed by organization_id: where the data grows.
FLEET_TABLES = {
    "sites",
    "products",
    "service_requests",
    "user_sites",
    "custom_groups",
    "custom_group_products",
    "custom_group_families",
    "custom_group_sites",
    "fleet_cells",
    "fleet_site_totals",
    "fleet_family_totals",
    "fleet_rollup_dates",
    "product_open_requests",
    "fleet_versions",
    "summary_cache",
    "fleet_changes",
}
# Copied to every node: small lists that fleet rows point at.
REFERENCE_TABLES = {"product_families", "organizations", "organization_domains"}
# Foreign keys from fleet tables to coordinator tables (accounts): Citus does
# not keep these; docs/scaling.md says they are dropped at distribution and
# what the application does instead.
DROPPED_AT_DISTRIBUTION = {
    ("user_sites", "users"),
    ("custom_groups", "users"),
}
# Unique on a natural key without organization_id: global on one node,
# per tenant once distributed (docs/scaling.md).
GLOBAL_NATURAL_KEYS = {
    ("products", "service_tag"),
    ("service_requests", "number"),
    ("sites", "reference"),
}

KEYS_SQL = """
select c.conrelid::regclass::text as tbl, c.contype::text as contype,
       c.confrelid::regclass::text as target,
       array(select a.attname from unnest(c.conkey) with ordinality k(n, i)
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n
              order by k.i)::text[] as columns,
       array(select a.attname from unnest(c.confkey) with ordinality k(n, i)
               join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n
              order by k.i)::text[] as target_columns
  from pg_constraint c
 where c.connamespace = 'public'::regnamespace and c.contype in ('p', 'f', 'u')
"""
UNIQUE_INDEXES_SQL = """
select i.indrelid::regclass::text as tbl,
       array(select a.attname from unnest(i.indkey) k(n)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n)::text[]
           as columns
  from pg_index i
  join pg_class t on t.oid = i.indrelid
 where i.indisunique and t.relnamespace = 'public'::regnamespace
"""


async def test_every_fleet_table_has_organization_id_in_its_primary_key(
    db: asyncpg.Connection,
) -> None:
    keys = await db.fetch(KEYS_SQL)
    primary = {r["tbl"]: r["columns"] for r in keys if r["contype"] == "p"}
    broken = {
        t: primary.get(t) for t in FLEET_TABLES if "organization_id" not in primary.get(t, [])
    }
    assert broken == {}


async def test_foreign_keys_between_fleet_tables_carry_organization_id_on_both_sides(
    db: asyncpg.Connection,
) -> None:
    broken = []
    for fk in await db.fetch(KEYS_SQL):
        if fk["contype"] != "f" or fk["tbl"] not in FLEET_TABLES:
            continue
        target = fk["target"]
        if target in FLEET_TABLES:
            pairs = list(zip(fk["columns"], fk["target_columns"], strict=True))
            if ("organization_id", "organization_id") not in pairs:
                broken.append((fk["tbl"], target, fk["columns"]))
        elif target not in REFERENCE_TABLES and (fk["tbl"], target) not in DROPPED_AT_DISTRIBUTION:
            broken.append((fk["tbl"], target, "points at a coordinator table"))
    assert broken == []


async def test_unique_keys_of_fleet_tables_include_organization_id_or_are_documented(
    db: asyncpg.Connection,
) -> None:
    broken = []
    for index in await db.fetch(UNIQUE_INDEXES_SQL):
        table, columns = index["tbl"], index["columns"]
        if table not in FLEET_TABLES or "organization_id" in columns:
            continue
        if len(columns) == 1 and (table, columns[0]) in GLOBAL_NATURAL_KEYS:
            continue
        broken.append((table, columns))
    assert broken == []


async def test_every_table_is_classified_as_fleet_reference_or_coordinator(
    db: asyncpg.Connection,
) -> None:
    coordinator = {
        "schema_migrations",
        "users",
        "one_time_codes",
        "sessions",
        "onboarding_requests",
        "mail_outbox",
        "throttle_hits",
        "code_sends",
        "sign_in_failures",
        "persisted_queries",
        # The install-base feed's own record, keyed by the vendor's keys: a
        # change may arrive before its tenant is known (docs/scaling.md).
        "sync_sites",
        "sync_products",
        "sync_service_requests",
    }
    tables = {
        r["relname"]
        for r in await db.fetch(
            "select relname from pg_class where relkind in ('r', 'p') "
            "and relnamespace = 'public'::regnamespace"
        )
    }
    # A new table must be placed here (and, if fleet, keyed by organization_id).
    assert tables - FLEET_TABLES - REFERENCE_TABLES - coordinator == set()
