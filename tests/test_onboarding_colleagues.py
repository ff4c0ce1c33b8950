"""Approving a new domain settles everyone waiting for it, and never makes a
second organization for a domain that already has one."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from db.accounts_admin import create_staff_user
from security.passwords import hash_password_sync
from tests.support.app import GraphQLClient
from tests.support.registration import (
    DECIDE,
    DESCRIBE,
    ORGANIZATION_INPUT,
    PASSWORD,
    SIGN_IN,
    VIEWER,
    add_organization,
    as_customer,
    mails_to,
    no_errors,
    payload,
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


async def test_concurrent_decisions_on_one_domains_requests_all_answer_without_deadlock(
    client: GraphQLClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    people = [f"p{n}@newco.example" for n in range(5)] + ["ops@paris.newco.example"]
    tokens: list[str] = []
    requests: list[str] = []
    for email in people:
        token, _ = await as_customer(client, db, email)
        tokens.append(token)
        requests.append(await describe(client, token, "Newco SAS"))
    # Two staff members with their own sessions, deciding at the same time.
    first_staff = await staff_token(client, db)
    await create_staff_user(db, "staff2@service360.example", hash_password_sync(PASSWORD))
    signed = await client.execute(
        SIGN_IN, {"email": "staff2@service360.example", "password": PASSWORD}
    )
    second_staff = no_errors(signed, "signIn")["session"]["token"]
    decisions = ["APPROVE", "APPROVE", "REJECT", "APPROVE", "REJECT", "APPROVE"]
    answers = await asyncio.gather(
        *(
            client.execute(
                DECIDE,
                {"id": request_id, "decision": decision, "note": "Not this one."},
                token=first_staff if index % 2 else second_staff,
            )
            for index, (request_id, decision) in enumerate(zip(requests, decisions, strict=True))
        )
    )

    for answer in answers:
        # The first approval to hold the domain settles every request of it;
        # a decision that comes later finds its request decided.
        codes = [e["code"] for e in payload(answer, "decideOnboardingRequest")["userErrors"]]
        assert codes in ([], ["WRONG_STEP"]), answer
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # One organization for newco.example, which every waiting colleague joined
    # (a rejected requester was waiting again, so joined it too). When the
    # paris.newco.example request was approved first, that subdomain got an
    # organization of its own, as its own domain: which one staff reach first
    # is theirs to decide, and either way nothing is owned twice.
    owners = {
        r["domain"]: r["n"]
        for r in await db.fetch(
            "select domain::text, count(*) as n from organization_domains group by domain"
        )
    }
    assert owners.get("newco.example") == 1 and set(owners) <= {
        "newco.example",
        "paris.newco.example",
    }, owners
    organizations = await db.fetchval("select count(*) from organizations")
    assert organizations == len(owners)
    for token in tokens:
        viewer = (await client.execute(VIEWER, token=token))["data"]["viewer"]
        assert viewer["registration"]["step"] == "COMPLETE"
        assert viewer["organization"]["name"] == "Newco SAS"
    # Each organization has its founder as its one administrator.
    assert await db.fetchval("select count(*) from users where role = 'ADMIN'") == organizations
