"""Approving a new domain settles everyone waiting for it, and never makes a
second organization for a domain that already has one."""

from __future__ import annotations

import asyncpg

from tests.support.app import GraphQLClient
from tests.support.registration import (
    DECIDE,
    DESCRIBE,
    ORGANIZATION_INPUT,
    VIEWER,
    add_organization,
    as_customer,
    mails_to,
    no_errors,
    staff_token,
)


async def describe(client: GraphQLClient, token: str, legal_name: str) -> str:
    described = no_errors(
        await client.execute(
            DESCRIBE, {"input": {**ORGANIZATION_INPUT, "legalName": legal_name}}, token=token
        ),
        "submitOrganizationDetails",
    )
    request_id: str = described["viewer"]["registration"]["onboardingRequest"]["id"]
    return request_id


async def test_colleagues_waiting_for_the_domain_join_when_it_is_approved(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    founder, _ = await as_customer(client, db, "founder@newco.example")
    request_id = await describe(client, founder, "Newco SAS")
    waiting, _ = await as_customer(client, db, "waiting@newco.example")
    await describe(client, waiting, "Newco")
    describing, _ = await as_customer(client, db, "ops@paris.newco.example")
    other, _ = await as_customer(client, db, "someone@othernewco.example")

    staff = await staff_token(client, db)
    no_errors(
        await client.execute(DECIDE, {"id": request_id, "decision": "APPROVE"}, token=staff),
        "decideOnboardingRequest",
    )

    for token, role in ((founder, "ADMIN"), (waiting, "MEMBER"), (describing, "MEMBER")):
        viewer = (await client.execute(VIEWER, token=token))["data"]["viewer"]
        assert viewer["registration"]["step"] == "COMPLETE"
        assert viewer["organization"]["name"] == "Newco SAS" and viewer["role"] == role
    settled = (await client.execute(VIEWER, token=waiting))["data"]["viewer"]
    assert settled["registration"]["onboardingRequest"]["status"] == "APPROVED"
    assert "account_ready" in await mails_to(db, "waiting@newco.example")
    # A look-alike domain is not a subdomain: still waiting.
    outsider = (await client.execute(VIEWER, token=other))["data"]["viewer"]
    assert outsider["registration"]["step"] == "DESCRIBE_ORGANIZATION"
    assert await db.fetchval("select count(*) from organizations") == 1


async def test_approving_a_domain_that_found_an_organization_meanwhile_joins_it(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    founder, _ = await as_customer(client, db, "founder@newco.example")
    request_id = await describe(client, founder, "Newco SAS")
    await add_organization(db, "Newco Imported", "newco.example")

    staff = await staff_token(client, db)
    decided = no_errors(
        await client.execute(DECIDE, {"id": request_id, "decision": "APPROVE"}, token=staff),
        "decideOnboardingRequest",
    )["onboardingRequest"]
    assert decided["status"] == "APPROVED"
    assert decided["organization"]["name"] == "Newco Imported"
    viewer = (await client.execute(VIEWER, token=founder))["data"]["viewer"]
    assert viewer["registration"]["step"] == "COMPLETE" and viewer["role"] == "MEMBER"
    assert await db.fetchval("select count(*) from organizations") == 1
