"""What names and addresses may hold, and who reads an onboarding request
(issue 12 Low): names refuse format and separator characters, local parts
refuse `%` and `!`, and a member's request is theirs and the staff's only."""

from __future__ import annotations

import asyncpg
import pytest

from config import Settings
from resolvers.registration import Checker
from tests.support.app import GraphQLClient, without_throttles
from tests.support.registration import (
    CREATE_ACCOUNT,
    DECIDE,
    DESCRIBE,
    ORGANIZATION_INPUT,
    PROFILE,
    PROFILE_INPUT,
    VIEWER,
    account_input,
    as_customer,
    no_errors,
    payload,
    signed_up,
    staff_token,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_throttles(settings)


@pytest.mark.parametrize(
    "name",
    [
        "Jane\u202eeod",  # right-to-left override (Cf)
        "Ja\u200bne",  # zero-width space (Cf)
        "Ja\u200dne",  # zero-width joiner (Cf)
        "Jane\u2028Doe",  # line separator (Zl)
        "Jane\u2029Doe",  # paragraph separator (Zp)
        "\ufeffJane",  # byte order mark (Cf)
    ],
)
async def test_names_refuse_format_and_separator_characters(
    client: GraphQLClient, db: asyncpg.Connection, name: str
) -> None:
    answer = await client.execute(
        CREATE_ACCOUNT, {"input": account_input("jane@acme.example", firstName=name)}
    )
    errors = payload(answer, "createAccount")["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "firstName"], "INVALID")]
    assert await db.fetchval("select count(*) from users") == 0


async def test_profile_and_organization_names_refuse_them_too(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token = await signed_up(client, db, "pat@newfirm.example")
    await client.execute(
        "mutation { chooseAccessType(accessType: CUSTOMER_EMPLOYEE) { userErrors { code } } }",
        token=token,
    )
    answer = await client.execute(
        PROFILE, {"input": {**PROFILE_INPUT, "jobTitle": "Storage\u202e engineer"}}, token=token
    )
    fields = [e["field"] for e in payload(answer, "submitProfessionalProfile")["userErrors"]]
    assert fields == [["input", "jobTitle"]]
    no_errors(
        await client.execute(PROFILE, {"input": PROFILE_INPUT}, token=token),
        "submitProfessionalProfile",
    )
    answer = await client.execute(
        DESCRIBE, {"input": {**ORGANIZATION_INPUT, "legalName": "New\u200bfirm SAS"}}, token=token
    )
    fields = [e["field"] for e in payload(answer, "submitOrganizationDetails")["userErrors"]]
    assert fields == [["input", "legalName"]]


def test_ordinary_accented_and_non_latin_names_are_accepted() -> None:
    checker = Checker("en")
    for name in ("Zoë", "José María", "Nguyễn", "Ольга", "محمد", "李小龍", "O'Brien-Smith"):
        assert checker.text(name, ["firstName"], 100) == name
    assert checker.errors == []


@pytest.mark.parametrize("email", ["x%evil.example@acme.example", "evil.example!x@acme.example"])
async def test_local_parts_with_percent_or_bang_are_refused(
    client: GraphQLClient, db: asyncpg.Connection, email: str
) -> None:
    answer = await client.execute(CREATE_ACCOUNT, {"input": account_input(email)})
    errors = payload(answer, "createAccount")["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "email"], "INVALID")]
    assert await db.fetchval("select count(*) from mail_outbox") == 0


MEMBERS = """
{ viewer { organization { members { nodes {
    email registration { onboardingRequest { id status decisionNote } }
} } } } }
"""


async def test_an_admin_does_not_read_a_members_onboarding_request_or_the_staff_note(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    founder, _ = await as_customer(client, db, "founder@newco.example")
    described = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=founder),
        "submitOrganizationDetails",
    )
    request_id = described["viewer"]["registration"]["onboardingRequest"]["id"]
    member, _ = await as_customer(client, db, "member@newco.example")
    no_errors(
        await client.execute(
            DESCRIBE, {"input": {**ORGANIZATION_INPUT, "legalName": "Newco"}}, token=member
        ),
        "submitOrganizationDetails",
    )
    staff = await staff_token(client, db)
    no_errors(
        await client.execute(DECIDE, {"id": request_id, "decision": "APPROVE"}, token=staff),
        "decideOnboardingRequest",
    )
    members = (await client.execute(MEMBERS, token=founder))["data"]["viewer"]["organization"]
    nodes = members["members"]["nodes"]
    requests = {n["email"]: n["registration"]["onboardingRequest"] for n in nodes}
    assert requests["member@newco.example"] is None
    assert requests["founder@newco.example"]["status"] == "APPROVED"
    # The member still reads their own, with the staff's note.
    own = (await client.execute(VIEWER, token=member))["data"]["viewer"]
    assert own["registration"]["onboardingRequest"]["status"] == "APPROVED"
    assert own["registration"]["onboardingRequest"]["decisionNote"]
