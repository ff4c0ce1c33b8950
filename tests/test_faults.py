"""Faults: the database lost or down, an exception escaping the app.

The client always gets JSON: 503 with `Retry-After` and SERVICE_UNAVAILABLE
when the database is unavailable (a read retried once first, a write never
run twice), a masked INTERNAL_SERVER_ERROR with the request id for anything
else. Faults are real: a proxy in front of PostgreSQL cuts connections or
refuses them (tests/tcp_proxy.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, Router

from config import Settings
from tests.conftest import running_app
from tests.fleet_data import FleetUser, create_tenant, create_user
from tests.tcp_proxy import PostgresProxy, postgres_proxy
from web.failures import FailureMiddleware
from web.request_context import RequestContextMiddleware

VIEWER = "query Viewer { viewer { email } }"
CREATE_GROUP = """
mutation Create($name: String!) {
  createCustomGroup(input: {name: $name}) { customGroup { id name } userErrors { code } }
}
"""
JSON_HEADERS = {"Accept": "application/graphql-response+json, application/json"}


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[PostgresProxy]:
    async with postgres_proxy(database_url) as proxy:
        yield proxy


@pytest.fixture
async def member(db: asyncpg.Connection) -> FleetUser:
    return await create_user(db, await create_tenant(db, sites=1, products=3))


@pytest.fixture
async def http(settings: Settings, proxy: PostgresProxy) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, its pool reaching PostgreSQL through the proxy."""
    async with running_app(replace(settings, database_url=proxy.dsn())) as (app, _):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def post(
    http: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> httpx.Response:
    headers = dict(JSON_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


def assert_unavailable(response: httpx.Response) -> None:
    """503 JSON: Retry-After, SERVICE_UNAVAILABLE and the request's id."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert "json" in response.headers["content-type"]
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["SERVICE_UNAVAILABLE"] * len(errors)
    assert all(e["extensions"]["requestId"] == response.headers["x-request-id"] for e in errors)


# ------------------------------------------------------ connection lost


async def test_a_read_whose_connection_is_lost_mid_statement_is_retried_once_and_answers(
    http: httpx.AsyncClient, proxy: PostgresProxy, member: FleetUser
) -> None:
    proxy.cut_when(b"from users u where u.id = any")  # the resolver's loader
    response = await post(http, VIEWER, member.token)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": {"email": member.email}}}
    assert proxy.cut_count == 1


async def test_a_read_whose_session_lookup_loses_its_connection_is_retried_once(
    http: httpx.AsyncClient, proxy: PostgresProxy, member: FleetUser
) -> None:
    proxy.cut_when(b"from sessions s")  # before execution: the viewer of the context
    response = await post(http, VIEWER, member.token)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": {"email": member.email}}}
    assert proxy.cut_count == 1


async def test_a_read_that_loses_its_connection_twice_is_answered_503(
    http: httpx.AsyncClient, proxy: PostgresProxy, member: FleetUser
) -> None:
    proxy.cut_when(b"from users u where u.id = any", times=2)
    assert_unavailable(await post(http, VIEWER, member.token))
    assert proxy.cut_count == 2
    # The pool recovers by itself: the next read answers.
    assert (await post(http, VIEWER, member.token)).json()["data"]["viewer"]["email"]


async def test_a_write_that_loses_its_connection_is_answered_503_and_never_run_again(
    http: httpx.AsyncClient, proxy: PostgresProxy, member: FleetUser, db: asyncpg.Connection
) -> None:
    proxy.cut_when(b"insert into custom_groups", times=2)
    assert_unavailable(await post(http, CREATE_GROUP, member.token, name="Racks"))
    # One try only: a retry would have met the second cut (or created the group).
    assert proxy.cut_count == 1
    assert await db.fetchval("select count(*) from custom_groups") == 0


# ------------------------------------------------------ database down


async def test_with_the_database_down_every_answer_is_503_json_and_readyz_says_so(
    http: httpx.AsyncClient, proxy: PostgresProxy, member: FleetUser
) -> None:
    proxy.refusing = True
    proxy.cut_all()
    assert_unavailable(await post(http, VIEWER, member.token))
    assert_unavailable(await post(http, "{ __typename }", member.token))
    assert_unavailable(await post(http, CREATE_GROUP, member.token, name="Racks"))
    # A query over GET, and an automatic persisted query (looked up in the database).
    document = "{ viewer { email } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}
    signed_in = {**JSON_HEADERS, "Authorization": f"Bearer {member.token}"}
    assert_unavailable(await http.get("/graphql", params={"query": document}, headers=signed_in))
    assert_unavailable(
        await http.post("/graphql", json={"extensions": extensions}, headers=JSON_HEADERS)
    )
    ready = await http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert (await http.get("/healthz")).status_code == 200

    proxy.refusing = False
    answer = await post(http, VIEWER, member.token)
    assert answer.status_code == 200 and answer.json()["data"]["viewer"]["email"] == member.email


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------ escaping exceptions


async def _raises(request: Request) -> JSONResponse:
    raise RuntimeError("a bug with a secret in its message")


async def _stray_cancellation(request: Request) -> JSONResponse:
    # A future cancelled elsewhere and awaited here: CancelledError without
    # this request being cancelled.
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    await future
    raise AssertionError("unreachable")


async def _fails_midway(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"data":'
        raise RuntimeError("failed after the answer started")

    return StreamingResponse(chunks(), media_type="application/json")


@pytest.fixture
async def failing_app() -> AsyncIterator[httpx.AsyncClient]:
    # A bare router: the exception reaches the middleware as it does in the
    # app (Starlette's own plain-text fallback sits outside every middleware).
    app = Router(
        routes=[
            Route("/raises", _raises),
            Route("/cancelled", _stray_cancellation),
            Route("/midway", _fails_midway),
        ]
    )
    wrapped = RequestContextMiddleware(FailureMiddleware(app))
    transport = httpx.ASGITransport(app=wrapped, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("path", ["/raises", "/cancelled"])
async def test_an_exception_escaping_the_app_is_a_masked_json_500_logged_with_its_traceback(
    failing_app: httpx.AsyncClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service360.errors"):
        response = await failing_app.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "errors": [
            {
                "message": "Internal server error.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ]
    }
    assert "secret" not in response.text
    [record] = [r for r in caplog.records if r.name == "service360.errors"]
    assert record.levelno == logging.ERROR and record.exc_info is not None


async def test_an_exception_after_the_answer_started_closes_the_connection(
    failing_app: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing may be appended to a half-sent answer; it is logged and the
    # server drops the connection (the transport re-raises here).
    with caplog.at_level(logging.INFO, logger="service360.errors"):
        response = await failing_app.get("/midway")
    assert response.content == b'{"data":'
    assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_concurrent_failures_are_each_masked_with_their_own_request_id(
    http: httpx.AsyncClient, proxy: PostgresProxy, member: FleetUser
) -> None:
    # Five of ten concurrent writes lose their connection. Strawberry shares an
    # extension instance between concurrent operations: masking must not.
    proxy.cut_when(b"insert into custom_groups", times=5)
    answers = await asyncio.gather(
        *(post(http, CREATE_GROUP, member.token, name=f"Racks {n}") for n in range(10))
    )
    unavailable = [a for a in answers if a.status_code == 503]
    assert len(unavailable) == proxy.cut_count == 5
    for answer in unavailable:
        assert_unavailable(answer)
    for answer in answers:
        if answer.status_code == 200:
            assert "errors" not in answer.json(), answer.text
