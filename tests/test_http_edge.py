"""The HTTP edge as clients and operators meet it: GraphQL over HTTP status
codes, GraphiQL's page, body limit, CORS, compression, request ids, log
lines, Retry-After and graceful shutdown."""

from __future__ import annotations

import logging
import re
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.routing import Route

from app_state import app_state
from config import Settings
from resolvers.errors import PublicError
from tests.live_server import live_server
from tests.support.app import GraphQLClient, LifespanApp, graphql_post_scope, running_app
from web.graphql_app import GraphQLApp

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
FAMILIES = "query Families { productFamilies { name } }"


@asynccontextmanager
async def http_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as (app, _state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


# ------------------------------------------------------- GraphQL over HTTP


async def test_parse_errors_are_400_under_the_spec_media_type_and_200_under_json(
    client: GraphQLClient,
) -> None:
    strict = await client.http.post(
        "/graphql", json={"query": "{ productFamilies {"}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    legacy = await client.http.post(
        "/graphql", json={"query": "{ productFamilies {"}, headers={"Accept": "application/json"}
    )
    assert strict.status_code == 400
    assert strict.headers["content-type"] == GRAPHQL_RESPONSE_JSON + "; charset=utf-8"
    assert "data" not in strict.json()
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json; charset=utf-8"
    assert legacy.json()["errors"][0]["message"].startswith("Syntax Error")


async def test_field_errors_keep_200_under_the_spec_media_type(client: GraphQLClient) -> None:
    # A field error happens during execution: the answer has data (here null).
    response = await client.http.post(
        "/graphql",
        json={"query": '{ node(id: "not-an-id") { id } }'},
        headers={"Accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 200
    assert "data" in response.json()


async def test_mutations_over_get_are_refused_with_405(client: GraphQLClient) -> None:
    response = await client.http.get(
        "/graphql", params={"query": "mutation { __typename }"}, headers={"Accept": "*/*"}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.json()["errors"][0]["message"]


async def test_other_methods_are_refused_with_405_and_allow(client: GraphQLClient) -> None:
    response = await client.http.put("/graphql", json={"query": FAMILIES})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_unacceptable_accept_header_is_refused_with_406(client: GraphQLClient) -> None:
    response = await client.http.post(
        "/graphql", json={"query": FAMILIES}, headers={"Accept": "application/xml"}
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_a_post_that_is_not_json_is_refused_with_415(client: GraphQLClient) -> None:
    response = await client.http.post(
        "/graphql", content=b"query=%7B__typename%7D", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'[{"query": "{ __typename }"}]', "Batched requests"),
        (b'{"query": "{ __typename }", "variables": "x"}', "`variables`"),
        (b'{"query": 42}', "`query`"),
        (b"{}", "no `query`"),
    ],
)
async def test_malformed_requests_are_400_with_a_clear_error(
    client: GraphQLClient, body: bytes, message: str
) -> None:
    response = await client.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]


# ---------------------------------------------------------------- GraphiQL


async def test_graphiql_page_loads_only_its_own_assets_under_a_self_only_csp(
    client: GraphQLClient,
) -> None:
    page = await client.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "connect-src 'self'" in csp and "unsafe" not in csp
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(references) == 6
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    for reference in references:
        assert reference.startswith("/static/graphiql/")
        asset = await client.http.get(reference)
        assert asset.status_code == 200, reference
    bundle = await client.http.get("/static/graphiql/graphiql.min.js")
    assert len(bundle.content) > 1_000_000
    licence = await client.http.get("/static/graphiql/LICENSE")
    assert "MIT License" in licence.text


# ------------------------------------------------------------ HTTP hygiene


async def test_bodies_over_the_limit_are_refused_with_413(settings: Settings) -> None:
    query = "{ productFamilies { name } }" + " " * 5000
    async with http_client(replace(settings, max_body_bytes=2048)) as http:
        declared = await http.post("/graphql", json={"query": query})

        async def chunks() -> AsyncIterator[bytes]:
            payload = orjson.dumps({"query": query})
            for start in range(0, len(payload), 1000):
                yield payload[start : start + 1000]

        streamed = await http.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
        small = await http.post("/graphql", json={"query": "{ productFamilies { name } }"})
    for response in (declared, streamed):
        assert response.status_code == 413
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert "larger than 2048 bytes" in error["message"]
    assert small.status_code == 200


async def test_cors_preflight_is_answered_for_configured_origins_only(settings: Settings) -> None:
    preflight = {
        "Origin": "https://dashboard.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with http_client(replace(settings, cors_origins=("https://dashboard.example",))) as http:
        allowed = await http.options("/graphql", headers=preflight)
        other = await http.options(
            "/graphql", headers={**preflight, "Origin": "https://evil.example"}
        )
        simple = await http.post(
            "/graphql", json={"query": FAMILIES}, headers={"Origin": "https://dashboard.example"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://dashboard.example"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    assert simple.headers["access-control-allow-origin"] == "https://dashboard.example"
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


async def test_no_cors_headers_by_default(client: GraphQLClient) -> None:
    response = await client.http.post(
        "/graphql", json={"query": FAMILIES}, headers={"Origin": "https://dashboard.example"}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_large_answers_are_gzipped_and_shrink_several_times(client: GraphQLClient) -> None:
    query = "{ __schema { types { name description fields { name description } } } }"
    response = await client.http.post(
        "/graphql", json={"query": query}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["data"]["__schema"]["types"]
    compressed = response.num_bytes_downloaded
    assert len(response.content) > 4 * compressed

    small = await client.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept-Encoding": "gzip"}
    )
    assert "content-encoding" not in small.headers


async def test_request_id_is_echoed_from_a_trusted_proxy_only(settings: Settings) -> None:
    given = {"X-Request-ID": "proxy-req-0001"}
    async with http_client(settings) as http:  # the client is 127.0.0.1: trusted by default
        trusted = await http.post("/graphql", json={"query": FAMILIES}, headers=given)
    async with http_client(replace(settings, trusted_proxies=("10.0.0.0/8",))) as http:
        untrusted = await http.post("/graphql", json={"query": FAMILIES}, headers=given)
    assert trusted.headers["x-request-id"] == "proxy-req-0001"
    assert untrusted.headers["x-request-id"] != "proxy-req-0001"
    assert re.fullmatch(r"[0-9a-f]{16}", untrusted.headers["x-request-id"])


def test_a_trusted_proxy_gives_the_client_address_and_request_id_under_uvicorn(
    database_url: str, tmp_path: Path
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "from-the-proxy-1"}
    with live_server(database_url, tmp_path / "trusted.log") as server:  # 127.0.0.1 trusted
        trusted = httpx.post(server.url + "/graphql", json={"query": FAMILIES}, headers=forwarded)
        trusted_log = server.log_when('"msg":"request"')
    with live_server(
        database_url, tmp_path / "untrusted.log", TRUSTED_PROXIES="10.0.0.0/8"
    ) as server:
        untrusted = httpx.post(server.url + "/graphql", json={"query": FAMILIES}, headers=forwarded)
        untrusted_log = server.log_when('"msg":"request"')

    def request_lines(log: str) -> list[dict[str, Any]]:
        lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("msg") == "request"]

    assert trusted.headers["x-request-id"] == "from-the-proxy-1"
    [line] = request_lines(trusted_log)
    assert (line["client"], line["request_id"], line["operation"]) == (
        "203.0.113.9",
        "from-the-proxy-1",
        "Families",
    )
    assert untrusted.headers["x-request-id"] != "from-the-proxy-1"
    [line] = request_lines(untrusted_log)
    assert line["client"] == "127.0.0.1"
    # No `server: uvicorn` banner.
    assert "server" not in trusted.headers and "server" not in untrusted.headers


async def test_the_request_log_line_has_request_id_operation_name_and_duration(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service360.request"):
        response = await client.http.post(
            "/graphql", json={"query": FAMILIES}, headers={"X-Request-ID": "log-line-test-1"}
        )
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "service360.request"]
    fields: dict[str, Any] = record.__dict__
    assert fields["operation"] == "Families"
    assert fields["status"] == 200
    assert fields["duration_ms"] >= 0
    assert fields["sql_statements"] >= 1
    from telemetry import JsonFormatter

    line = orjson.loads(JsonFormatter().format(record))
    assert line["operation"] == "Families"
    assert "duration_ms" in line


async def test_api_answers_carry_security_headers(client: GraphQLClient) -> None:
    response = await client.http.post("/graphql", json={"query": FAMILIES})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client_address"),
    [
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "[2001:db8::7]", "2001:db8::7"),
        # Not an address: the proxy's word is not taken, whatever it says.
        ("127.0.0.1", "evil.example", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.9, x%0a", "127.0.0.1"),
        ("127.0.0.1", "' or 1=1 --", "127.0.0.1"),
        # Not from a trusted proxy: ignored.
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),
    ],
)
async def test_x_forwarded_for_is_read_only_as_addresses_from_trusted_proxies(
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    peer: str,
    forwarded_for: str,
    client_address: str,
) -> None:
    async with running_app(settings) as (app, _state):
        transport = httpx.ASGITransport(app=app, client=(peer, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            with caplog.at_level(logging.INFO, logger="service360.request"):
                await http.post(
                    "/graphql", json={"query": FAMILIES}, headers={"X-Forwarded-For": forwarded_for}
                )
    [record] = [r for r in caplog.records if r.name == "service360.request"]
    assert record.__dict__["client"] == client_address


async def test_answers_to_post_are_never_stored_and_get_answers_are_revalidated(
    client: GraphQLClient,
) -> None:
    sign_in = """mutation { signIn(email: "nobody@acme.example", password: "wrong-password-1")
      { session { token } userErrors { code } } }"""
    for body in ({"query": sign_in}, {"query": FAMILIES}, {"query": "{ nope"}):
        response = await client.http.post("/graphql", json=body)
        assert response.headers["cache-control"] == "no-store", body
    malformed = await client.http.post(
        "/graphql", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.headers["cache-control"] == "no-store"
    get = await client.http.get("/graphql", params={"query": FAMILIES})
    assert get.headers["cache-control"] == "private, no-cache"


async def test_strict_transport_security_only_when_the_service_is_behind_tls(
    settings: Settings,
) -> None:
    async with http_client(replace(settings, hsts=True)) as http:
        response = await http.post("/graphql", json={"query": FAMILIES})
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        health = await http.get("/healthz")
        assert "strict-transport-security" in health.headers
    async with http_client(settings) as http:
        response = await http.post("/graphql", json={"query": FAMILIES})
        assert "strict-transport-security" not in response.headers


# --------------------------------------------------------------- Retry-After


@strawberry.type
class RefusingQuery:
    @strawberry.field
    def busy(self) -> str:
        raise PublicError("Too many requests; try again later.", "RATE_LIMITED", retryAfter=30)

    @strawberry.field
    def fine(self) -> str:
        return "ok"


async def test_a_whole_request_refused_as_rate_limited_carries_retry_after(
    settings: Settings,
) -> None:
    view = GraphQLApp(strawberry.Schema(query=RefusingQuery), graphiql=False)
    async with app_state(settings) as state:
        app = LifespanApp(Starlette(routes=[Route("/graphql", view)]), state)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            strict = await http.post(
                "/graphql", json={"query": "{ busy }"}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
            )
            legacy = await http.post("/graphql", json={"query": "{ busy }"})
            partly = await http.post("/graphql", json={"query": "{ fine busy }"})
    assert strict.status_code == 429
    assert strict.headers["retry-after"] == "30"
    assert legacy.status_code == 200
    assert legacy.headers["retry-after"] == "30"
    assert legacy.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # `busy` is non-null: its error nulls the whole answer, so `fine` too.
    assert partly.headers.get("retry-after") == "30"


# ---------------------------------------------------------- graceful shutdown


def test_sigterm_lets_an_in_flight_request_finish(database_url: str, tmp_path: Path) -> None:
    body = orjson.dumps({"query": FAMILIES})
    with live_server(database_url, tmp_path / "server.log") as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            head = (
                f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            conn.sendall(head + body[:10])
            # A full round trip on another connection: by its end the server
            # has read the first request's head, so that request is in flight.
            assert httpx.get(server.url + "/healthz").status_code == 200
            server.process.send_signal(signal.SIGTERM)
            conn.sendall(body[10:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in server.log()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK"
    payload = orjson.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert {"name": "PowerEdge"} in payload["data"]["productFamilies"]


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("document", "requested", "expected"),
    [
        ("query Families { productFamilies { name } }", None, "Families"),
        ("{ productFamilies { name } }", None, None),
        ("# a comment\nmutation SignIn($e: String!) { signIn(email: $e) }", None, "SignIn"),
        (
            "fragment F on ProductFamily { name }\nquery WithFragment { x { ...F } }",
            None,
            "WithFragment",
        ),
        ("query A { a } query B { b }", "B", "B"),
        ('query { name(arg: "query Fake") }', None, None),
        ("query Broken { unterminated", None, "Broken"),
        ('"unterminated string', None, None),
    ],
)
def test_the_operation_name_for_logs_and_metrics(
    document: str, requested: str | None, expected: str | None
) -> None:
    from web.http_graphql import operation_name_in

    assert operation_name_in(document, requested) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE_JSON),
        ("application/json;q=0.9, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.5, application/json", "application/json"),
        ("application/*", "application/json"),
        ("application/json; charset=utf-16", None),
        ("application/json;q=0, text/html", None),
    ],
)
def test_content_negotiation(accept: str | None, expected: str | None) -> None:
    from web.graphql_app import OFFERED_MEDIA_TYPES
    from web.negotiation import choose_media_type

    assert choose_media_type(accept, OFFERED_MEDIA_TYPES) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("PERSISTED_QUERIES", "sometimes"), ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.example")],
)
def test_bad_edge_settings_stop_the_start_with_one_line(name: str, value: str) -> None:
    from config import ConfigError

    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


async def test_a_client_gone_before_its_body_arrived_is_no_internal_error(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that declares a body, sends part of it and closes: its doing, not
    an ERROR with a traceback (anyone could fill the error log and alerts)."""
    caplog.set_level(logging.INFO)
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"query": "{ produ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = graphql_post_scope(content_length=5000)
    async with running_app(settings) as (app, _state):
        await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
