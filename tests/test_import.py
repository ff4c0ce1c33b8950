"""`server.py import FILE`: JSON lines loaded with COPY, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from db.importer import ImportError_, import_file

GOOD_LINES: list[dict[str, Any]] = [
    {"type": "organization", "ref": "initech", "name": "Initech", "kind": "COMPANY",
     "country": "US", "domains": ["initech.example", "eu.initech.example"]},
    {"type": "site", "ref": "austin", "organization": "initech", "name": "Austin DC",
     "city": "Austin", "country": "US"},
    {"type": "site", "ref": "paris", "organization": "initech", "name": "Paris",
     "country": "FR"},
    {"type": "product", "site": "austin", "family": "PowerEdge", "serviceTag": "INI0001",
     "name": "web-01", "model": "R760", "health": "CRITICAL", "connectivity": "CONNECTED",
     "codeVersion": "1.0", "recommendedCodeVersion": "1.1", "contractEndsOn": "2027-01-31"},
    {"type": "product", "site": "paris", "family": "PowerStore", "serviceTag": "INI0002",
     "name": "array-01", "model": "500T"},
    {"type": "service_request", "product": "INI0001", "number": "SR-INI-1",
     "severity": "HIGH", "title": "Fan fault", "openedAt": "2026-11-01T10:00:00+00:00"},
]  # fmt: skip


def write_lines(path: Path, lines: Sequence[object]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


async def test_import_loads_organizations_sites_products_and_requests(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    counts = await import_file(db, write_lines(tmp_path / "fleet.jsonl", GOOD_LINES))
    assert counts == {"organizations": 1, "sites": 2, "products": 2, "service requests": 1}
    rows = await db.fetch(
        """
        select p.service_tag, s.name as site, f.name as family, p.code_status,
               p.organization_id = s.organization_id as same_tenant
          from products p join sites s on s.id = p.site_id
          join product_families f on f.id = p.family_id
         order by p.service_tag
        """
    )
    assert [(r["service_tag"], r["site"], r["family"], r["code_status"]) for r in rows] == [
        ("INI0001", "Austin DC", "PowerEdge", "UPDATE_AVAILABLE"),
        ("INI0002", "Paris", "PowerStore", "UNKNOWN"),
    ]
    assert all(r["same_tenant"] for r in rows)
    domains = await db.fetch("select domain from organization_domains order by domain")
    assert [d["domain"] for d in domains] == ["eu.initech.example", "initech.example"]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ({"type": "product", "site": "nowhere", "family": "PowerEdge", "serviceTag": "X1",
          "name": "n", "model": "m"}, "line 7: unknown site 'nowhere'"),
        ({"type": "product", "site": "austin", "family": "PowerEdge", "serviceTag": "INI0001",
          "name": "n", "model": "m"}, "line 7: service tag INI0001 appears twice"),
        ({"type": "product", "site": "austin", "family": "PowerEdge", "serviceTag": "X2",
          "name": "n", "model": "m", "health": "FINE"}, "line 7: \"health\" must be one of"),
        ({"type": "site", "ref": "x", "organization": "initech", "name": "X",
          "country": "France"}, "line 7: \"country\" is not valid"),
        ({"type": "gizmo"}, "line 7: \"type\" must be"),
        ({"type": "product", "site": "austin", "family": "Toaster", "serviceTag": "X3",
          "name": "n", "model": "m"}, "line 7: unknown product family 'Toaster'"),
    ],
)  # fmt: skip
async def test_a_bad_line_is_reported_by_number_and_nothing_is_kept(
    db: asyncpg.Connection, tmp_path: Path, bad_line: dict[str, object], message: str
) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [*GOOD_LINES, bad_line])
    with pytest.raises(ImportError_, match=message.replace("(", r"\(")):
        await import_file(db, path)
    assert await db.fetchval("select count(*) from organizations") == 0
    assert await db.fetchval("select count(*) from products") == 0


async def test_invalid_json_is_reported_with_its_line_number(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(orjson.dumps(GOOD_LINES[0]).decode() + "\n{not json\n")
    with pytest.raises(ImportError_, match="line 2: not valid JSON"):
        await import_file(db, path)


async def test_a_conflict_with_existing_data_keeps_nothing(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    await import_file(db, write_lines(tmp_path / "first.jsonl", GOOD_LINES))
    again = [{**line, "ref": "initech2"} if line["type"] == "organization" else line
             for line in GOOD_LINES[:1]] + [
        {"type": "site", "ref": "dallas", "organization": "initech2", "name": "Dallas",
         "country": "US"},
        {"type": "product", "site": "dallas", "family": "PowerEdge", "serviceTag": "INI0001",
         "name": "dup", "model": "R760"},
    ]  # fmt: skip
    with pytest.raises(ImportError_, match="already in the database"):
        await import_file(db, write_lines(tmp_path / "second.jsonl", again))
    assert await db.fetchval("select count(*) from organizations") == 1
    assert await db.fetchval("select count(*) from sites") == 2
