"""GraphiQL's preloaded tabs (web/static/graphiql/tabs.json) work as a newcomer runs them.

On the demo data: sign in as the demo admin, the dashboard and the mobile
list with that token, then the registration tab's four mutations in order,
the code read where `make run` shows it (the mail).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
from graphql import parse, validate

from config import Settings
from db.demo import load_demo_data
from schema import build_schema
from tests.support.app import GraphQLClient
from tests.support.registration import latest_code

TABS = Path(__file__).resolve().parent.parent / "web" / "static" / "graphiql" / "tabs.json"


def tab(title: str) -> dict[str, Any]:
    tabs: list[dict[str, Any]] = json.loads(TABS.read_text())
    return next(t for t in tabs if t["title"] == title)


async def run(
    client: GraphQLClient,
    title: str,
    *,
    operation: str | None = None,
    token: str | None = None,
    replace: dict[str, str] | None = None,
) -> dict[str, Any]:
    chosen = tab(title)
    query = chosen["query"]
    for placeholder, value in (replace or {}).items():
        assert placeholder in query, placeholder
        query = query.replace(placeholder, value)
    variables = json.loads(chosen.get("variables") or "{}")
    response = await client.http.post(
        "/graphql",
        json={"query": query, "variables": variables, "operationName": operation},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_the_graphiql_tabs_run_on_the_demo_data_in_order(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    assert await load_demo_data(db)
    families = await run(client, "Welcome")
    assert len(families["productFamilies"]) >= 8
    signed_in = (await run(client, "Sign in"))["signIn"]
    assert signed_in["userErrors"] == [] and signed_in["viewer"]["role"] == "ADMIN"
    token = signed_in["session"]["token"]

    dashboard = await run(client, "Dashboard", token=token)
    assert dashboard["summary"]["productCount"] > 0

    # The subscription tab runs over graphql-transport-ws (tests/test_subscriptions*
    # drive that); here: it is a valid subscription of this schema.
    live = parse(tab("Live summary")["query"])
    assert validate(build_schema(Settings(env="test"))._schema, live) == []

    listed = (await run(client, "Mobile list", token=token))["products"]
    assert listed["totalCount"] > 0 and len(listed["nodes"]) == 20
    assert {p["health"] for p in listed["nodes"]} <= {"CRITICAL", "WARNING"}

    created = await run(client, "Registration", operation="CreateAccount")
    assert created["createAccount"]["registration"]["step"] == "VERIFY_EMAIL"
    code = await latest_code(db, "jane@acme.example")
    verified = await run(
        client,
        "Registration",
        operation="VerifyEmail",
        replace={"<the code from the log>": code},
    )
    jane = verified["verifyEmail"]["session"]["token"]
    chosen = await run(client, "Registration", operation="ChooseAccessType", token=jane)
    assert chosen["chooseAccessType"]["viewer"]["registration"]["step"] == "COMPLETE_PROFILE"
    profile = await run(client, "Registration", operation="SubmitProfessionalProfile", token=jane)
    viewer = profile["submitProfessionalProfile"]["viewer"]
    assert viewer["registration"] == {"step": "COMPLETE", "accessLevel": "FULL"}
    assert viewer["organization"]["name"] == "Acme Corporation"
