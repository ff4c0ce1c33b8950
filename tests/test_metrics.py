"""/metrics: Prometheus text whose values move with the requests made, in one
worker and summed over several."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.datastructures import Secret

from config import Settings
from tests.live_server import live_server
from tests.support.app import GraphQLClient, running_app

FAMILIES = "query Families { productFamilies { id name } }"
METRICS_TOKEN = "metrics-" + "t" * 40
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, metrics_token=Secret(METRICS_TOKEN))


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
    response = await http.get("/metrics", headers=SCRAPER)
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

    ok = {"operation": "query", "outcome": "ok"}
    assert delta("service360_graphql_requests_total", **ok) == 3
    assert (
        delta("service360_graphql_requests_total", operation="query", outcome="request_error") == 1
    )
    assert delta("service360_graphql_request_duration_seconds_count", operation="query") == 4
    assert delta("service360_graphql_request_duration_seconds_sum", operation="query") > 0
    assert delta("service360_sql_statements_per_request_count", operation="query") == 4
    # Three statements per request: the families query in its read snapshot
    # (begin, select, commit); none for the parse error.
    assert delta("service360_sql_statements_per_request_sum", operation="query") == 9
    assert delta("service360_sql_seconds_per_request_sum", operation="query") > 0


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
        database_url,
        tmp_path / "server.log",
        WORKERS="2",
        POOL_MIN_SIZE="3",
        POOL_MAX_SIZE="4",
        METRICS_TOKEN=METRICS_TOKEN,
    ) as server:
        # Both workers report their pool (3 connections each) once started.
        deadline = time.monotonic() + 60
        while True:
            text = httpx.get(server.url + "/metrics", headers=SCRAPER).text
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
        text = httpx.get(server.url + "/metrics", headers=SCRAPER).text
    counted = sample(text, "service360_graphql_requests_total", operation="query", outcome="ok")
    assert counted == requests


async def test_metrics_are_served_only_to_the_bearer_of_the_metrics_token(
    settings: Settings,
) -> None:
    for configured, headers, status in (
        (None, SCRAPER, 404),  # no METRICS_TOKEN: not served at all
        (METRICS_TOKEN, {}, 401),
        (METRICS_TOKEN, {"Authorization": "Bearer " + "x" * 48}, 401),
        (METRICS_TOKEN, {"Authorization": f"Basic {METRICS_TOKEN}"}, 401),
        (METRICS_TOKEN, SCRAPER, 200),
    ):
        token = Secret(configured) if configured else None
        async with running_app(replace(settings, metrics_token=token)) as (app, _):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/metrics", headers=headers)
        assert response.status_code == status, (configured, headers)
        if status != 200:
            assert "service360_" not in response.text


async def test_no_metric_label_is_taken_from_client_input(client: GraphQLClient) -> None:
    # Operation names a client chooses, as the enumeration used them.
    for name in ("requestPasswordReset", "Victim_at_acme_example", "x" * 90):
        await client.execute(f"query {name} {{ productFamilies {{ id }} }}")
        await client.execute(
            f"mutation {name} {{ signOut {{ userErrors {{ code }} }} }}",
        )
    text = await scrape(client.http)
    operations = {
        metric_sample.labels["operation"]
        for family in text_string_to_metric_families(text)
        for metric_sample in family.samples
        if "operation" in metric_sample.labels
    }
    assert operations and operations <= {"query", "mutation", "subscription", "unknown"}
    assert "requestPasswordReset" not in text and "Victim" not in text
