"""The bench data set: one large tenant among 1,000 small ones, loaded with COPY.

BENCH_SCALE gives the large tenant's product count (S = 10,000, M = 100,000,
L = 1,000,000) over 2,000 sites and the 12 families of the catalogue. Around it,
1,000 small tenants (2 sites, 20 products each) make tenant filtering part of
every query's cost. Service requests hang off about 12 % of the products.

Accounts (password `BENCH_PASSWORD`):
- `bench-admin@bench.example`: ADMIN, ALL_SITES, owner of the 50 custom groups;
- `bench-member@bench.example`: MEMBER, SELECTED_SITES (100 of the sites);
- `signin-NNN@bench.example`: members that the sign-in storm signs in.

The 50 custom groups mix the three kinds of rules: listed products only,
families only, sites only, families and sites, and all three.

Everything is drawn from one `random.Random(seed)`, so a scale and a seed give
the same rows (dates are relative to the day of loading). Bulk draws use
`choices(k=n)` so that a million products take seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from db.bulk import copy_products, copy_service_requests
from db.migrate import load_migrations

GENERATOR_VERSION = 1
# XS is for the smoke test (tests/test_bench.py), not a bench scale.
SCALES = {"XS": 1_000, "S": 10_000, "M": 100_000, "L": 1_000_000}
SITE_COUNT = 2_000
SMALL_TENANTS = 1_000
SMALL_TENANT_SITES = 2
SMALL_TENANT_PRODUCTS = 20
GROUP_COUNT = 50
MEMBER_SITE_COUNT = 100
SIGNIN_USERS = 64
BENCH_PASSWORD = "bench-password-360"  # noqa: S105 - documented bench-only password
ADMIN_EMAIL = "bench-admin@bench.example"
MEMBER_EMAIL = "bench-member@bench.example"

HEALTH = ("GOOD", "WARNING", "CRITICAL", "UNKNOWN")
HEALTH_WEIGHTS = (70, 15, 7, 8)
CONNECTIVITY = ("CONNECTED", "DISCONNECTED", "NOT_CONFIGURED")
CONNECTIVITY_WEIGHTS = (75, 15, 10)
SEVERITY = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
SEVERITY_WEIGHTS = (10, 25, 40, 25)
OPEN_STATUSES = ("OPEN", "IN_PROGRESS", "WAITING_ON_CUSTOMER")
CONTRACT_LEVELS = ("ProSupport Plus", "ProSupport", "Basic Hardware", "ProSupport Mission Critical")
CODE_CURRENT = "9.4.1"
CODE_OLDER = ("9.2.0", "9.3.2", "8.7.5")
CITIES = (
    ("Austin", "US"),
    ("Chicago", "US"),
    ("Paris", "FR"),
    ("Lyon", "FR"),
    ("Frankfurt", "DE"),
    ("Tokyo", "JP"),
    ("Dublin", "IE"),
    ("Singapore", "SG"),
    ("São Paulo", "BR"),
    ("Sydney", "AU"),
)
SR_TITLES = (
    "Predictive drive failure",
    "Power supply redundancy lost",
    "Firmware upgrade assistance",
    "Fan module fault",
    "Controller reboot",
    "Performance degradation",
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Dataset:
    scale: str
    seed: int
    products: int
    organization_id: int
    admin_id: int
    member_id: int
    group_ids: tuple[int, ...]
    family_ids: tuple[int, ...]
    signin_emails: tuple[str, ...]


def fingerprint(scale: str, seed: int) -> str:
    """Changes whenever the rows would: scale, seed, generator or migrations."""
    digest = hashlib.sha256(f"{scale}:{seed}:{GENERATOR_VERSION}".encode())
    for migration in load_migrations():
        digest.update(f"{migration.version}:{migration.checksum}".encode())
    return digest.hexdigest()[:32]


async def stored_dataset(conn: asyncpg.Connection, scale: str, seed: int) -> Dataset | None:
    """The dataset already loaded in this database, if it matches scale and seed."""
    if not await conn.fetchval("select to_regclass('bench_dataset') is not null"):
        return None
    row = await conn.fetchrow(
        "select * from bench_dataset where fingerprint = $1", fingerprint(scale, seed)
    )
    if row is None:
        return None
    return Dataset(
        scale=row["scale"],
        seed=row["seed"],
        products=row["products"],
        organization_id=row["organization_id"],
        admin_id=row["admin_id"],
        member_id=row["member_id"],
        group_ids=tuple(row["group_ids"]),
        family_ids=tuple(row["family_ids"]),
        signin_emails=tuple(row["signin_emails"]),
    )


class _Timer:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.started = time.perf_counter()

    def step(self, what: str) -> None:
        self.progress(f"  {time.perf_counter() - self.started:6.1f}s  {what}")


def _weighted(rng: random.Random, values: Sequence[str], weights: Sequence[int], n: int) -> list:
    return rng.choices(values, weights, k=n)


def _contract_ends(rng: random.Random, today: dt.date, n: int) -> list[dt.date | None]:
    ends: list[dt.date | None] = []
    for bucket in (rng.random() for _ in range(n)):
        if bucket < 0.08:
            ends.append(None)
        elif bucket < 0.20:
            ends.append(today - dt.timedelta(days=rng.randint(1, 700)))  # expired
        elif bucket < 0.30:
            ends.append(today + dt.timedelta(days=rng.randint(0, 30)))
        elif bucket < 0.42:
            ends.append(today + dt.timedelta(days=rng.randint(31, 90)))
        else:
            ends.append(today + dt.timedelta(days=rng.randint(91, 1500)))
    return ends


def _product_rows(
    rng: random.Random,
    today: dt.date,
    organization_id: int,
    site_ids: Sequence[int],
    site_weights: Sequence[float] | None,
    families: Sequence[tuple[int, str]],
    tag_prefix: str,
    n: int,
) -> list[tuple[object, ...]]:
    sites = rng.choices(site_ids, site_weights, k=n)
    family_picks = rng.choices(families, k=n)
    health = _weighted(rng, HEALTH, HEALTH_WEIGHTS, n)
    connectivity = _weighted(rng, CONNECTIVITY, CONNECTIVITY_WEIGHTS, n)
    code_rolls = [rng.random() for _ in range(n)]
    levels = rng.choices(CONTRACT_LEVELS, k=n)
    ends = _contract_ends(rng, today, n)
    rows: list[tuple[object, ...]] = []
    for i in range(n):
        family_id, family_name = family_picks[i]
        roll = code_rolls[i]
        recommended = None if roll < 0.05 else CODE_CURRENT
        version = (
            None
            if roll < 0.10
            else CODE_CURRENT
            if roll < 0.65
            else CODE_OLDER[int(roll * 1000) % 3]
        )
        model = f"{family_name[:2].upper()}{100 + int(roll * 900)}"
        rows.append(
            (
                organization_id,
                sites[i],
                family_id,
                f"{tag_prefix}{i:07d}",
                f"{family_name} {model} #{i + 1}",
                model,
                health[i],
                connectivity[i],
                version,
                recommended,
                levels[i],
                ends[i],
            )
        )
    return rows


async def generate(
    conn: asyncpg.Connection, scale: str, seed: int, password_hash: str, progress: Progress
) -> Dataset:
    """Load the whole dataset into a migrated, empty database (one transaction)."""
    product_count = SCALES[scale]
    rng = random.Random(seed)
    today = dt.date.today()
    timer = _Timer(progress)
    async with conn.transaction():
        families = [
            (r["id"], r["name"])
            for r in await conn.fetch("select id, name from product_families order by id")
        ]

        # Organizations: the bench tenant first, then the small ones.
        organizations = [("Bench Corporation", "COMPANY", "US")] + [
            (f"Tenant {t:04d}", "COMPANY", CITIES[t % len(CITIES)][1]) for t in range(SMALL_TENANTS)
        ]
        await conn.copy_records_to_table(
            "organizations", records=organizations, columns=("name", "kind", "country")
        )
        org_ids = [r["id"] for r in await conn.fetch("select id from organizations order by id")]
        bench_org = org_ids[0]
        domains = [("bench.example", bench_org)] + [
            (f"tenant{t:04d}.bench-tenants.example", org_ids[t + 1]) for t in range(SMALL_TENANTS)
        ]
        # asyncpg has no binary COPY encoder for citext: unnest text arrays instead.
        await conn.execute(
            "insert into organization_domains (domain, organization_id) "
            "select * from unnest($1::text[], $2::bigint[])",
            [d[0] for d in domains],
            [d[1] for d in domains],
        )
        timer.step(f"{len(organizations)} organizations")

        site_rows = []
        for i in range(SITE_COUNT):
            city, country = CITIES[i % len(CITIES)]
            site_rows.append((bench_org, f"Site {i:04d} {city}", city, country))
        for t in range(SMALL_TENANTS):
            for s in range(SMALL_TENANT_SITES):
                city, country = CITIES[(t + s) % len(CITIES)]
                site_rows.append((org_ids[t + 1], f"Tenant site {s}", city, country))
        await conn.copy_records_to_table(
            "sites", records=site_rows, columns=("organization_id", "name", "city", "country")
        )
        all_sites = await conn.fetch("select id, organization_id from sites order by id")
        bench_sites = [r["id"] for r in all_sites if r["organization_id"] == bench_org]
        tenant_sites: dict[int, list[int]] = {}
        for r in all_sites:
            if r["organization_id"] != bench_org:
                tenant_sites.setdefault(r["organization_id"], []).append(r["id"])
        timer.step(f"{len(site_rows)} sites")

        # Site sizes follow a long tail (a few data centres, many small rooms).
        site_weights = [1.0 / (1 + (i % 400)) ** 0.8 for i in range(SITE_COUNT)]
        chunk = 100_000
        for start in range(0, product_count, chunk):
            n = min(chunk, product_count - start)
            rows = _product_rows(rng, today, bench_org, bench_sites, site_weights, families, "B", n)
            # Tags are unique over the whole run, not only the chunk.
            rows = [(*r[:3], f"B{start + i:08d}", *r[4:]) for i, r in enumerate(rows)]
            await copy_products(conn, rows)
            timer.step(f"{start + n:,} / {product_count:,} bench tenant products")
        small_rows: list[tuple[object, ...]] = []
        for t in range(SMALL_TENANTS):
            org_id = org_ids[t + 1]
            small_rows.extend(
                _product_rows(
                    rng,
                    today,
                    org_id,
                    tenant_sites[org_id],
                    None,
                    families,
                    f"T{t:04d}-",
                    SMALL_TENANT_PRODUCTS,
                )
            )
        await copy_products(conn, small_rows)
        timer.step(f"{len(small_rows):,} small tenant products")

        product_rows = await conn.fetch("select id, organization_id from products order by id")
        await _load_service_requests(conn, rng, product_rows)
        timer.step("service requests")

        bench_products = [r["id"] for r in product_rows if r["organization_id"] == bench_org]
        admin_id, member_id, signin_emails = await _load_users(
            conn, rng, bench_org, bench_sites, password_hash
        )
        group_ids = await _load_groups(
            conn, rng, bench_org, admin_id, bench_products, bench_sites, families
        )
        timer.step(f"users and {len(group_ids)} custom groups")

        await conn.execute(
            """
            create table bench_dataset (
                fingerprint text primary key, scale text not null, seed bigint not null,
                products integer not null, organization_id bigint not null,
                admin_id bigint not null, member_id bigint not null,
                group_ids bigint[] not null, family_ids bigint[] not null,
                signin_emails text[] not null, loaded_at timestamptz not null default now())
            """
        )
        dataset = Dataset(
            scale=scale,
            seed=seed,
            products=product_count,
            organization_id=bench_org,
            admin_id=admin_id,
            member_id=member_id,
            group_ids=tuple(group_ids),
            family_ids=tuple(f[0] for f in families),
            signin_emails=tuple(signin_emails),
        )
        await conn.execute(
            "insert into bench_dataset (fingerprint, scale, seed, products, organization_id, "
            "admin_id, member_id, group_ids, family_ids, signin_emails) "
            "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            fingerprint(scale, seed),
            scale,
            seed,
            product_count,
            bench_org,
            admin_id,
            member_id,
            list(dataset.group_ids),
            list(dataset.family_ids),
            list(dataset.signin_emails),
        )
    await conn.execute("vacuum analyze")
    timer.step("vacuum analyze")
    return dataset


async def _load_service_requests(
    conn: asyncpg.Connection, rng: random.Random, products: Sequence[asyncpg.Record]
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows: list[tuple[object, ...]] = []
    for product in products:
        if rng.random() >= 0.12:
            continue
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            opened = now - dt.timedelta(hours=rng.randint(1, 24 * 120))
            closed = rng.random() < 0.4
            rows.append(
                (
                    product["organization_id"],
                    product["id"],
                    f"SR{len(rows) + 1:09d}",
                    rng.choices(SEVERITY, SEVERITY_WEIGHTS)[0],
                    "CLOSED" if closed else rng.choice(OPEN_STATUSES),
                    rng.choice(SR_TITLES),
                    opened,
                    opened + dt.timedelta(hours=rng.randint(1, 72)) if closed else None,
                )
            )
    await copy_service_requests(conn, rows)


async def _load_users(
    conn: asyncpg.Connection,
    rng: random.Random,
    org_id: int,
    site_ids: Sequence[int],
    password_hash: str,
) -> tuple[int, int, list[str]]:
    signin_emails = [f"signin-{n:03d}@bench.example" for n in range(SIGNIN_USERS)]
    users = [
        (ADMIN_EMAIL, "Bench", "Admin", "ADMIN", "ALL_SITES"),
        (MEMBER_EMAIL, "Bench", "Member", "MEMBER", "SELECTED_SITES"),
    ] + [(email, "Sign", f"In {n}", "MEMBER", "ALL_SITES") for n, email in enumerate(signin_emails)]
    await conn.execute(
        """
        insert into users (email, password_hash, first_name, last_name, country, step,
                           access_type, organization_id, role, site_scope, verified_at)
        select u.email, $2, u.first_name, u.last_name, 'US', 'COMPLETE', 'CUSTOMER_EMPLOYEE',
               $3, u.role, u.site_scope, now()
          from unnest($1::text[], $4::text[], $5::text[], $6::text[], $7::text[])
               as u(email, first_name, last_name, role, site_scope)
        """,
        [u[0] for u in users],
        password_hash,
        org_id,
        [u[1] for u in users],
        [u[2] for u in users],
        [u[3] for u in users],
        [u[4] for u in users],
    )
    ids = {
        r["email"]: r["id"]
        for r in await conn.fetch(
            "select id, email::text from users where organization_id = $1", org_id
        )
    }
    member_sites = sorted(rng.sample(list(site_ids), MEMBER_SITE_COUNT))
    await conn.copy_records_to_table(
        "user_sites",
        records=[(org_id, ids[MEMBER_EMAIL], s) for s in member_sites],
        columns=("organization_id", "user_id", "site_id"),
    )
    return ids[ADMIN_EMAIL], ids[MEMBER_EMAIL], signin_emails


async def _load_groups(
    conn: asyncpg.Connection,
    rng: random.Random,
    org_id: int,
    owner_id: int,
    product_ids: Sequence[int],
    site_ids: Sequence[int],
    families: Sequence[tuple[int, str]],
) -> list[int]:
    """50 groups cycling through the five kinds of rules."""
    family_ids = [f[0] for f in families]
    listed_size = max(20, len(product_ids) // 200)
    await conn.copy_records_to_table(
        "custom_groups",
        records=[
            (org_id, owner_id, f"Group {g:02d}", f"Bench group {g} ({_KINDS[g % 5]})")
            for g in range(GROUP_COUNT)
        ],
        columns=("organization_id", "owner_id", "name", "description"),
    )
    group_ids = [
        r["id"]
        for r in await conn.fetch(
            "select id from custom_groups where owner_id = $1 order by id", owner_id
        )
    ]
    listed: list[tuple[int, int, int]] = []
    by_family: list[tuple[int, int, int]] = []
    by_site: list[tuple[int, int, int]] = []
    for g, group_id in enumerate(group_ids):
        kind = _KINDS[g % 5]
        if kind in ("listed", "all"):
            size = listed_size if kind == "listed" else listed_size // 4
            listed.extend((org_id, group_id, p) for p in rng.sample(list(product_ids), size))
        if kind in ("families", "families+sites", "all"):
            count = {"families": rng.randint(1, 2), "families+sites": rng.randint(1, 3)}.get(
                kind, 1
            )
            by_family.extend((org_id, group_id, f) for f in rng.sample(family_ids, count))
        if kind in ("sites", "families+sites", "all"):
            count = {"sites": rng.randint(10, 60), "families+sites": rng.randint(20, 100)}.get(
                kind, 10
            )
            by_site.extend((org_id, group_id, s) for s in rng.sample(list(site_ids), count))
    columns = ("organization_id", "group_id")
    await conn.copy_records_to_table(
        "custom_group_products", records=listed, columns=(*columns, "product_id")
    )
    await conn.copy_records_to_table(
        "custom_group_families", records=by_family, columns=(*columns, "family_id")
    )
    await conn.copy_records_to_table(
        "custom_group_sites", records=by_site, columns=(*columns, "site_id")
    )
    return group_ids


_KINDS = ("listed", "families", "sites", "families+sites", "all")
