"""Helpers for the registration, session and outbox tests (no tests here)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from db.accounts_admin import create_staff_user
from security.passwords import hash_password_sync
from tests.support.app import GraphQLClient

PASSWORD = "violet-harbor-lantern-42"
USER_FIELDS = """
    id email firstName lastName jobTitle businessPhone country preferredLanguage role siteScope
    organization { id name division domains }
    registration {
        step accessLevel accessType
        organizationChoices { id name division city country }
        onboardingRequest { id status legalName domain country decisionNote organization { name } }
        partnerReferences { title url }
    }
"""
ERRORS = "userErrors { field message code }"

CREATE_ACCOUNT = f"""
mutation($input: CreateAccountInput!) {{
  createAccount(input: $input) {{ registration {{ step accessLevel accessType }} {ERRORS} }}
}}"""
VERIFY_EMAIL = f"""
mutation($email: String!, $code: String!) {{
  verifyEmail(email: $email, code: $code) {{
    session {{ token expiresAt }} viewer {{ {USER_FIELDS} }} {ERRORS}
  }}
}}"""
RESEND = f"""
mutation($email: String!) {{ resendVerificationCode(email: $email) {{ {ERRORS} }} }}"""
CHOOSE = f"""
mutation($type: AccessType!) {{
  chooseAccessType(accessType: $type) {{ viewer {{ {USER_FIELDS} }} {ERRORS} }}
}}"""
PROFILE = f"""
mutation($input: ProfessionalProfileInput!) {{
  submitProfessionalProfile(input: $input) {{ viewer {{ {USER_FIELDS} }} {ERRORS} }}
}}"""
SELECT = f"""
mutation($id: ID!) {{
  selectOrganization(organizationId: $id) {{ viewer {{ {USER_FIELDS} }} {ERRORS} }}
}}"""
DESCRIBE = f"""
mutation($input: OrganizationDetailsInput!) {{
  submitOrganizationDetails(input: $input) {{ viewer {{ {USER_FIELDS} }} {ERRORS} }}
}}"""
DECIDE = f"""
mutation($id: ID!, $decision: OnboardingDecision!, $note: String) {{
  decideOnboardingRequest(id: $id, decision: $decision, note: $note) {{
    onboardingRequest {{
      id status legalName domain decisionNote decidedAt
      requester {{ email }} organization {{ name domains }}
    }}
    {ERRORS}
  }}
}}"""
SIGN_IN = f"""
mutation($email: String!, $password: String!) {{
  signIn(email: $email, password: $password) {{
    session {{ token expiresAt }} viewer {{ email registration {{ step accessLevel }} }} {ERRORS}
  }}
}}"""
SIGN_OUT = f"mutation {{ signOut {{ {ERRORS} }} }}"
REQUEST_RESET = f"""
mutation($email: String!) {{ requestPasswordReset(email: $email) {{ {ERRORS} }} }}"""
RESET = f"""
mutation($email: String!, $code: String!, $password: String!) {{
  resetPassword(email: $email, code: $code, newPassword: $password) {{ {ERRORS} }}
}}"""
VIEWER = f"{{ viewer {{ {USER_FIELDS} }} }}"

ADDRESS = {"line1": "1 Main Street", "city": "Lyon", "postalCode": "69001", "country": "FR"}
PROFILE_INPUT = {
    "companyName": "Acme",
    "jobTitle": "Storage engineer",
    "businessPhone": "+33 4 72 00 00 00",
    "address": ADDRESS,
}
ORGANIZATION_INPUT = {
    "legalName": "Newco SAS",
    "website": "https://newco.example",
    "address": ADDRESS,
    "employeeCount": 250,
}


def account_input(email: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "email": email,
        "password": PASSWORD,
        "firstName": "Jane",
        "lastName": "Doe",
    }
    values.update(overrides)
    return values


async def add_organization(
    db: asyncpg.Connection,
    name: str,
    domain: str,
    division: str | None = None,
    kind: str = "COMPANY",
    city: str = "Paris",
) -> int:
    organization_id: int = await db.fetchval(
        "insert into organizations (name, division, kind, city, country) "
        "values ($1, $2, $3, $4, 'FR') returning id",
        name,
        division,
        kind,
        city,
    )
    await db.execute(
        "insert into organization_domains (domain, organization_id) values ($1, $2)",
        domain,
        organization_id,
    )
    return organization_id


async def latest_code(
    db: asyncpg.Connection, email: str, template: str = "verification_code"
) -> str:
    body = await db.fetchval(
        "select body from mail_outbox where recipient = $1 and template = $2"
        " order by id desc limit 1",
        email,
        template,
    )
    assert body is not None, f"no {template} mail to {email}"
    match = re.search(r"\b(\d{6})\b", body)
    assert match is not None
    return match.group(1)


async def mails_to(db: asyncpg.Connection, email: str) -> list[str]:
    rows = await db.fetch(
        "select template from mail_outbox where recipient = $1 order by id", email
    )
    return [row["template"] for row in rows]


def payload(body: dict[str, Any], name: str) -> dict[str, Any]:
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][name]
    return result


def no_errors(body: dict[str, Any], name: str) -> dict[str, Any]:
    result = payload(body, name)
    assert result["userErrors"] == [], result["userErrors"]
    return result


def error_codes(body: dict[str, Any], name: str) -> list[str]:
    return [error["code"] for error in payload(body, name)["userErrors"]]


async def signed_up(
    client: GraphQLClient, db: asyncpg.Connection, email: str, **overrides: Any
) -> str:
    """Create and verify an account; the session token (step CHOOSE_ACCESS_TYPE)."""
    no_errors(
        await client.execute(CREATE_ACCOUNT, {"input": account_input(email, **overrides)}),
        "createAccount",
    )
    code = await latest_code(db, email)
    verified = no_errors(
        await client.execute(VERIFY_EMAIL, {"email": email, "code": code}), "verifyEmail"
    )
    token: str = verified["session"]["token"]
    return token


async def as_customer(
    client: GraphQLClient, db: asyncpg.Connection, email: str
) -> tuple[str, dict[str, Any]]:
    """Sign up, choose CUSTOMER_EMPLOYEE, submit the profile: (token, viewer)."""
    token = await signed_up(client, db, email)
    no_errors(
        await client.execute(CHOOSE, {"type": "CUSTOMER_EMPLOYEE"}, token=token), "chooseAccessType"
    )
    result = no_errors(
        await client.execute(PROFILE, {"input": PROFILE_INPUT}, token=token),
        "submitProfessionalProfile",
    )
    return token, result["viewer"]


async def staff_token(client: GraphQLClient, db: asyncpg.Connection) -> str:
    await create_staff_user(db, "staff@service360.example", hash_password_sync(PASSWORD))
    signed = no_errors(
        await client.execute(SIGN_IN, {"email": "staff@service360.example", "password": PASSWORD}),
        "signIn",
    )
    token: str = signed["session"]["token"]
    return token
