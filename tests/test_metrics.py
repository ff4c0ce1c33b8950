"""/metrics: Prometheus text whose values move with the requests made, in one
worker and summed over several."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from tests.conftest import GraphQLClient, running_app
from tests.live_server import live_server

FAMILIES = "query Families { productFamilies { id name } }"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for metric_sample in family.samples:
            if metric_sample.name == name and all(
                metric_sample.labels.get(k) == v for k, v in labels.items()
            ):
                return float(metric_sample.value)
    return 0.0


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


async def test_request_counters_latency_and_sql_per_request_move_with_requests(
    client: GraphQLClient,
) -> None:
    before = await scrape(client.http)
    for _ in range(3):
        body = await client.execute(FAMILIES)
        assert body["data"]["productFamilies"]
    await client.execute("{ productFamilies {")  # a parse error
    after = await scrape(client.http)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    ok = {"operation": "Families", "outcome": "ok"}
    assert delta("service360_graphql_requests_total", **ok) == 3
    assert (
        delta("service360_graphql_requests_total", operation="anonymous", outcome="request_error")
        == 1
    )
    assert delta("service360_graphql_request_duration_seconds_count", operation="Families") == 3
    assert delta("service360_graphql_request_duration_seconds_sum", operation="Families") > 0
    assert delta("service360_sql_statements_per_request_count", operation="Families") == 3
    # One statement per request: the families query.
    assert delta("service360_sql_statements_per_request_sum", operation="Families") == 3
    assert delta("service360_sql_seconds_per_request_sum", operation="Families") > 0


async def test_dataloader_batch_sizes_are_observed_once_per_batch(client: GraphQLClient) -> None:
    families = (await client.execute(FAMILIES))["data"]["productFamilies"][:3]
    aliases = " ".join(
        f'f{n}: node(id: "{family["id"]}") {{ id }}' for n, family in enumerate(families)
    )
    before = await scrape(client.http)
    body = await client.execute("{ " + aliases + " }")
    assert [body["data"][f"f{n}"]["id"] for n in range(3)] == [f["id"] for f in families]
    after = await scrape(client.http)
    name = "service360_dataloader_batch_size"
    count = sample(after, name + "_count", loader="FamilyById") - sample(
        before, name + "_count", loader="FamilyById"
    )
    total = sample(after, name + "_sum", loader="FamilyById") - sample(
        before, name + "_sum", loader="FamilyById"
    )
    assert (count, total) == (1, 3)


async def test_outbox_backlog_and_oldest_unsent_age(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    empty = await scrape(client.http)
    assert sample(empty, "service360_mail_outbox_backlog") == 0
    assert sample(empty, "service360_mail_outbox_oldest_unsent_age_seconds") == 0
    # Not due for days, so the mail sender leaves them alone.
    await db.execute(
        """
        insert into mail_outbox (recipient, subject, body, template, created_at, next_attempt_at)
        select 'ops@acme.example', 'Subject', 'Body', 'test', now() - make_interval(mins => n),
               now() + interval '3 days'
        from generate_series(5, 7) as n
        """
    )
    await db.execute(
        "insert into mail_outbox (recipient, subject, body, template, sent_at) "
        "values ('sent@acme.example', 's', 'b', 'test', now())"
    )
    text = await scrape(client.http)
    assert sample(text, "service360_mail_outbox_backlog") == 3
    assert 7 * 60 <= sample(text, "service360_mail_outbox_oldest_unsent_age_seconds") < 3600


async def test_pool_in_use_and_waiting_are_seen_even_when_the_pool_is_exhausted(
    settings: Settings,
) -> None:
    # The mail sender polls once at start, then sleeps for the hour.
    quiet = replace(settings, pool_min_size=2, pool_max_size=2, mail_poll_seconds=3600)
    async with running_app(quiet) as (app, state):
        pool: asyncpg.Pool = state["pool"]
        await asyncio.sleep(0)  # the sender's task takes a connection for its first round
        await wait_until_all_idle(pool)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            idle = await scrape(http)
            async with pool.acquire(), pool.acquire():
                waiter = asyncio.ensure_future(pool.acquire())
                await asyncio.sleep(0)  # let it start waiting
                busy = await scrape(http)
                waiter.cancel()
    assert sample(idle, "service360_db_pool_connections_in_use") == 0
    assert sample(idle, "service360_db_pool_waiting") == 0
    assert sample(idle, "service360_argon2_queue_depth") == 0
    assert sample(busy, "service360_db_pool_connections_in_use") == 2
    assert sample(busy, "service360_db_pool_waiting") == 1
    assert sample(busy, "service360_db_pool_connections_open") == 2
    # The outbox needs a connection: left out rather than hanging the scrape.
    assert "service360_mail_outbox_backlog" not in busy


async def wait_until_all_idle(pool: asyncpg.Pool) -> None:
    while pool.get_idle_size() < pool.get_size():  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.01)


def test_with_two_workers_metrics_add_up_every_worker(database_url: str, tmp_path: Path) -> None:
    with live_server(
        database_url, tmp_path / "server.log", WORKERS="2", POOL_MIN_SIZE="3", POOL_MAX_SIZE="4"
    ) as server:
        # Both workers report their pool (3 connections each) once started.
        deadline = time.monotonic() + 60
        while True:
            text = httpx.get(server.url + "/metrics").text
            if sample(text, "service360_db_pool_connections_open") == 6:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        requests = 12
        for _ in range(requests):
            # A new connection each time, so both workers take some.
            with httpx.Client() as http:
                response = http.post(server.url + "/graphql", json={"query": FAMILIES})
                assert response.status_code == 200
        text = httpx.get(server.url + "/metrics").text
    counted = sample(text, "service360_graphql_requests_total", operation="Families", outcome="ok")
    assert counted == requests
