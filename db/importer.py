"""`server.py import FILE`: organizations, domains, sites, products and service
requests as JSON lines, loaded with COPY in one transaction.

Each line is an object with a "type": organization, site, product or
service_request. Objects refer to each other by "ref" (organizations, sites)
and by service tag (products); refs are kept as the organizations' and sites'
references, which `server.py sync` change lines name. Every line is checked
first; the first bad line is reported with its number and nothing of the file
is kept.

    {"type": "organization", "ref": "acme", "name": "Acme", "kind": "COMPANY",
     "country": "US", "domains": ["acme.example"]}
    {"type": "site", "ref": "austin", "organization": "acme", "name": "Austin DC",
     "city": "Austin", "country": "US"}
    {"type": "product", "site": "austin", "family": "PowerEdge", "serviceTag": "ABC1234",
     "name": "web-01", "model": "R760", "health": "GOOD", "connectivity": "CONNECTED",
     "codeVersion": "9.4.1", "recommendedCodeVersion": "9.4.1",
     "contractLevel": "ProSupport", "contractEndsOn": "2027-03-31"}
    {"type": "service_request", "product": "ABC1234", "number": "SR1", "severity": "HIGH",
     "status": "OPEN", "title": "Fan fault", "openedAt": "2026-11-01T10:00:00Z"}
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson

COUNTRY = re.compile(r"^[A-Z]{2}$")
SERVICE_TAG = re.compile(r"^[A-Z0-9-]{1,20}$")
DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.([a-z]{2,}|xn--[a-z0-9-]+)$")
ENUMS = {
    "kind": ("COMPANY", "GOVERNMENT", "PARTNER"),
    "health": ("GOOD", "WARNING", "CRITICAL", "UNKNOWN"),
    "connectivity": ("CONNECTED", "DISCONNECTED", "NOT_CONFIGURED"),
    "severity": ("CRITICAL", "HIGH", "MEDIUM", "LOW"),
    "status": ("OPEN", "IN_PROGRESS", "WAITING_ON_CUSTOMER", "CLOSED"),
}


class ImportError_(Exception):
    pass


class _Line:
    def __init__(self, number: int, data: dict[str, Any]) -> None:
        self.number = number
        self.data = data

    def fail(self, message: str) -> ImportError_:
        return ImportError_(f"line {self.number}: {message}")

    def text(self, key: str, required: bool = True, max_length: int = 200) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise self.fail(f'"{key}" is required')
            return None
        if not isinstance(value, str):
            raise self.fail(f'"{key}" must be a string')
        if len(value) > max_length:
            raise self.fail(f'"{key}" is longer than {max_length} characters')
        return value

    def match(self, key: str, pattern: re.Pattern[str], required: bool = True) -> str | None:
        value = self.text(key, required)
        if value is not None and not pattern.match(value):
            raise self.fail(f'"{key}" is not valid: {value!r}')
        return value

    def choice(self, key: str, default: str | None = None) -> str:
        value = self.text(key, required=default is None) or default
        assert value is not None
        if value not in ENUMS[key]:
            raise self.fail(f'"{key}" must be one of {", ".join(ENUMS[key])}')
        return value

    def parsed(self, key: str, parse: Callable[[str], Any], required: bool) -> Any:
        value = self.text(key, required)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError:
            raise self.fail(f'"{key}" is not a valid date or time: {value!r}') from None


def _timestamp(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


def parse_file(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Check every line; return the rows to load, by table."""
    organizations: list[tuple[Any, ...]] = []
    domains: list[tuple[Any, ...]] = []
    sites: list[tuple[Any, ...]] = []
    products: list[tuple[Any, ...]] = []
    requests: list[tuple[Any, ...]] = []
    org_refs: set[str] = set()
    site_refs: set[str] = set()
    tags: set[str] = set()
    numbers: set[str] = set()
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ImportError_(f"cannot read {path}: {error.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                raise ImportError_(f"line {number}: not valid JSON ({error})") from None
            if not isinstance(data, dict):
                raise ImportError_(f"line {number}: expected a JSON object")
            line = _Line(number, data)
            kind = data.get("type")
            if kind == "organization":
                ref = line.text("ref")
                if ref in org_refs:
                    raise line.fail(f"organization ref {ref!r} appears twice")
                org_refs.add(ref)  # type: ignore[arg-type]
                organizations.append(
                    (
                        ref,
                        line.text("name"),
                        line.text("division", False),
                        line.choice("kind"),
                        line.match("country", COUNTRY),
                        line.text("city", False),
                        line.text("timeZone", False) or "UTC",
                    )
                )
                listed = data.get("domains") or []
                if not isinstance(listed, list) or not all(isinstance(d, str) for d in listed):
                    raise line.fail('"domains" must be a list of strings')
                for domain in listed:
                    if not DOMAIN.match(domain.lower()):
                        raise line.fail(f"domain is not valid: {domain!r}")
                    domains.append((ref, domain.lower()))
            elif kind == "site":
                ref = line.text("ref")
                organization = line.text("organization")
                if organization not in org_refs:
                    raise line.fail(f"unknown organization {organization!r} (define it above)")
                if ref in site_refs:
                    raise line.fail(f"site ref {ref!r} appears twice")
                site_refs.add(ref)  # type: ignore[arg-type]
                sites.append(
                    (
                        ref,
                        organization,
                        line.text("name"),
                        line.text("city", False),
                        line.match("country", COUNTRY),
                    )
                )
            elif kind == "product":
                site = line.text("site")
                if site not in site_refs:
                    raise line.fail(f"unknown site {site!r} (define it above)")
                tag = line.match("serviceTag", SERVICE_TAG)
                if tag in tags:
                    raise line.fail(f"service tag {tag} appears twice")
                tags.add(tag)  # type: ignore[arg-type]
                products.append(
                    (
                        site,
                        line.text("family"),
                        tag,
                        line.text("name"),
                        line.text("model", max_length=100),
                        line.choice("health", "UNKNOWN"),
                        line.choice("connectivity", "NOT_CONFIGURED"),
                        line.text("codeVersion", False, 50),
                        line.text("recommendedCodeVersion", False, 50),
                        line.text("contractLevel", False, 100),
                        line.parsed("contractEndsOn", dt.date.fromisoformat, False),
                        number,
                    )
                )
            elif kind == "service_request":
                tag = line.text("product")
                if tag not in tags:
                    raise line.fail(f"unknown product {tag!r} (define it above)")
                sr_number = line.text("number", max_length=40)
                if sr_number in numbers:
                    raise line.fail(f"service request {sr_number} appears twice")
                numbers.add(sr_number)  # type: ignore[arg-type]
                status = line.choice("status", "OPEN")
                closed_at = line.parsed("closedAt", _timestamp, status == "CLOSED")
                requests.append(
                    (
                        tag,
                        sr_number,
                        line.choice("severity"),
                        status,
                        line.text("title", max_length=300),
                        line.parsed("openedAt", _timestamp, True),
                        closed_at if status == "CLOSED" else None,
                    )
                )
            else:
                raise line.fail('"type" must be organization, site, product or service_request')
    return {
        "organizations": organizations,
        "domains": domains,
        "sites": sites,
        "products": products,
        "service_requests": requests,
    }


async def import_file(conn: asyncpg.Connection, path: Path) -> dict[str, int]:
    rows = parse_file(path)
    families = {
        r["name"]: r["id"] for r in await conn.fetch("select id, name from product_families")
    }
    for product in rows["products"]:
        if product[1] not in families:
            raise ImportError_(f"line {product[-1]}: unknown product family {product[1]!r}")
    try:
        async with conn.transaction():
            await _load(conn, rows)
    except asyncpg.UniqueViolationError as error:
        raise ImportError_(f"already in the database: {error.detail or error}") from None
    except asyncpg.PostgresError as error:
        raise ImportError_(f"rejected by the database: {error}") from None
    return {
        "organizations": len(rows["organizations"]),
        "sites": len(rows["sites"]),
        "products": len(rows["products"]),
        "service requests": len(rows["service_requests"]),
    }


async def _load(conn: asyncpg.Connection, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    await conn.execute(
        """
        create temp table import_organizations (ref text, name text, division text, kind text,
            country text, city text, time_zone text) on commit drop;
        create temp table import_domains (organization text, domain text) on commit drop;
        create temp table import_sites (ref text, organization text, name text, city text,
            country text) on commit drop;
        create temp table import_products (site text, family text, service_tag text, name text,
            model text, health text, connectivity text, code_version text,
            recommended_code_version text, contract_level text, contract_ends_on date,
            line integer) on commit drop;
        create temp table import_service_requests (product text, number text, severity text,
            status text, title text, opened_at timestamptz, closed_at timestamptz) on commit drop;
        create temp table import_org_ids (ref text primary key, id bigint) on commit drop;
        create temp table import_site_ids (ref text primary key, id bigint,
            organization_id bigint) on commit drop;
        """
    )
    for table, key in (
        ("import_organizations", "organizations"),
        ("import_domains", "domains"),
        ("import_sites", "sites"),
        ("import_products", "products"),
        ("import_service_requests", "service_requests"),
    ):
        await conn.copy_records_to_table(table, records=rows[key])
    # Ids are drawn from the identity sequences first, so each ref maps to
    # its row with no reliance on insertion order.
    await conn.execute(
        """
        insert into import_org_ids (ref, id)
        select ref, nextval(pg_get_serial_sequence('organizations', 'id'))
          from import_organizations;

        insert into organizations (id, name, division, kind, country, city, time_zone,
                                   reference)
        overriding system value
        select i.id, o.name, o.division, o.kind, o.country, o.city, o.time_zone, o.ref
          from import_organizations o join import_org_ids i using (ref);

        insert into organization_domains (domain, organization_id)
        select d.domain, o.id from import_domains d join import_org_ids o on o.ref = d.organization;

        insert into import_site_ids (ref, id, organization_id)
        select s.ref, nextval(pg_get_serial_sequence('sites', 'id')), o.id
          from import_sites s join import_org_ids o on o.ref = s.organization;

        insert into sites (id, organization_id, name, city, country, reference)
        overriding system value
        select i.id, i.organization_id, s.name, s.city, s.country, s.ref
          from import_sites s join import_site_ids i using (ref);

        insert into products (organization_id, site_id, family_id, service_tag, name, model,
                              health, connectivity, code_version, recommended_code_version,
                              contract_level, contract_ends_on)
        select s.organization_id, s.id, f.id, p.service_tag, p.name, p.model, p.health,
               p.connectivity, p.code_version, p.recommended_code_version, p.contract_level,
               p.contract_ends_on
          from import_products p
          join import_site_ids s on s.ref = p.site
          join product_families f on f.name = p.family;

        insert into service_requests (organization_id, product_id, number, severity, status,
                                      title, opened_at, closed_at)
        select p.organization_id, p.id, r.number, r.severity, r.status, r.title, r.opened_at,
               r.closed_at
          from import_service_requests r
          join products p on p.service_tag = r.product;
        """
    )
