"""Demo data (DESIGN §7): organizations, sites, products, service requests, accounts.

Loaded once (skipped when acme.example is already registered), in one
transaction, with COPY for the bulk rows. Deterministic: the same seed gives
the same fleet.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import asyncpg

from db.bulk import copy_products, copy_service_requests
from security.passwords import hash_password_sync

DEMO_PASSWORD = "service360-demo"  # noqa: S105 - documented demo password
HEALTH = (("GOOD", 70), ("WARNING", 15), ("CRITICAL", 7), ("UNKNOWN", 8))
CONNECTIVITY = (("CONNECTED", 75), ("DISCONNECTED", 15), ("NOT_CONFIGURED", 10))
SEVERITY = (("CRITICAL", 10), ("HIGH", 25), ("MEDIUM", 40), ("LOW", 25))
CONTRACT_LEVELS = ("ProSupport Plus", "ProSupport", "Basic Hardware", "ProSupport Mission Critical")
FAMILY_MODELS = {
    "PowerEdge": ("R760", "R660", "R750xs", "T550", "MX760c"),
    "PowerStore": ("500T", "1200T", "3200T", "5200T"),
    "PowerMax": ("2500", "8500"),
    "PowerScale": ("F710", "F910", "H7000", "A3000"),
    "PowerVault": ("ME5012", "ME5024", "ME5084"),
    "PowerProtect": ("DD6400", "DD9410", "DP4400"),
    "PowerSwitch": ("S5248F-ON", "Z9432F-ON", "N3248TE-ON"),
    "VxRail": ("E660", "P670F", "V670F"),
    "Unity XT": ("380F", "480F", "680F"),
    "PowerFlex": ("R660 node", "R760 node"),
    "Data Domain": ("DD3300", "DD6900"),
    "XtremIO": ("X2-S", "X2-R"),
}
CODE_VERSIONS = {"current": "9.4.1", "older": ("9.2.0", "9.3.2", "8.7.5")}


@dataclass(frozen=True)
class DemoOrganization:
    key: str
    name: str
    division: str | None
    kind: str
    country: str
    city: str
    time_zone: str
    domain: str
    tag_prefix: str
    product_count: int
    sites: tuple[tuple[str, str, str], ...]  # (name, city, country)


ORGANIZATIONS = (
    DemoOrganization(
        "acme",
        "Acme Corporation",
        None,
        "COMPANY",
        "US",
        "Round Rock",
        "America/Chicago",
        "acme.example",
        "AC",
        3000,
        (
            ("Austin Data Center", "Austin", "US"),
            ("Round Rock Campus", "Round Rock", "US"),
            ("Paris La Défense", "Paris", "FR"),
            ("Frankfurt Colocation", "Frankfurt", "DE"),
            ("Tokyo Office", "Tokyo", "JP"),
            ("São Paulo Branch", "São Paulo", "BR"),
            ("Dublin Operations", "Dublin", "IE"),
            ("Singapore Hub", "Singapore", "SG"),
        ),
    ),
    DemoOrganization(
        "globex-research",
        "Globex",
        "Research",
        "COMPANY",
        "US",
        "Cambridge",
        "America/New_York",
        "globex.example",
        "GR",
        1500,
        (
            ("Cambridge Lab", "Cambridge", "US"),
            ("Zurich Lab", "Zurich", "CH"),
            ("Bangalore R&D", "Bengaluru", "IN"),
        ),
    ),
    DemoOrganization(
        "globex-manufacturing",
        "Globex",
        "Manufacturing",
        "COMPANY",
        "DE",
        "Stuttgart",
        "Europe/Berlin",
        "globex.example",
        "GM",
        1500,
        (
            ("Stuttgart Plant", "Stuttgart", "DE"),
            ("Monterrey Plant", "Monterrey", "MX"),
            ("Lyon Plant", "Lyon", "FR"),
        ),
    ),
    DemoOrganization(
        "globex-federal",
        "Globex",
        "Federal Systems",
        "COMPANY",
        "US",
        "Arlington",
        "America/New_York",
        "globex.example",
        "GF",
        1200,
        (
            ("Arlington Secure Facility", "Arlington", "US"),
            ("Huntsville Center", "Huntsville", "US"),
        ),
    ),
    DemoOrganization(
        "columbia-transport",
        "Columbia State Department of Transportation",
        None,
        "GOVERNMENT",
        "US",
        "Columbia",
        "America/New_York",
        "columbia-state.example",
        "CT",
        1000,
        (("Columbia HQ", "Columbia", "US"), ("North District Office", "Greenville", "US")),
    ),
    DemoOrganization(
        "columbia-health",
        "Columbia State Health Agency",
        None,
        "GOVERNMENT",
        "US",
        "Columbia",
        "America/New_York",
        "columbia-state.example",
        "CH",
        1000,
        (
            ("Health Agency Data Center", "Columbia", "US"),
            ("Charleston Clinic Hub", "Charleston", "US"),
        ),
    ),
)


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


def _contract_end(rng: random.Random, today: dt.date) -> dt.date | None:
    bucket = rng.random()
    if bucket < 0.08:
        return None
    if bucket < 0.20:
        return today - dt.timedelta(days=rng.randint(1, 700))  # expired
    if bucket < 0.30:
        return today + dt.timedelta(days=rng.randint(0, 30))
    if bucket < 0.42:
        return today + dt.timedelta(days=rng.randint(31, 90))
    return today + dt.timedelta(days=rng.randint(91, 1500))


async def load_demo_data(conn: asyncpg.Connection, seed: int = 360) -> bool:
    """Load the demo data unless it is there already; True when loaded now."""
    async with conn.transaction():
        # Serialise concurrent `seed-demo` runs.
        await conn.execute("select pg_advisory_xact_lock(360360002)")
        if await conn.fetchval("select 1 from organization_domains where domain = 'acme.example'"):
            return False
        rng = random.Random(seed)
        families = await conn.fetch("select id, name from product_families order by id")
        org_ids: dict[str, int] = {}
        site_ids: dict[str, list[int]] = {}
        for org in ORGANIZATIONS:
            org_id = await conn.fetchval(
                "insert into organizations (name, division, kind, country, city, time_zone) "
                "values ($1, $2, $3, $4, $5, $6) returning id",
                org.name,
                org.division,
                org.kind,
                org.country,
                org.city,
                org.time_zone,
            )
            org_ids[org.key] = org_id
            await conn.execute(
                "insert into organization_domains (domain, organization_id) values ($1, $2)",
                org.domain,
                org_id,
            )
            rows = await conn.fetch(
                "insert into sites (organization_id, name, city, country) "
                "select $1, s.name, s.city, s.country "
                "from unnest($2::text[], $3::text[], $4::text[]) as s(name, city, country) "
                "returning id",
                org_id,
                [s[0] for s in org.sites],
                [s[1] for s in org.sites],
                [s[2] for s in org.sites],
            )
            site_ids[org.key] = [r["id"] for r in rows]
            # Contract buckets count from the organization's today (db/summary.py), so
            # the end dates do too: the README's numbers hold at any hour of the day.
            today: dt.date = await conn.fetchval(
                "select (now() at time zone time_zone)::date from organizations where id = $1",
                org_id,
            )
            products = []
            for n in range(org.product_count):
                family = families[n % len(families)] if n < len(families) else rng.choice(families)
                model = rng.choice(FAMILY_MODELS.get(family["name"], ("Generic",)))
                code_roll = rng.random()
                recommended = None if code_roll < 0.05 else CODE_VERSIONS["current"]
                version = (
                    None
                    if code_roll < 0.10
                    else CODE_VERSIONS["current"]
                    if code_roll < 0.65
                    else rng.choice(CODE_VERSIONS["older"])
                )
                products.append(
                    (
                        org_id,
                        rng.choice(site_ids[org.key]),
                        family["id"],
                        f"{org.tag_prefix}{n + 1:06d}",
                        f"{family['name']} {model} #{n + 1}",
                        model,
                        _pick(rng, HEALTH),
                        _pick(rng, CONNECTIVITY),
                        version,
                        recommended,
                        rng.choice(CONTRACT_LEVELS),
                        _contract_end(rng, today),
                    )
                )
            await copy_products(conn, products)
        await _load_service_requests(conn, rng)
        await _load_accounts(conn, org_ids, site_ids)
        await conn.execute("analyze")
    return True


async def _load_service_requests(conn: asyncpg.Connection, rng: random.Random) -> None:
    products = await conn.fetch("select id, organization_id from products order by id")
    now = dt.datetime.now(dt.UTC)
    requests: list[tuple[object, ...]] = []
    for product in products:
        if rng.random() >= 0.12:
            continue
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            opened = now - dt.timedelta(hours=rng.randint(1, 24 * 120))
            closed = rng.random() < 0.4
            requests.append(
                (
                    product["organization_id"],
                    product["id"],
                    f"SR{len(requests) + 100_000_001}",
                    _pick(rng, SEVERITY),
                    "CLOSED"
                    if closed
                    else rng.choice(("OPEN", "IN_PROGRESS", "WAITING_ON_CUSTOMER")),
                    rng.choice(
                        (
                            "Predictive drive failure",
                            "Power supply redundancy lost",
                            "Firmware upgrade assistance",
                            "Fan module fault",
                            "Controller reboot",
                            "Performance degradation",
                            "Memory correctable errors",
                        )
                    ),
                    opened,
                    opened + dt.timedelta(hours=rng.randint(1, 72)) if closed else None,
                )
            )
    await copy_service_requests(conn, requests)


async def _load_accounts(
    conn: asyncpg.Connection, org_ids: dict[str, int], site_ids: dict[str, list[int]]
) -> None:
    password_hash = hash_password_sync(DEMO_PASSWORD)
    acme = org_ids["acme"]
    accounts = (
        ("admin@acme.example", "Ada", "Admin", "IT Director", acme, "ADMIN", "ALL_SITES", False),
        (
            "viewer@acme.example",
            "Victor",
            "Viewer",
            "Site Engineer",
            acme,
            "MEMBER",
            "SELECTED_SITES",
            False,
        ),
        ("staff@service360.example", "Sam", "Staff", "Onboarding", None, None, "ALL_SITES", True),
    )
    for email, first, last, title, org_id, role, scope, staff in accounts:
        user_id = await conn.fetchval(
            """
            insert into users (email, password_hash, first_name, last_name, job_title, country,
                               step, access_type, organization_id, role, site_scope, is_staff,
                               verified_at)
            values ($1, $2, $3, $4, $5, 'US', 'COMPLETE', $6, $7, $8, $9, $10, now())
            returning id
            """,
            email,
            password_hash,
            first,
            last,
            title,
            None if staff else "CUSTOMER_EMPLOYEE",
            org_id,
            role,
            scope,
            staff,
        )
        if scope == "SELECTED_SITES":
            await conn.execute(
                "insert into user_sites (organization_id, user_id, site_id) "
                "select $1, $2, unnest($3::bigint[])",
                org_id,
                user_id,
                site_ids["acme"][:2],
            )
