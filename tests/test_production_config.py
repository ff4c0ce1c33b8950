"""ENV=production: what it refuses to start with, and what it does not serve."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import httpx
import pytest
from starlette.datastructures import Secret

from config import ConfigError, Settings
from tests.support.app import GraphQLClient, SMTPServer, running_app
from tests.support.registration import CREATE_ACCOUNT, account_input, latest_code

PRODUCTION = {
    "ENV": "production",
    "SECRET_KEY": "k" * 40,
    "SMTP_URL": "smtp://mail.internal.example:25",
    "TRUSTED_PROXIES": "10.0.0.0/8",
}


def test_a_complete_production_configuration_starts() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.is_production
    assert not settings.introspection_enabled
    assert not settings.graphiql_enabled
    assert not settings.suggestions_enabled


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"SMTP_URL": ""}, "SMTP_URL"),
        ({"TRUSTED_PROXIES": "*"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "10.0.0.1, *"}, "TRUSTED_PROXIES"),
        ({"SECRET_KEY": "short-secret"}, "SECRET_KEY"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"METRICS_TOKEN": "too-short"}, "METRICS_TOKEN"),
        ({"GRAPHQL_INTROSPECTION": "maybe"}, "GRAPHQL_INTROSPECTION"),
    ],
)
def test_production_refuses_to_start_with_one_line_naming_the_setting(
    change: dict[str, str],
    setting: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from server import main

    environment = {**PRODUCTION, **change}
    with pytest.raises(ConfigError, match=setting):
        Settings.from_env(environment)
    # The command line stops before anything starts, with one line on stderr.
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: " + setting)


def test_outside_production_the_same_settings_start() -> None:
    development = Settings.from_env({"TRUSTED_PROXIES": "*"})
    assert development.trusted_proxies == ("*",) and development.smtp_url is None
    assert development.introspection_enabled and development.suggestions_enabled
    # Each can be turned back on in production.
    enabled = Settings.from_env(
        {**PRODUCTION, "GRAPHQL_INTROSPECTION": "on", "GRAPHIQL": "on", "GRAPHQL_SUGGESTIONS": "on"}
    )
    assert enabled.introspection_enabled and enabled.graphiql_enabled
    assert enabled.suggestions_enabled


@pytest.fixture
async def production(settings: Settings, smtp_server: SMTPServer) -> AsyncIterator[GraphQLClient]:
    live = replace(
        settings,
        env="production",
        secret_key=Secret("p" * 40),
        smtp_url=smtp_server.url,
        mail_poll_seconds=0.05,
    )
    async with running_app(live) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)


async def test_production_serves_no_introspection_graphiql_or_suggestions(
    production: GraphQLClient, client: GraphQLClient
) -> None:
    introspection = "{ __schema { queryType { name } } }"
    typed = await production.execute(introspection)
    assert typed.get("data") is None
    assert typed["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await production.execute("{ __typename }")) == {"data": {"__typename": "Query"}}
    assert "errors" not in await client.execute(introspection)  # development

    page = await production.http.get("/graphql", headers={"Accept": "text/html"})
    assert "text/html" not in page.headers.get("content-type", "")
    assert (await production.http.get("/static/graphiql/init.js")).status_code == 404
    assert (await client.http.get("/static/graphiql/init.js")).status_code == 200

    # Field, argument, enum value (literal and variable) and type typos.
    typos = [
        ("{ productFamilys { id } }", None),
        ("{ products(frist: 1) { totalCount } }", None),
        ("{ products(filter: {health: [CRITICLA]}) { totalCount } }", None),
        (
            "query($h: [Health!]) { products(filter: {health: $h}) { totalCount } }",
            {"h": ["CRITICLA"]},
        ),
        ("query($f: ProductFiltr) { products(filter: $f) { totalCount } }", None),
    ]
    for query, variables in typos:
        quiet = await production.execute(query, variables)
        chatty = await client.execute(query, variables)
        assert "Did you mean" in str(chatty["errors"]), query
        assert "Did you mean" not in str(quiet["errors"]), quiet
        for hint in ("productFamilies", "first", "CRITICAL", "ProductFilter"):
            assert hint not in str(quiet["errors"]), (hint, quiet)


async def test_production_never_logs_one_time_codes(
    production: GraphQLClient,
    smtp_server: SMTPServer,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        await production.execute(CREATE_ACCOUNT, {"input": account_input("ana@acme.example")})
        for _ in range(200):
            if smtp_server.messages:
                break
            await asyncio.sleep(0.05)
    assert len(smtp_server.messages) == 1  # sent by SMTP, not to the console
    code = await latest_code(db, "ana@acme.example")
    # Every log record but those of the test's own SMTP server (aiosmtpd's "mail.log").
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert ours and all(code not in r.getMessage() + str(r.__dict__) for r in ours)
