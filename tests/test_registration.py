"""The registration state machine (DESIGN §4), end to end through GraphQL."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from config import Settings
from resolvers.ids import encode_id
from tests.support.app import GraphQLClient, without_throttles
from tests.support.registration import (
    CHOOSE,
    CREATE_ACCOUNT,
    DECIDE,
    DESCRIBE,
    ORGANIZATION_INPUT,
    PASSWORD,
    PROFILE,
    PROFILE_INPUT,
    SELECT,
    SIGN_IN,
    VERIFY_EMAIL,
    VIEWER,
    account_input,
    add_organization,
    as_customer,
    error_codes,
    latest_code,
    mails_to,
    no_errors,
    payload,
    signed_up,
    staff_token,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Throttling has its own tests; here it must not get in the way.
    return without_throttles(settings)


async def test_acme_employee_goes_from_create_account_to_complete_with_full_access(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    acme = await add_organization(db, "Acme Corporation", "acme.example")
    created = no_errors(
        await client.execute(CREATE_ACCOUNT, {"input": account_input("jane@acme.example")}),
        "createAccount",
    )
    assert created["registration"] == {
        "step": "VERIFY_EMAIL",
        "accessLevel": "NONE",
        "accessType": None,
    }
    assert await mails_to(db, "jane@acme.example") == ["verification_code"]

    code = await latest_code(db, "jane@acme.example")
    verified = no_errors(
        await client.execute(VERIFY_EMAIL, {"email": "jane@acme.example", "code": code}),
        "verifyEmail",
    )
    token = verified["session"]["token"]
    assert verified["viewer"]["registration"]["step"] == "CHOOSE_ACCESS_TYPE"
    assert verified["viewer"]["registration"]["accessLevel"] == "LIMITED"

    chosen = no_errors(
        await client.execute(CHOOSE, {"type": "CUSTOMER_EMPLOYEE"}, token=token),
        "chooseAccessType",
    )
    assert chosen["viewer"]["registration"]["step"] == "COMPLETE_PROFILE"
    assert chosen["viewer"]["registration"]["accessType"] == "CUSTOMER_EMPLOYEE"

    done = no_errors(
        await client.execute(PROFILE, {"input": PROFILE_INPUT}, token=token),
        "submitProfessionalProfile",
    )["viewer"]
    assert done["registration"]["step"] == "COMPLETE"
    assert done["registration"]["accessLevel"] == "FULL"
    assert done["role"] == "MEMBER" and done["siteScope"] == "ALL_SITES"
    assert done["organization"]["id"] == encode_id("Organization", acme)
    assert done["organization"]["domains"] == ["acme.example"]
    assert done["jobTitle"] == "Storage engineer" and done["country"] == "FR"
    assert await mails_to(db, "jane@acme.example") == ["verification_code", "account_ready"]

    viewer = (await client.execute(VIEWER, token=token))["data"]["viewer"]
    assert viewer["email"] == "jane@acme.example"
    assert viewer["registration"]["accessLevel"] == "FULL"


async def test_an_email_on_a_subdomain_joins_the_organization_of_its_parent_domain(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await add_organization(db, "Acme Corporation", "acme.example")
    _, viewer = await as_customer(client, db, "lee@emea.acme.example")
    assert viewer["registration"]["step"] == "COMPLETE"
    assert viewer["organization"]["name"] == "Acme Corporation"


async def test_the_most_specific_registered_domain_decides_the_organization(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await add_organization(db, "Initech", "initech.example")
    await add_organization(db, "Initech Europe", "eu.initech.example")
    _, european = await as_customer(client, db, "ana@eu.initech.example")
    _, american = await as_customer(client, db, "bob@us.initech.example")
    assert european["organization"]["name"] == "Initech Europe"
    assert american["organization"]["name"] == "Initech"


async def test_several_organizations_on_a_domain_offer_a_choice_and_only_its_entries_count(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    divisions = ["Federal Systems", "Manufacturing", "Research"]
    ids = [await add_organization(db, "Globex", "globex.example", division=d) for d in divisions]
    other = await add_organization(db, "Acme Corporation", "acme.example")
    token, viewer = await as_customer(client, db, "hank@globex.example")
    registration = viewer["registration"]
    assert registration["step"] == "SELECT_ORGANIZATION"
    assert registration["accessLevel"] == "LIMITED"
    assert [c["division"] for c in registration["organizationChoices"]] == divisions
    assert [c["id"] for c in registration["organizationChoices"]] == [
        encode_id("Organization", pk) for pk in ids
    ]

    for not_offered in (encode_id("Organization", other), encode_id("Site", ids[0]), "junk"):
        refused = await client.execute(SELECT, {"id": not_offered}, token=token)
        assert error_codes(refused, "selectOrganization") == ["INVALID"]
        assert payload(refused, "selectOrganization")["userErrors"][0]["field"] == [
            "organizationId"
        ]
    assert await db.fetchval("select step from users where email = 'hank@globex.example'") == (
        "SELECT_ORGANIZATION"
    )

    joined = no_errors(
        await client.execute(SELECT, {"id": encode_id("Organization", ids[1])}, token=token),
        "selectOrganization",
    )["viewer"]
    assert joined["registration"]["step"] == "COMPLETE"
    assert joined["organization"]["division"] == "Manufacturing"
    assert joined["role"] == "MEMBER"
    assert joined["registration"]["organizationChoices"] == []
    assert "account_ready" in await mails_to(db, "hank@globex.example")


async def test_a_new_domain_goes_through_staff_approval_and_colleagues_then_join_at_once(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token, viewer = await as_customer(client, db, "founder@newco.example")
    assert viewer["registration"]["step"] == "DESCRIBE_ORGANIZATION"
    assert viewer["organization"] is None

    described = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=token),
        "submitOrganizationDetails",
    )["viewer"]["registration"]
    assert described["step"] == "AWAITING_APPROVAL"
    assert described["accessLevel"] == "LIMITED"
    request = described["onboardingRequest"]
    assert request["status"] == "PENDING" and request["domain"] == "newco.example"
    assert request["legalName"] == "Newco SAS" and request["country"] == "FR"
    assert await mails_to(db, "founder@newco.example") == [
        "verification_code",
        "onboarding_received",
    ]

    staff = await staff_token(client, db)
    decided = no_errors(
        await client.execute(
            DECIDE, {"id": request["id"], "decision": "APPROVE", "note": "Welcome"}, token=staff
        ),
        "decideOnboardingRequest",
    )["onboardingRequest"]
    assert decided["status"] == "APPROVED" and decided["decidedAt"] is not None
    assert decided["organization"] == {"name": "Newco SAS", "domains": ["newco.example"]}
    assert decided["requester"]["email"] == "founder@newco.example"

    founder = (await client.execute(VIEWER, token=token))["data"]["viewer"]
    assert founder["registration"]["step"] == "COMPLETE"
    assert founder["registration"]["accessLevel"] == "FULL"
    assert founder["role"] == "ADMIN"
    assert founder["organization"]["name"] == "Newco SAS"
    assert founder["registration"]["onboardingRequest"]["status"] == "APPROVED"
    assert "onboarding_approved" in await mails_to(db, "founder@newco.example")

    _, colleague = await as_customer(client, db, "second@newco.example")
    assert colleague["registration"]["step"] == "COMPLETE"
    assert colleague["role"] == "MEMBER"
    assert colleague["organization"]["name"] == "Newco SAS"

    again = await client.execute(
        DECIDE, {"id": request["id"], "decision": "REJECT", "note": "late"}, token=staff
    )
    assert error_codes(again, "decideOnboardingRequest") == ["WRONG_STEP"]


async def test_a_rejection_needs_a_note_and_sends_the_requester_back_to_describe(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token, _ = await as_customer(client, db, "founder@oddco.example")
    request_id = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=token),
        "submitOrganizationDetails",
    )["viewer"]["registration"]["onboardingRequest"]["id"]
    staff = await staff_token(client, db)

    no_note = await client.execute(DECIDE, {"id": request_id, "decision": "REJECT"}, token=staff)
    assert payload(no_note, "decideOnboardingRequest")["userErrors"][0]["field"] == ["note"]
    assert error_codes(no_note, "decideOnboardingRequest") == ["REQUIRED"]

    rejected = no_errors(
        await client.execute(
            DECIDE,
            {"id": request_id, "decision": "REJECT", "note": "Use the legal name on the invoice."},
            token=staff,
        ),
        "decideOnboardingRequest",
    )["onboardingRequest"]
    assert rejected["status"] == "REJECTED" and rejected["organization"] is None

    viewer = (await client.execute(VIEWER, token=token))["data"]["viewer"]
    assert viewer["registration"]["step"] == "DESCRIBE_ORGANIZATION"
    assert viewer["registration"]["onboardingRequest"]["decisionNote"] == (
        "Use the legal name on the invoice."
    )
    assert "onboarding_rejected" in await mails_to(db, "founder@oddco.example")
    body = await db.fetchval("select body from mail_outbox where template = 'onboarding_rejected'")
    assert "Use the legal name on the invoice." in body

    resubmitted = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=token),
        "submitOrganizationDetails",
    )["viewer"]["registration"]
    assert resubmitted["step"] == "AWAITING_APPROVAL"
    assert resubmitted["onboardingRequest"]["status"] == "PENDING"
    assert resubmitted["onboardingRequest"]["id"] != request_id


async def test_the_partner_path_shows_the_partner_program_references(
    client: GraphQLClient, db: asyncpg.Connection, settings: Settings
) -> None:
    token = await signed_up(client, db, "pat@partnerco.example")
    chosen = no_errors(
        await client.execute(CHOOSE, {"type": "PARTNER"}, token=token), "chooseAccessType"
    )["viewer"]["registration"]
    assert chosen["step"] == "PARTNER_REFERRAL" and chosen["accessType"] == "PARTNER"
    assert chosen["accessLevel"] == "LIMITED"
    assert [(link["title"], link["url"]) for link in chosen["partnerReferences"]] == list(
        settings.partner_program_links
    )


async def test_every_step_refuses_the_mutations_of_other_steps_with_wrong_step(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    globex = [await add_organization(db, "Globex", "globex.example", division=d) for d in "AB"]
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "chooseAccessType": (CHOOSE, {"type": "CUSTOMER_EMPLOYEE"}),
        "submitProfessionalProfile": (PROFILE, {"input": PROFILE_INPUT}),
        "selectOrganization": (SELECT, {"id": encode_id("Organization", globex[0])}),
        "submitOrganizationDetails": (DESCRIBE, {"input": ORGANIZATION_INPUT}),
    }
    allowed = {
        "CHOOSE_ACCESS_TYPE": "chooseAccessType",
        "COMPLETE_PROFILE": "submitProfessionalProfile",
        "SELECT_ORGANIZATION": "selectOrganization",
        "DESCRIBE_ORGANIZATION": "submitOrganizationDetails",
    }
    # One user per step, moved there through the API.
    tokens: dict[str, str] = {}
    tokens["CHOOSE_ACCESS_TYPE"] = await signed_up(client, db, "a@unknown-one.example")
    tokens["COMPLETE_PROFILE"] = await signed_up(client, db, "b@unknown-two.example")
    await client.execute(CHOOSE, {"type": "CUSTOMER_EMPLOYEE"}, token=tokens["COMPLETE_PROFILE"])
    tokens["SELECT_ORGANIZATION"], _ = await as_customer(client, db, "c@globex.example")
    tokens["DESCRIBE_ORGANIZATION"], _ = await as_customer(client, db, "d@unknown-three.example")
    tokens["AWAITING_APPROVAL"], _ = await as_customer(client, db, "e@unknown-four.example")
    await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=tokens["AWAITING_APPROVAL"])
    tokens["PARTNER_REFERRAL"] = await signed_up(client, db, "f@unknown-five.example")
    await client.execute(CHOOSE, {"type": "PARTNER"}, token=tokens["PARTNER_REFERRAL"])
    await add_organization(db, "Acme Corporation", "acme.example")
    tokens["COMPLETE"], _ = await as_customer(client, db, "g@acme.example")

    for step, token in tokens.items():
        for name, (query, variables) in calls.items():
            if allowed.get(step) == name:
                continue
            answer = await client.execute(query, variables, token=token)
            assert error_codes(answer, name) == ["WRONG_STEP"], (step, name, answer)
            assert payload(answer, name)["viewer"] is None
        viewer = (await client.execute(VIEWER, token=token))["data"]["viewer"]
        assert viewer["registration"]["step"] == step
    assert await db.fetchval("select count(*) from onboarding_requests") == 1


async def test_registration_mutations_without_a_session_answer_unauthenticated(
    client: GraphQLClient,
) -> None:
    answer = await client.execute(CHOOSE, {"type": "PARTNER"})
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await client.execute(VIEWER))["data"]["viewer"] is None


async def test_a_verified_user_who_stops_keeps_limited_access_and_resumes_where_they_stopped(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "sam@paused.example")
    signed = no_errors(
        await client.execute(SIGN_IN, {"email": "sam@paused.example", "password": PASSWORD}),
        "signIn",
    )
    assert signed["viewer"]["registration"] == {
        "step": "CHOOSE_ACCESS_TYPE",
        "accessLevel": "LIMITED",
    }
    token = signed["session"]["token"]
    families = await client.execute("{ productFamilies { name } }", token=token)
    assert len(families["data"]["productFamilies"]) >= 12
    resumed = no_errors(
        await client.execute(CHOOSE, {"type": "CUSTOMER_EMPLOYEE"}, token=token),
        "chooseAccessType",
    )
    assert resumed["viewer"]["registration"]["step"] == "COMPLETE_PROFILE"


async def test_decisions_and_the_request_list_are_for_the_platform_staff_only(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token, _ = await as_customer(client, db, "x@requests.example")
    request_id = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=token),
        "submitOrganizationDetails",
    )["viewer"]["registration"]["onboardingRequest"]["id"]
    listing = "{ onboardingRequests { totalCount nodes { id } } }"
    for attempt in (
        await client.execute(DECIDE, {"id": request_id, "decision": "APPROVE"}, token=token),
        await client.execute(listing, token=token),
    ):
        assert attempt["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await client.execute(listing))["errors"][0]["extensions"]["code"] == ("UNAUTHENTICATED")
    assert await db.fetchval("select status from onboarding_requests") == "PENDING"


async def test_staff_page_through_onboarding_requests_by_status(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    for n in range(3):
        token, _ = await as_customer(client, db, f"owner@firm{n}.example")
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=token)
    staff = await staff_token(client, db)
    query = """
    query($after: String, $status: OnboardingStatus) {
      onboardingRequests(first: 2, after: $after, status: $status) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id domain requester { email } }
      }
    }"""
    first = (await client.execute(query, {}, token=staff))["data"]["onboardingRequests"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    assert [n["domain"] for n in first["nodes"]] == ["firm0.example", "firm1.example"]
    rest = (await client.execute(query, {"after": first["pageInfo"]["endCursor"]}, token=staff))[
        "data"
    ]["onboardingRequests"]
    assert [n["requester"]["email"] for n in rest["nodes"]] == ["owner@firm2.example"]
    assert rest["pageInfo"]["hasNextPage"] is False
    await client.execute(
        DECIDE, {"id": first["nodes"][0]["id"], "decision": "APPROVE"}, token=staff
    )
    approved = (await client.execute(query, {"status": "APPROVED"}, token=staff))["data"]
    assert [n["domain"] for n in approved["onboardingRequests"]["nodes"]] == ["firm0.example"]
    bad = await client.execute(query, {"after": "not-a-cursor"}, token=staff)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_node_shows_only_oneself_ones_organization_and_admins_their_members(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    founder, _ = await as_customer(client, db, "boss@visible.example")
    request_id = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=founder),
        "submitOrganizationDetails",
    )["viewer"]["registration"]["onboardingRequest"]["id"]
    staff = await staff_token(client, db)
    await client.execute(DECIDE, {"id": request_id, "decision": "APPROVE"}, token=staff)
    member, member_viewer = await as_customer(client, db, "worker@visible.example")
    await add_organization(db, "Acme Corporation", "acme.example")
    stranger, stranger_viewer = await as_customer(client, db, "x@acme.example")
    boss = (await client.execute(VIEWER, token=founder))["data"]["viewer"]

    node = "query($id: ID!) { node(id: $id) { id } }"

    async def sees(token: str, global_id: str) -> bool:
        found = (await client.execute(node, {"id": global_id}, token=token))["data"]["node"]
        return found is not None

    assert await sees(member, member_viewer["id"])
    assert await sees(member, member_viewer["organization"]["id"])
    assert not await sees(member, boss["id"])  # a MEMBER does not see colleagues
    assert await sees(founder, member_viewer["id"])  # the ADMIN does
    assert not await sees(founder, stranger_viewer["id"])
    assert not await sees(stranger, member_viewer["organization"]["id"])
    assert await sees(staff, request_id) and await sees(founder, request_id)
    assert not await sees(member, request_id) and not await sees(stranger, request_id)
    assert (await client.execute(node, {"id": member_viewer["id"]}))["data"]["node"] is None


async def test_limited_users_get_forbidden_on_fleet_data_with_a_finish_registration_message(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    token, viewer = await as_customer(client, db, "early@describe.example")
    assert viewer["registration"]["accessLevel"] == "LIMITED"
    english = await client.execute("{ summary { productCount } }", token=token)
    assert english["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "Finish your registration" in english["errors"][0]["message"]
    await db.execute("update users set preferred_language = 'fr'")
    french = await client.execute("{ summary { productCount } }", token=token)
    assert "Terminez votre inscription" in french["errors"][0]["message"]
    anonymous = await client.execute("{ summary { productCount } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    own = (await client.execute(VIEWER, token=token))["data"]["viewer"]
    assert own["email"] == "early@describe.example"


async def test_user_and_organization_fleet_fields_answer_for_a_complete_member(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    acme = await add_organization(db, "Acme Corporation", "acme.example")
    await db.execute(
        "insert into sites (organization_id, name, city, country)"
        " values ($1, 'Lyon DC', 'Lyon', 'FR')",
        acme,
    )
    token, _ = await as_customer(client, db, "ops@acme.example")
    body = await client.execute(
        """{ viewer { visibleSites { totalCount nodes { name } }
                      organization { sites { nodes { name } } } } }""",
        token=token,
    )
    assert "errors" not in body, body
    viewer = body["data"]["viewer"]
    assert viewer["visibleSites"]["nodes"] == [{"name": "Lyon DC"}]
    assert viewer["organization"]["sites"]["nodes"] == [{"name": "Lyon DC"}]
    members = await client.execute(
        "{ viewer { organization { members { totalCount } } } }", token=token
    )
    assert members["errors"][0]["extensions"]["code"] == "FORBIDDEN"
