"""Variables whose values do not fit their types are the client's mistake:
refused with BAD_USER_INPUT, on both executors, before any field runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from config import Settings
from tests.support.app import running_app

SITES = "query ($first: Int, $after: String) { sites(first: $first, after: $after) { totalCount } }"
DAYS = "query ($days: Int) { products(filter: {contractEndsWithinDays: $days}) { totalCount } }"
SIGN_IN = (
    'mutation ($email: String!) { signIn(email: $email, password: "x") { userErrors { code } } }'
)
DECIDE = (
    "mutation ($d: OnboardingDecision!)"
    ' { decideOnboardingRequest(id: "x", decision: $d) { userErrors { code } } }'
)
SITE_ACCESS = (
    "mutation ($i: SiteAccessInput!) { setMemberSiteAccess(input: $i) { userErrors { code } } }"
)


@pytest.mark.parametrize("executor", ["compiled", "stock"])
@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (DAYS, {"days": 2**31}),  # beyond a 32-bit Int
        (DAYS, {"days": -(2**31) - 1}),
        (SITES, {"first": 10**20}),
        (SITES, {"first": 1.5}),
        (SITES, {"first": "ten"}),
        (SITES, {"after": 0}),
        (SITES, {"after": True}),
        (SITES, {"after": ["a"]}),
        (SIGN_IN, {"email": None}),
        (SIGN_IN, {}),  # a required variable not given
        (DECIDE, {"d": "MAYBE"}),
        (SITE_ACCESS, {"i": {"scope": "ALL_SITES"}}),  # a required input field missing
    ],
)
async def test_variable_values_that_do_not_fit_their_types_are_bad_user_input(
    settings: Settings, executor: str, document: str, variables: dict[str, Any]
) -> None:
    async with running_app(replace(settings, graphql_executor=executor)) as (app, _):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            legacy = await http.post("/graphql", json={"query": document, "variables": variables})
            strict = await http.post(
                "/graphql",
                json={"query": document, "variables": variables},
                headers={"Accept": "application/graphql-response+json"},
            )
    body = legacy.json()
    assert legacy.status_code == 200
    assert body.get("data") is None
    assert body["errors"] and {e["extensions"]["code"] for e in body["errors"]} == {
        "BAD_USER_INPUT"
    }, body
    assert strict.status_code == 400
