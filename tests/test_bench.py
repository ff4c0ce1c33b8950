"""Smoke tests of `make bench`'s machinery at a tiny scale (no timing asserted)."""

from __future__ import annotations

import datetime as dt
import random

import asyncpg

from bench import generator
from bench.generator import GROUP_COUNT, MEMBER_SITE_COUNT, SCALES, SMALL_TENANT_PRODUCTS
from bench.load import percentile
from bench.process import running_server
from bench.scenarios import workload


def test_the_same_seed_draws_the_same_products() -> None:
    families = [(1, "PowerEdge"), (2, "PowerStore"), (3, "PowerMax")]
    today = dt.date(2026, 1, 1)

    def draw(seed: int) -> list[tuple[object, ...]]:
        rng = random.Random(seed)
        return generator._product_rows(rng, today, 1, [10, 11, 12], None, families, "B", 500)

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


async def test_generated_dataset_has_its_shape_and_exact_rollups(
    db: asyncpg.Connection,
) -> None:
    dataset = await generator.generate(db, "XS", 360, "not-a-real-hash", lambda _: None)

    assert dataset.products == SCALES["XS"]
    assert (
        await db.fetchval(
            "select count(*) from products where organization_id = $1", dataset.organization_id
        )
        == SCALES["XS"]
    )
    assert (
        await db.fetchval(
            "select count(*) from products where organization_id <> $1", dataset.organization_id
        )
        == generator.SMALL_TENANTS * SMALL_TENANT_PRODUCTS
    )
    assert len(dataset.group_ids) == GROUP_COUNT
    # Every kind of rule is present among the groups.
    for table in ("custom_group_products", "custom_group_families", "custom_group_sites"):
        assert await db.fetchval(f"select count(distinct group_id) from {table}") >= 10
    assert (
        await db.fetchval("select count(*) from user_sites where user_id = $1", dataset.member_id)
        == MEMBER_SITE_COUNT
    )
    assert await generator.stored_dataset(db, "XS", 360) == dataset
    assert await generator.stored_dataset(db, "XS", 361) is None

    # The COPY loads fired the roll-up triggers: per family, the counters
    # equal the aggregates over the rows themselves.
    mismatches = await db.fetch(
        """
        with direct as (
            select p.organization_id, p.family_id, count(*) as products,
                   count(*) filter (where p.health = 'CRITICAL') as critical,
                   coalesce(sum(r.open), 0) as sr_open
              from products p
              left join (select product_id, count(*) as open from service_requests
                          where status <> 'CLOSED' group by product_id) r
                     on r.product_id = p.id
             group by p.organization_id, p.family_id)
        select * from direct d
          full join fleet_family_totals t using (organization_id, family_id)
         where t.products is distinct from d.products
            or t.health_critical is distinct from d.critical
            or t.sr_open is distinct from d.sr_open
        """
    )
    assert mismatches == []


async def test_load_driver_measures_the_real_server(database_url: str) -> None:
    from bench.__main__ import BenchConfig, run_scenario

    config = BenchConfig(
        scale="XS",
        seed=1,
        concurrency=2,
        signin_concurrency=1,
        warmup=0.3,
        duration=1.0,
        workers=1,
        executors=("default",),
    )
    plan = {
        "name": "families",
        "concurrency": 2,
        "requests": [{"body": {"query": "{ productFamilies { id name } }"}}],
        "expect": ["data", "productFamilies"],
    }
    with running_server(database_url, 1) as server:
        results = run_scenario(server, config, [plan])

    measured = results["families"]
    assert measured["requests"] > 0
    assert measured["errors"] == 0
    # The server's own log lines were matched to the workload.
    assert measured["sql_per_request"] is not None
    assert measured["peak_rss_mb"] > 0


def test_nearest_rank_percentiles() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 99) == 99.0
    assert percentile([], 50) is None


def test_every_scenario_has_a_plan() -> None:
    dataset = generator.Dataset("XS", 1, 10, 1, 1, 2, (5, 6), (1, 2, 3, 4), ("a@b.example",))
    for name in ("dashboard", "group", "mobile_list", "signin"):
        plan = workload(name, dataset, "token", 4)
        assert plan["concurrency"] == 4 and plan["requests"]
