"""The site scope of new members is an organization setting, shown to and set by its admins.

Every attach path (domain match, division choice, onboarding approval) gives
the new member the organization's default at that moment: ALL_SITES, or
SELECTED_SITES with no site until an administrator assigns some. Changing the
default leaves current members as they are.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import pytest

from db.demo import DEMO_PASSWORD, load_demo_data
from resolvers.ids import encode_id
from tests.fleet_data import Tenant, create_tenant, create_user
from tests.support.app import GraphQLClient
from tests.support.registration import (
    DECIDE,
    DESCRIBE,
    ORGANIZATION_INPUT,
    SELECT,
    SIGN_IN,
    as_customer,
    error_codes,
    no_errors,
    payload,
    staff_token,
)

SET_DEFAULT = """
mutation($input: DefaultSiteScopeInput!) {
  setDefaultSiteScope(input: $input) {
    organization { id name defaultSiteScope }
    userErrors { field message code }
  }
}"""
READ_DEFAULT = "{ viewer { organization { id defaultSiteScope } } }"
SET_ACCESS = """
mutation($input: SiteAccessInput!) {
  setMemberSiteAccess(input: $input) { member { siteScope } userErrors { code } }
}"""
WHAT_I_SEE = """
{ viewer { role siteScope }
  summary { productCount siteCount }
  sites(first: 100) { totalCount }
  products { totalCount } }"""


async def tenant_with_domain(db: asyncpg.Connection, domain: str, **tenant: Any) -> Tenant:
    """An organization with sites and products that owns `domain`."""
    created = await create_tenant(db, **tenant)
    await db.execute(
        "insert into organization_domains (domain, organization_id) values ($1, $2)",
        domain,
        created.organization_id,
    )
    return created


def unique_domain() -> str:
    return f"org{secrets.token_hex(3)}.example"


async def set_default(
    client: GraphQLClient, token: str, organization_pk: int, scope: str
) -> dict[str, Any]:
    return await client.execute(
        SET_DEFAULT,
        {"input": {"organizationId": encode_id("Organization", organization_pk), "scope": scope}},
        token=token,
    )


async def stored_default(db: asyncpg.Connection, organization_pk: int) -> str:
    scope: str = await db.fetchval(
        "select default_site_scope from organizations where id = $1", organization_pk
    )
    return scope


async def what_is_seen(client: GraphQLClient, token: str) -> dict[str, Any]:
    body = await client.execute(WHAT_I_SEE, token=token)
    assert "errors" not in body, body
    data = body["data"]
    return {
        "siteScope": data["viewer"]["siteScope"],
        "products": data["products"]["totalCount"],
        "summary products": data["summary"]["productCount"],
        "summary sites": data["summary"]["siteCount"],
        "sites": data["sites"]["totalCount"],
    }


async def test_an_admin_reads_and_sets_the_default_leaving_current_members_as_they_are(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db)
    admin = await create_user(db, tenant, role="ADMIN")
    member = await create_user(db, tenant)
    read = (await client.execute(READ_DEFAULT, token=admin.token))["data"]["viewer"]
    assert read["organization"]["defaultSiteScope"] == "ALL_SITES"

    changed = no_errors(
        await set_default(client, admin.token, tenant.organization_id, "SELECTED_SITES"),
        "setDefaultSiteScope",
    )
    assert changed["organization"]["defaultSiteScope"] == "SELECTED_SITES"
    assert changed["organization"]["id"] == read["organization"]["id"]
    read = (await client.execute(READ_DEFAULT, token=admin.token))["data"]["viewer"]
    assert read["organization"]["defaultSiteScope"] == "SELECTED_SITES"
    assert await stored_default(db, tenant.organization_id) == "SELECTED_SITES"
    # The member attached before the change keeps every site.
    assert (await what_is_seen(client, member.token))["siteScope"] == "ALL_SITES"
    assert (await what_is_seen(client, member.token))["sites"] == len(tenant.site_ids)

    back = no_errors(
        await set_default(client, admin.token, tenant.organization_id, "ALL_SITES"),
        "setDefaultSiteScope",
    )
    assert back["organization"]["defaultSiteScope"] == "ALL_SITES"


async def test_members_and_other_organizations_admins_may_neither_read_nor_set_it(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db)
    await create_user(db, tenant, role="ADMIN")
    member = await create_user(db, tenant)
    other = await create_tenant(db)
    other_admin = await create_user(db, other, role="ADMIN")

    read = await client.execute(READ_DEFAULT, token=member.token)
    assert read["data"]["viewer"]["organization"]["defaultSiteScope"] is None
    assert [e["extensions"]["code"] for e in read["errors"]] == ["FORBIDDEN"]
    assert read["errors"][0]["path"] == ["viewer", "organization", "defaultSiteScope"]

    by_member = await set_default(client, member.token, tenant.organization_id, "SELECTED_SITES")
    assert error_codes(by_member, "setDefaultSiteScope") == ["FORBIDDEN"]
    assert payload(by_member, "setDefaultSiteScope")["organization"] is None
    by_other = await set_default(
        client, other_admin.token, tenant.organization_id, "SELECTED_SITES"
    )
    assert error_codes(by_other, "setDefaultSiteScope") == ["FORBIDDEN"]
    # Another organization is not theirs to read either (node() answers null).
    node = "query($id: ID!) { node(id: $id) { ... on Organization { defaultSiteScope } } }"
    seen = await client.execute(
        node, {"id": encode_id("Organization", tenant.organization_id)}, token=other_admin.token
    )
    assert seen == {"data": {"node": None}}
    assert await stored_default(db, tenant.organization_id) == "ALL_SITES"
    assert await stored_default(db, other.organization_id) == "ALL_SITES"


async def test_without_full_access_the_mutation_answers_the_api_s_auth_codes(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db)
    registering = await create_user(db, None, step="COMPLETE_PROFILE")
    anonymous = await set_default(client, "", tenant.organization_id, "SELECTED_SITES")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    limited = await set_default(client, registering.token, tenant.organization_id, "SELECTED_SITES")
    assert limited["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await stored_default(db, tenant.organization_id) == "ALL_SITES"


async def test_bad_input_is_refused_with_user_errors_and_changes_nothing(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(db)
    admin = await create_user(db, tenant, role="ADMIN")
    for organization_id in ("not-an-id", encode_id("Site", tenant.site_ids[0]), ""):
        body = await client.execute(
            SET_DEFAULT,
            {"input": {"organizationId": organization_id, "scope": "SELECTED_SITES"}},
            token=admin.token,
        )
        refused = payload(body, "setDefaultSiteScope")
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("NOT_FOUND", ["input", "organizationId"])
        ]
        assert refused["userErrors"][0]["message"]
    # Not a scope at all: refused before any resolver runs.
    body = await set_default(client, admin.token, tenant.organization_id, "EVERY_SITE")
    assert body.get("data") is None and body["errors"]
    assert await stored_default(db, tenant.organization_id) == "ALL_SITES"


# --------------------------------------------------------------- attach paths


async def attach_by_domain(
    client: GraphQLClient, db: asyncpg.Connection, tenant: Tenant, domain: str
) -> tuple[str, dict[str, Any]]:
    """A new person whose email's domain is the organization's alone."""
    return await as_customer(client, db, f"new@{domain}")


async def attach_by_division(
    client: GraphQLClient, db: asyncpg.Connection, tenant: Tenant, domain: str
) -> tuple[str, dict[str, Any]]:
    """A new person who chooses the organization among two divisions of the domain."""
    sibling = await create_tenant(db, name="Sibling division")
    await db.execute(
        "insert into organization_domains (domain, organization_id) values ($1, $2)",
        domain,
        sibling.organization_id,
    )
    token, viewer = await as_customer(client, db, f"new@{domain}")
    assert viewer["registration"]["step"] == "SELECT_ORGANIZATION"
    chosen = no_errors(
        await client.execute(
            SELECT, {"id": encode_id("Organization", tenant.organization_id)}, token=token
        ),
        "selectOrganization",
    )
    return token, chosen["viewer"]


async def attach_by_approval(
    client: GraphQLClient, db: asyncpg.Connection, tenant: Tenant, domain: str
) -> tuple[str, dict[str, Any]]:
    """A new person who asked for their domain to be onboarded; by the time the staff
    approve, the domain is the organization's, so they join it."""
    await db.execute(
        "delete from organization_domains where organization_id = $1", tenant.organization_id
    )
    token, _ = await as_customer(client, db, f"new@{domain}")
    described = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=token),
        "submitOrganizationDetails",
    )
    request_id = described["viewer"]["registration"]["onboardingRequest"]["id"]
    await db.execute(
        "insert into organization_domains (domain, organization_id) values ($1, $2)",
        domain,
        tenant.organization_id,
    )
    staff = await staff_token(client, db)
    decided = no_errors(
        await client.execute(DECIDE, {"id": request_id, "decision": "APPROVE"}, token=staff),
        "decideOnboardingRequest",
    )
    assert decided["onboardingRequest"]["organization"]["name"] == f"Tenant of {domain}"
    viewer = (await client.execute("{ viewer { id } }", token=token))["data"]["viewer"]
    return token, viewer


ATTACH_PATHS = {
    "domain match": attach_by_domain,
    "division choice": attach_by_division,
    "onboarding approval": attach_by_approval,
}


@pytest.mark.parametrize("path", list(ATTACH_PATHS))
@pytest.mark.parametrize("default", ["ALL_SITES", "SELECTED_SITES"])
async def test_a_new_member_attached_by_each_path_gets_the_organization_s_default(
    client: GraphQLClient, db: asyncpg.Connection, path: str, default: str
) -> None:
    domain = unique_domain()
    tenant = await tenant_with_domain(db, domain, sites=3, products=30, name=f"Tenant of {domain}")
    admin = await create_user(db, tenant, role="ADMIN")
    no_errors(
        await set_default(client, admin.token, tenant.organization_id, default),
        "setDefaultSiteScope",
    )

    token, viewer = await ATTACH_PATHS[path](client, db, tenant, domain)
    seen = await what_is_seen(client, token)
    total = len(tenant.product_ids)
    if default == "ALL_SITES":
        assert seen == {
            "siteScope": "ALL_SITES",
            "products": total,
            "summary products": total,
            "summary sites": 3,
            "sites": 3,
        }
        return
    # None until assigned: nothing visible, then exactly the site the admin assigns.
    assert seen == {
        "siteScope": "SELECTED_SITES",
        "products": 0,
        "summary products": 0,
        "summary sites": 0,
        "sites": 0,
    }
    assigned = no_errors(
        await client.execute(
            SET_ACCESS,
            {
                "input": {
                    "userId": viewer["id"],
                    "scope": "SELECTED_SITES",
                    "siteIds": [tenant.site_gid(1)],
                }
            },
            token=admin.token,
        ),
        "setMemberSiteAccess",
    )
    assert assigned["member"]["siteScope"] == "SELECTED_SITES"
    at_site: int = await db.fetchval(
        "select count(*) from products where site_id = $1", tenant.site_ids[1]
    )
    assert at_site > 0
    assert await what_is_seen(client, token) == {
        "siteScope": "SELECTED_SITES",
        "products": at_site,
        "summary products": at_site,
        "summary sites": 1,
        "sites": 1,
    }


async def test_a_new_organization_starts_with_all_sites_for_its_founder_and_colleagues(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    domain = unique_domain()
    founder, _ = await as_customer(client, db, f"founder@{domain}")
    colleague, _ = await as_customer(client, db, f"colleague@{domain}")
    request_id = no_errors(
        await client.execute(DESCRIBE, {"input": ORGANIZATION_INPUT}, token=founder),
        "submitOrganizationDetails",
    )["viewer"]["registration"]["onboardingRequest"]["id"]
    staff = await staff_token(client, db)
    no_errors(
        await client.execute(DECIDE, {"id": request_id, "decision": "APPROVE"}, token=staff),
        "decideOnboardingRequest",
    )
    shown = (await client.execute(READ_DEFAULT, token=founder))["data"]["viewer"]
    assert shown["organization"]["defaultSiteScope"] == "ALL_SITES"
    joined = (await client.execute("{ viewer { role siteScope } }", token=colleague))["data"]
    assert joined["viewer"] == {"role": "MEMBER", "siteScope": "ALL_SITES"}
    # The staff who approved it see the setting on the request's organization.
    staff_view = await client.execute(
        "query($id: ID!) { node(id: $id) { ... on OnboardingRequest {"
        " organization { defaultSiteScope } } } }",
        {"id": request_id},
        token=staff,
    )
    assert staff_view["data"]["node"]["organization"] == {"defaultSiteScope": "ALL_SITES"}


async def test_the_demo_organizations_give_new_members_all_sites(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    assert await load_demo_data(db)
    defaults = await db.fetch("select distinct default_site_scope from organizations")
    assert [row["default_site_scope"] for row in defaults] == ["ALL_SITES"]
    signed = no_errors(
        await client.execute(SIGN_IN, {"email": "admin@acme.example", "password": DEMO_PASSWORD}),
        "signIn",
    )
    shown = await client.execute(READ_DEFAULT, token=signed["session"]["token"])
    assert shown["data"]["viewer"]["organization"]["defaultSiteScope"] == "ALL_SITES"
