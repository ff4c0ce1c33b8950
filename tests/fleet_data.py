"""Fleet fixtures written straight in SQL: organizations, sites, products, users, sessions.

Sessions are made the way the server checks them (sha256 of a random token),
so tests sign in with `client.execute(..., token=user.token)`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import httpx

from config import Settings
from resolvers.ids import encode_id
from tests.support.app import GraphQLClient, running_app

HEALTH = ("GOOD", "WARNING", "CRITICAL", "UNKNOWN")
CONNECTIVITY = ("CONNECTED", "DISCONNECTED", "NOT_CONFIGURED")
SEVERITY = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


async def _next_number(db: asyncpg.Connection, table: str) -> int:
    # Numbers names and service tags from the test's own database, not from a
    # process-wide counter: a test makes the same data alone or after any others.
    number: int = await db.fetchval(f"select coalesce(max(id), 0) + 1 from {table}")
    return number


@dataclass
class FleetUser:
    pk: int
    email: str
    token: str
    organization_id: int | None

    @property
    def id(self) -> str:
        return encode_id("User", self.pk)


@dataclass
class Tenant:
    organization_id: int
    site_ids: list[int] = field(default_factory=list)
    product_ids: list[int] = field(default_factory=list)

    def site_gid(self, index: int) -> str:
        return encode_id("Site", self.site_ids[index])

    def product_gid(self, index: int) -> str:
        return encode_id("Product", self.product_ids[index])


def family_gid(family_pk: int) -> str:
    return encode_id("ProductFamily", family_pk)


async def create_tenant(
    db: asyncpg.Connection,
    *,
    sites: int = 3,
    products: int = 30,
    seed: int = 1,
    time_zone: str = "UTC",
    name: str | None = None,
) -> Tenant:
    """An organization with sites and products in every state, plus open requests."""
    rng = random.Random(seed)
    n = await _next_number(db, "organizations")
    org_id = await db.fetchval(
        "insert into organizations (name, kind, country, time_zone) "
        "values ($1, 'COMPANY', 'US', $2) returning id",
        name or f"Tenant {n}",
        time_zone,
    )
    tenant = Tenant(org_id)
    for s in range(sites):
        tenant.site_ids.append(
            await db.fetchval(
                "insert into sites (organization_id, name, city, country) "
                "values ($1, $2, $3, $4) returning id",
                org_id,
                f"Site {s:02d} of {n}",
                f"City {s % 2}",
                "US" if s % 2 == 0 else "FR",
            )
        )
    families = [r["id"] for r in await db.fetch("select id from product_families order by id")]
    today = dt.date.today()
    rows = []
    for p in range(products):
        code_roll = p % 3
        rows.append(
            (
                org_id,
                tenant.site_ids[p % sites] if p < sites else rng.choice(tenant.site_ids),
                families[p % 4] if p < 4 else rng.choice(families[:6]),
                f"T{n:03d}X{p:05d}",
                f"Product {p} of {n}",
                rng.choice(("R750", "R650", "500T", "ME5")),
                HEALTH[p % 4] if p < 4 else rng.choice(HEALTH),
                rng.choice(CONNECTIVITY),
                "9.1" if code_roll != 2 else None,
                "9.1" if code_roll == 0 else "9.2",
                "ProSupport",
                rng.choice(
                    (
                        None,
                        today - dt.timedelta(days=rng.randint(1, 400)),
                        today + dt.timedelta(days=rng.randint(0, 30)),
                        today + dt.timedelta(days=rng.randint(31, 90)),
                        today + dt.timedelta(days=rng.randint(91, 900)),
                    )
                ),
            )
        )
    ids = await db.fetch(
        """
        insert into products (organization_id, site_id, family_id, service_tag, name, model,
                              health, connectivity, code_version, recommended_code_version,
                              contract_level, contract_ends_on)
        select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                             $11::text[], $12::date[])
        returning id
        """,
        *[list(col) for col in zip(*rows, strict=True)],
    )
    tenant.product_ids = sorted(r["id"] for r in ids)
    requests = []
    for i, product_id in enumerate(tenant.product_ids):
        if i % 3 == 0:
            for k in range(1 + i % 2):
                requests.append(
                    (
                        org_id,
                        product_id,
                        f"SR{n:03d}{i:05d}{k}",
                        SEVERITY[(i + k) % 4],
                        "OPEN" if (i + k) % 5 else "CLOSED",
                        "Disk failure",
                    )
                )
    await db.executemany(
        """
        insert into service_requests (organization_id, product_id, number, severity, status,
                                      title, closed_at)
        values ($1, $2, $3, $4, $5, $6, case when $5 = 'CLOSED' then now() end)
        """,
        requests,
    )
    return tenant


async def create_user(
    db: asyncpg.Connection,
    tenant: Tenant | None,
    *,
    role: str = "MEMBER",
    site_scope: str = "ALL_SITES",
    site_ids: list[int] | None = None,
    step: str = "COMPLETE",
) -> FleetUser:
    n = await _next_number(db, "users")
    email = f"user{n}-{secrets.token_hex(3)}@fleet.example"
    org_id = tenant.organization_id if tenant is not None else None
    pk = await db.fetchval(
        """
        insert into users (email, password_hash, first_name, last_name, step, access_type,
                           organization_id, role, site_scope, verified_at)
        values ($1, 'not-a-real-hash', 'Test', 'User', $2, 'CUSTOMER_EMPLOYEE', $3, $4, $5, now())
        returning id
        """,
        email,
        step,
        org_id,
        role if org_id is not None else None,
        site_scope,
    )
    for site_id in site_ids or []:
        await db.execute(
            "insert into user_sites (organization_id, user_id, site_id) values ($1, $2, $3)",
            org_id,
            pk,
            site_id,
        )
    token = secrets.token_urlsafe(32)
    await db.execute(
        "insert into sessions (token_hash, user_id, expires_at) "
        "values ($1, $2, now() + interval '1 day')",
        hashlib.sha256(token.encode()).digest(),
        pk,
    )
    return FleetUser(pk=pk, email=email, token=token, organization_id=org_id)


# ------------------------------------------------------- reference answers


@dataclass(frozen=True)
class ProductFacts:
    id: int
    site_id: int
    family_id: int
    health: str
    connectivity: str
    code_status: str
    contract_ends_on: dt.date | None
    open_by_severity: dict[str, int]


async def product_facts(db: asyncpg.Connection, organization_id: int) -> list[ProductFacts]:
    """Every product of a tenant with its open requests, read directly (no roll-ups)."""
    rows = await db.fetch(
        """
        select p.id, p.site_id, p.family_id, p.health, p.connectivity, p.code_status,
               p.contract_ends_on,
               (select coalesce(jsonb_object_agg(severity, n), '{}')::text from (
                    select severity, count(*) as n from service_requests r
                     where r.product_id = p.id and r.status <> 'CLOSED' group by severity) x
               ) as open_requests
          from products p where p.organization_id = $1 order by p.id
        """,
        organization_id,
    )
    import json

    return [
        ProductFacts(
            r["id"],
            r["site_id"],
            r["family_id"],
            r["health"],
            r["connectivity"],
            r["code_status"],
            r["contract_ends_on"],
            json.loads(r["open_requests"]),
        )
        for r in rows
    ]


def in_group(p: ProductFacts, listed: set[int], families: set[int], sites: set[int]) -> bool:
    """The contract's rule, written independently of the SQL."""
    if p.id in listed:
        return True
    if not families and not sites:
        return False
    return (not families or p.family_id in families) and (not sites or p.site_id in sites)


def expected_summary(products: list[ProductFacts], today: dt.date) -> dict[str, object]:
    def count(pred: Callable[[ProductFacts], bool]) -> int:
        return sum(1 for p in products if pred(p))

    def days(p: ProductFacts) -> int | None:
        return None if p.contract_ends_on is None else (p.contract_ends_on - today).days

    def within(p: ProductFacts, n: int) -> bool:
        d = days(p)
        return d is not None and 0 <= d <= n

    def active(p: ProductFacts) -> bool:
        d = days(p)
        return d is None or d > 90

    def expired(p: ProductFacts) -> bool:
        d = days(p)
        return d is not None and d < 0

    by_family: dict[int, int] = {}
    by_site: dict[int, int] = {}
    for p in products:
        by_family[p.family_id] = by_family.get(p.family_id, 0) + 1
        by_site[p.site_id] = by_site.get(p.site_id, 0) + 1
    open_total = sum(sum(p.open_by_severity.values()) for p in products)
    return {
        "productCount": len(products),
        "siteCount": len(by_site),
        "health": {
            "good": count(lambda p: p.health == "GOOD"),
            "warning": count(lambda p: p.health == "WARNING"),
            "critical": count(lambda p: p.health == "CRITICAL"),
            "unknown": count(lambda p: p.health == "UNKNOWN"),
        },
        "connectivity": {
            "connected": count(lambda p: p.connectivity == "CONNECTED"),
            "disconnected": count(lambda p: p.connectivity == "DISCONNECTED"),
            "notConfigured": count(lambda p: p.connectivity == "NOT_CONFIGURED"),
        },
        "contracts": {
            "active": count(active),
            "endingWithin30Days": count(lambda p: within(p, 30)),
            "endingWithin90Days": count(lambda p: within(p, 90)),
            "expired": count(expired),
        },
        "code": {
            "current": count(lambda p: p.code_status == "CURRENT"),
            "updateAvailable": count(lambda p: p.code_status == "UPDATE_AVAILABLE"),
            "unknown": count(lambda p: p.code_status == "UNKNOWN"),
        },
        "serviceRequests": {
            "open": open_total,
            "critical": sum(p.open_by_severity.get("CRITICAL", 0) for p in products),
            "high": sum(p.open_by_severity.get("HIGH", 0) for p in products),
            "medium": sum(p.open_by_severity.get("MEDIUM", 0) for p in products),
            "low": sum(p.open_by_severity.get("LOW", 0) for p in products),
        },
        "byFamily": sorted(by_family.items(), key=lambda kv: (-kv[1], kv[0])),
        "bySite": sorted(by_site.items(), key=lambda kv: (-kv[1], kv[0])),
    }


SUMMARY_FIELDS = """
    productCount siteCount
    health { good warning critical unknown }
    connectivity { connected disconnected notConfigured }
    contracts { active endingWithin30Days endingWithin90Days expired }
    code { current updateAvailable unknown }
    serviceRequests { open critical high medium low }
    byFamily { count family { id } }
    bySite(first: 100) { count site { id } }
"""


def comparable(summary: dict[str, object]) -> dict[str, object]:
    """A summary answer with ids turned into keys, as expected_summary() gives them."""
    from resolvers.ids import decode_id

    out = dict(summary)
    out["byFamily"] = [
        (decode_id(f["family"]["id"])[1], f["count"])  # type: ignore[index]
        for f in summary["byFamily"]  # type: ignore[attr-defined]
    ]
    out["bySite"] = [
        (decode_id(s["site"]["id"])[1], s["count"])  # type: ignore[index]
        for s in summary["bySite"]  # type: ignore[attr-defined]
    ]
    return out


@asynccontextmanager
async def one_connection_client(
    settings: Settings, *, answer_cache: bool = False
) -> AsyncIterator[GraphQLClient]:
    """The app on a one-connection pool: once warm, asyncpg's per-connection type
    lookups (which the statement counter also sees) are done for good, so the
    counts that tests compare are the app's own statements. Without the answer
    cache unless asked: a warm-up then a repeat would be a cache hit."""
    tuned = replace(
        settings,
        pool_min_size=1,
        pool_max_size=1,
        answer_cache_bytes=settings.answer_cache_bytes if answer_cache else 0,
    )
    async with running_app(tuned) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


async def statement_count(
    client: GraphQLClient,
    caplog: Any,
    query: str,
    token: str,
    variables: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """The answer to a request and the number of SQL statements its log line reports."""
    import logging

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="service360.request"):
        body = await client.execute(query, variables, token=token)
    counts = [r.sql_statements for r in caplog.records if hasattr(r, "sql_statements")]
    assert len(counts) == 1
    return body, counts[0]
