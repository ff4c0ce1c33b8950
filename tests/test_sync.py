"""`server.py sync`: idempotent, ordered by observedAt per field, rejects, exact roll-ups."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from pathlib import Path

import asyncpg
import orjson
import pytest

from tests.support.app import ROOT
from tests.sync_data import (
    at,
    create_sync_tenant,
    encode,
    fleet_state,
    new_product,
    product,
    request,
    run_sync,
)


async def test_sync_creates_then_a_replay_changes_nothing(db: asyncpg.Connection) -> None:
    await create_sync_tenant(db)
    changes = [
        new_product("AAA0001", 1, health="GOOD", contractEndsOn="2027-01-31"),
        new_product("AAA0002", 1, site="paris", codeVersion="1.0", recommendedCodeVersion="1.1"),
        request("SR-1", 2, product="AAA0001", severity="HIGH", title="Fan", openedAt=at(2)),
        product("AAA0001", 3, health="CRITICAL"),
    ]
    tally, rejects = await run_sync(db, changes)
    assert rejects == []
    assert dict(tally.counts) == {"created": 3, "updated": 1}
    state = await fleet_state(db)
    assert [(p["service_tag"], p["health"], p["site"]) for p in state["products"]] == [
        ("AAA0001", "CRITICAL", "austin"),
        ("AAA0002", "UNKNOWN", "paris"),
    ]
    assert [(r["number"], r["status"], r["service_tag"]) for r in state["requests"]] == [
        ("SR-1", "OPEN", "AAA0001")
    ]
    version = await db.fetchval("select max(version) from fleet_versions")

    tally, rejects = await run_sync(db, changes)
    assert rejects == [] and dict(tally.counts) == {"unchanged": 4}
    assert await fleet_state(db) == state
    # Nothing was written: the summaries' version did not move.
    assert await db.fetchval("select max(version) from fleet_versions") == version


async def test_any_order_of_partial_updates_ends_in_the_same_state(
    db: asyncpg.Connection, database_url: str
) -> None:
    await create_sync_tenant(db)
    changes = [
        new_product("BBB0001", 1),
        product("BBB0001", 2, health="WARNING", connectivity="CONNECTED"),
        product("BBB0001", 3, health="CRITICAL"),
        product("BBB0001", 4, site="paris", contractLevel="ProSupport"),
        product("BBB0001", 5, contractLevel=None, codeVersion="2.0"),
        request("SR-B", 2, product="BBB0001", severity="LOW", title="Disk", openedAt=at(2)),
        request("SR-B", 6, status="CLOSED", closedAt=at(6)),
        request("SR-B", 4, severity="CRITICAL", status="IN_PROGRESS"),
    ]
    await run_sync(db, changes)
    expected = await fleet_state(db)
    assert expected["products"][0]["health"] == "CRITICAL"
    assert expected["products"][0]["site"] == "paris"
    assert expected["products"][0]["contract_level"] is None
    assert expected["requests"][0]["status"] == "CLOSED"
    assert expected["requests"][0]["severity"] == "CRITICAL"
    for order in itertools.islice(itertools.permutations(changes), 0, 5040, 997):
        await db.execute(
            "truncate sync_products, sync_service_requests, sync_sites; delete from products"
        )
        # One line per batch: every line meets the state the earlier ones left.
        await run_sync(db, list(order), batch_size=1)
        assert await fleet_state(db) == expected, order
    # Newest first, in one batch, and the whole file again: still the same.
    await run_sync(db, changes[::-1])
    assert await fleet_state(db) == expected


async def test_an_older_change_is_stale_and_a_tie_is_decided_by_the_value(
    db: asyncpg.Connection,
) -> None:
    await create_sync_tenant(db)
    await run_sync(db, [new_product("CCC0001", 10, health="GOOD")])
    tally, _ = await run_sync(db, [product("CCC0001", 5, health="CRITICAL")])
    assert dict(tally.counts) == {"stale": 1}
    assert await db.fetchval("select health from products") == "GOOD"
    # Same observedAt, another value: the greater value wins whatever the order.
    await run_sync(db, [product("CCC0001", 20, health="CRITICAL")])
    await run_sync(db, [product("CCC0001", 20, health="WARNING")])
    assert await db.fetchval("select health from products") == "WARNING"


async def test_decommissioning_removes_the_product_and_an_older_change_cannot_bring_it_back(
    db: asyncpg.Connection,
) -> None:
    tenant = await create_sync_tenant(db)
    await run_sync(
        db,
        [
            new_product("DDD0001", 1),
            new_product("DDD0002", 1),
            request("SR-D", 2, product="DDD0001", severity="CRITICAL", title="PSU"),
        ],
    )
    tally, _ = await run_sync(db, [product("DDD0001", 10, decommissioned=True)])
    assert dict(tally.counts) == {"removed": 1}
    assert await db.fetchval("select array_agg(service_tag) from products") == ["DDD0002"]
    assert await db.fetchval("select count(*) from service_requests") == 0
    totals = await db.fetchrow(
        "select sum(products) as products, sum(sr_open) as open from fleet_family_totals "
        "where organization_id = $1",
        tenant.organization_id,
    )
    assert totals is not None and (totals["products"], totals["open"]) == (1, 0)
    tally, _ = await run_sync(db, [product("DDD0001", 5, health="CRITICAL")])
    assert dict(tally.counts) == {"unchanged": 1}
    assert await db.fetchval("select count(*) from products") == 1
    # A newer change brings it back, with its requests and the newer health.
    tally, _ = await run_sync(db, [product("DDD0001", 20, connectivity="CONNECTED")])
    assert dict(tally.counts) == {"created": 1}
    row = await db.fetchrow(
        "select health, connectivity from products where service_tag = 'DDD0001'"
    )
    assert row is not None and tuple(row) == ("CRITICAL", "CONNECTED")
    assert await db.fetchval("select count(*) from service_requests") == 1


async def test_an_update_seen_before_its_product_waits_for_it(db: asyncpg.Connection) -> None:
    await create_sync_tenant(db)
    tally, _ = await run_sync(
        db,
        [
            product("EEE0001", 5, health="CRITICAL"),
            request("SR-E", 6, product="EEE0001", severity="HIGH", title="Fan"),
        ],
    )
    assert dict(tally.counts) == {"pending": 2}
    assert await db.fetchval("select count(*) from products") == 0
    tally, _ = await run_sync(db, [new_product("EEE0001", 1, health="GOOD")])
    assert dict(tally.counts) == {"created": 1}
    assert await db.fetchval("select health from products") == "CRITICAL"
    assert await db.fetchval("select number from service_requests") == "SR-E"


async def test_bad_lines_are_rejected_with_their_number_and_the_rest_is_applied(
    db: asyncpg.Connection,
) -> None:
    await create_sync_tenant(db)
    await create_sync_tenant(db, "globex", ["berlin"])
    lines: list[object] = [
        new_product("FFF0001", 1),
        b"{not json",
        {"kind": "laptop", "serviceTag": "X", "observedAt": at(1)},
        product("FFF0001", 2, health="ON_FIRE"),
        product("FFF0001", 2, name="bad\x00name"),
        product("FFF0001", 2, contractEndsOn="2027-02-30"),
        product("FFF0001", 2, observedAt="yesterday"),
        {"kind": "product", "serviceTag": "FFF0001", "observedAt": "2026-11-01T10:00:00"},
        new_product("FFF0002", 1, site="nowhere"),
        new_product("FFF0003", 1, family="Toaster"),
        {"kind": "site", "reference": "lyon", "observedAt": at(1), "organization": "umbrella",
         "name": "Lyon", "country": "FR"},
        product("FFF0001", 3, site="berlin"),
        product("FFF0001", 3, helth="GOOD"),
        b"",
        product("FFF0001", 4, health="WARNING"),
    ]  # fmt: skip
    tally, rejects = await run_sync(db, lines)  # type: ignore[arg-type]
    assert sorted(r["line"] for r in rejects) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    reasons = {r["line"]: r["error"] for r in rejects}
    assert "JSON" in reasons[2] and "kind" in reasons[3] and "health" in reasons[4]
    assert "control character" in reasons[5] and "date" in reasons[6]
    assert "time zone" in reasons[8] and "unknown site" in reasons[9]
    assert "family" in reasons[10] and "organization" in reasons[11]
    assert "another organization" in reasons[12] and "helth" in reasons[13]
    assert orjson.loads(next(r for r in rejects if r["line"] == 4)["change"])["health"] == "ON_FIRE"
    assert dict(tally.counts) == {"created": 1, "updated": 1, "rejected": 12}
    assert await db.fetchval("select health from products") == "WARNING"


async def test_a_line_only_the_database_refuses_is_found_by_halving_the_batch(
    db: asyncpg.Connection,
) -> None:
    await create_sync_tenant(db)
    # A rule the database has and the Python checks do not know about.
    await db.execute("alter table products add constraint no_doomed check (name <> 'doomed')")
    changes = [new_product(f"GGG{i:04d}", 1) for i in range(40)]
    changes[27]["name"] = "doomed"
    tally, rejects = await run_sync(db, changes, batch_size=40)
    assert [r["line"] for r in rejects] == [28]
    assert "no_doomed" in rejects[0]["error"]
    assert tally.counts["created"] == 39
    assert await db.fetchval("select count(*) from products") == 39


async def test_sync_command_prints_progress_and_counts_and_writes_the_reject_file(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await create_sync_tenant(db)
    path = tmp_path / "changes.jsonl"
    lines = [orjson.dumps(new_product(f"HHH{i:04d}", 1)) for i in range(30)]
    lines.insert(5, b'{"kind": "product"}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "server.py",
        "sync",
        str(path),
        "--batch-size",
        "10",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 3, stderr
    out = stdout.decode()
    assert "30 created" in out and "1 rejected" in out, out
    rejects = (tmp_path / "changes.jsonl.rejects.jsonl").read_bytes().splitlines()
    assert [orjson.loads(r)["line"] for r in rejects] == [6]


def test_the_bench_update_lines_are_valid_changes() -> None:
    import datetime as dt
    import random

    from bench.sync import product_update
    from sync.changes import parse_change

    rng = random.Random(1)
    stamp = dt.datetime.now(dt.UTC).isoformat()
    for i in range(500):
        line = product_update(rng, f"B{i:07d}", stamp, ["site-a"], ["PowerEdge"])
        change = parse_change(i, line)
        assert change.kind == "product" and "health" in change.values


async def test_a_long_sync_reports_its_progress(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from sync import files

    await create_sync_tenant(db)
    monkeypatch.setattr(files, "PROGRESS_SECONDS", 0.0)
    said: list[str] = []
    lines = encode([new_product(f"PRG{i:04d}", 1) for i in range(30)])
    await files.sync_lines(db, lines, files.RejectFile(io.BytesIO()), 10, said.append)
    assert said == [
        "sync: 10 lines so far: 10 created, 0 updated, 0 removed, 0 unchanged, 0 stale, "
        "0 pending, 0 rejected",
        "sync: 20 lines so far: 20 created, 0 updated, 0 removed, 0 unchanged, 0 stale, "
        "0 pending, 0 rejected",
        "sync: 30 lines so far: 30 created, 0 updated, 0 removed, 0 unchanged, 0 stale, "
        "0 pending, 0 rejected",
    ]


async def test_sites_are_created_and_renamed_by_reference_and_never_change_organization(
    db: asyncpg.Connection,
) -> None:
    tenant = await create_sync_tenant(db)
    await create_sync_tenant(db, "globex", ["berlin"])
    site = {"kind": "site", "reference": "lyon", "organization": "initech", "country": "FR"}
    tally, rejects = await run_sync(
        db,
        [
            {**site, "observedAt": at(1), "name": "Lyon DC", "city": "Lyon"},
            # A product may name a site created by the same batch.
            new_product("SIT0001", 2, site="lyon"),
        ],
    )
    assert rejects == [] and dict(tally.counts) == {"created": 2}
    row = await db.fetchrow(
        "select organization_id, name, city from sites where reference = 'lyon'"
    )
    assert row is not None and tuple(row) == (tenant.organization_id, "Lyon DC", "Lyon")
    tally, rejects = await run_sync(
        db,
        [
            {"kind": "site", "reference": "lyon", "observedAt": at(3), "name": "Lyon 2"},
            {"kind": "site", "reference": "lyon", "observedAt": at(2), "name": "Lyon old"},
            {**site, "observedAt": at(4), "organization": "globex"},
        ],
    )
    assert dict(tally.counts) == {"updated": 1, "stale": 1, "rejected": 1}
    assert "another organization" in rejects[0]["error"]
    assert await db.fetchval("select name from sites where reference = 'lyon'") == "Lyon 2"
