"""Whatever path and method a client tries, the answer is JSON with a code
(or the route's own success format), never Starlette's plain text, never a 5xx:
unknown paths, wrong methods on every route, /metrics refused, static assets,
a refused CORS preflight."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import orjson
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.datastructures import Secret

from config import Settings
from tests.support.app import running_app

METRICS_TOKEN = "metrics-" + "m" * 40
ROUTES = [
    "/graphql",
    "/healthz",
    "/readyz",
    "/favicon.ico",
    "/metrics",
    "/static/graphiql/init.js",
    "/static/graphiql/graphiql.min.css",
    "/static/graphiql/",
    "/static/graphiql/missing.js",
    "/static/graphiql/../../../config.py",
    "/",
    "/graphql/",
    "/GRAPHQL",
    "/nope",
    "/.env",
    "/healthz/x",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# What a route answers on success when it is not JSON: its own format.
SUCCESS_FORMATS = {
    "/favicon.ico": "image/svg+xml",
    "/static/graphiql/init.js": "text/javascript",
    "/static/graphiql/graphiql.min.css": "text/css",
    "/metrics": "text/plain; version=",  # Prometheus exposition
}
CODE = re.compile(r"[A-Z][A-Z0-9_]{2,63}")


@asynccontextmanager
async def edge(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as (app, _state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def problems(method: str, path: str, response: httpx.Response) -> Iterator[str]:
    """What is wrong with an answer (nothing: it is a coded JSON error or the
    route's own success)."""
    where = f"{method} {path} -> {response.status_code}"
    media = response.headers.get("content-type", "")
    if response.status_code >= 500:
        yield f"{where}: a 5xx"
        return
    if response.status_code < 400:
        if media.startswith("text/plain") and not path == "/metrics":
            yield f"{where}: plain text {response.text[:80]!r}"
        expected = SUCCESS_FORMATS.get(path)
        if expected and not media.startswith(expected) and not media.startswith("application/json"):
            yield f"{where}: {media}, not {expected}"
        return
    if not media.startswith("application/"):
        yield f"{where}: {media} {response.text[:80]!r}"
        return
    if method == "HEAD":
        return  # no body to read
    body = orjson.loads(response.content)
    error = body["errors"][0]
    code = error["extensions"]["code"]
    if not CODE.fullmatch(code):
        yield f"{where}: code {code!r}"
    if response.status_code == 405:
        if "allow" not in response.headers:
            yield f"{where}: no Allow header"
        elif code != "METHOD_NOT_ALLOWED":
            yield f"{where}: code {code} for a 405"
    if response.status_code == 404 and code != "NOT_FOUND":
        yield f"{where}: code {code} for a 404"


async def test_every_route_and_method_answers_json_with_a_code_or_its_own_format(
    settings: Settings,
) -> None:
    found: list[str] = []
    for token in (None, METRICS_TOKEN):
        configured = replace(
            settings, graphiql=True, metrics_token=Secret(token) if token else None
        )
        async with edge(configured) as http:
            for path in ROUTES:
                for method in METHODS:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    response = await http.request(method, path, headers=headers)
                    found.extend(problems(method, path, response))
    assert found == []


async def test_unknown_paths_and_wrong_methods_name_their_refusal(settings: Settings) -> None:
    async with edge(settings) as http:
        missing = await http.get("/nope")
        wrong_method = await http.post("/healthz")
        graphql_put = await http.put("/graphql")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # The request id of the answer, as every other error carries it.
    assert missing.json()["errors"][0]["extensions"]["requestId"] == missing.headers["x-request-id"]
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, HEAD"
    assert wrong_method.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert graphql_put.status_code == 405
    assert graphql_put.headers["allow"] == "GET, POST"
    assert graphql_put.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_metrics_refusals_are_json_and_without_a_token_look_like_any_missing_path(
    settings: Settings,
) -> None:
    async with edge(replace(settings, metrics_token=None)) as http:
        hidden = await http.get("/metrics")
        missing = await http.get("/no-such-path")
    async with edge(replace(settings, metrics_token=Secret(METRICS_TOKEN))) as http:
        refused = await http.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == missing.headers["content-type"]

    def without_id(response: httpx.Response) -> object:
        body = response.json()
        del body["errors"][0]["extensions"]["requestId"]
        return body

    assert without_id(hidden) == without_id(missing)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_refused_cors_preflight_is_json_with_a_code(settings: Settings) -> None:
    configured = replace(settings, cors_origins=("https://app.example",))
    async with edge(configured) as http:
        response = await http.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "CORS_REFUSED"


PATH_SEGMENT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#%/"),
    min_size=1,
    max_size=12,
)
RANDOM_PATHS = st.lists(PATH_SEGMENT, min_size=1, max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)


async def test_random_paths_and_methods_answer_json_with_a_code(settings: Settings) -> None:
    examples: list[tuple[str, str]] = []

    @hypothesis_settings(
        derandomize=True,
        max_examples=150,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(METHODS), RANDOM_PATHS)
    def collect(method: str, path: str) -> None:
        examples.append((method, path))

    collect()
    found: list[str] = []
    async with edge(replace(settings, graphiql=True)) as http:
        for method, path in examples:
            response = await http.request(method, path)
            found.extend(problems(method, path, response))
    assert len(examples) >= 100
    assert found == []
