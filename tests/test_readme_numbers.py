"""The README's example numbers (Summary tab and custom groups) are what the demo data answers.

The test reads README.md itself: the three groups as it describes them (family
and site names), the dashboard query from its `graphql` block, and every number
of the paragraph that follows. Changing the README without the demo data, or
the demo data without the README, fails here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from db.demo import DEMO_PASSWORD, load_demo_data
from tests.support.app import ROOT, GraphQLClient
from tests.support.registration import SIGN_IN, no_errors

README = (ROOT / "README.md").read_text()

_SECTION = re.search(
    r"With `make run`, signed in as `(?P<admin>[^`]+)` after creating three groups\n?"
    r"\((?P<groups>.+?)\), the dashboard\s*```graphql\n(?P<query>.+?)```\s*"
    r"(?P<numbers>answers fleet .+?again equal to the lists\.)",
    README,
    re.DOTALL,
)


def section() -> re.Match[str]:
    """The README's example: the admin, the groups, the query, the numbers."""
    assert _SECTION is not None, "README.md no longer has the Summary tab example"
    return _SECTION


def one_line(text: str) -> str:
    return " ".join(text.split())


def stated(pattern: str, labels: list[str]) -> dict[str, int]:
    """The README's numbers where `pattern` (one `(\\d+)` per label) matches, by label."""
    match = re.search(pattern, one_line(section()["numbers"]))
    assert match is not None, f"README paragraph no longer reads as {pattern!r}"
    return dict(zip(labels, (int(n) for n in match.groups()), strict=True))


@dataclass(frozen=True)
class GroupRule:
    """A group as the README describes it: `<families> at <sites>`, `any` for either."""

    text: str
    families: list[str]
    sites: list[str]


def names(text: str) -> list[str]:
    """`A, B and C` → [A, B, C]; `any family` / `any site` → []."""
    if text.startswith("any "):
        return []
    return [n.strip() for n in re.split(r",\s*|\s+and\s+", text) if n.strip()]


def readme_groups() -> list[GroupRule]:
    rules = []
    for part in one_line(section()["groups"]).split(";"):
        families, at, sites = part.strip().partition(" at ")
        assert at, f"README group {part!r} is not `<families> at <sites>`"
        rules.append(GroupRule(part.strip(), names(families), names(sites)))
    return rules


async def sign_in(client: GraphQLClient, email: str) -> GraphQLClient:
    body = await client.execute(SIGN_IN, {"email": email, "password": DEMO_PASSWORD})
    token: str = no_errors(body, "signIn")["session"]["token"]
    return client.signed_in(token)


CATALOG = "{ productFamilies { id name } sites(first: 100) { nodes { id name } } }"
CREATE_GROUP = """
mutation($input: CustomGroupInput!) {
  createCustomGroup(input: $input) { customGroup { id } userErrors { field message code } }
}"""
COUNT = "query($filter: ProductFilter) { products(filter: $filter) { totalCount } }"


async def create_readme_groups(user: GraphQLClient) -> list[str]:
    """The README's three groups, made by `user` from the families and sites they see."""
    catalog = (await user.execute(CATALOG))["data"]
    family_ids = {f["name"]: f["id"] for f in catalog["productFamilies"]}
    site_ids = {s["name"]: s["id"] for s in catalog["sites"]["nodes"]}
    group_ids = []
    for rule in readme_groups():
        for name in rule.families:
            assert name in family_ids, f"README names no demo family {name!r}"
        for name in rule.sites:
            assert name in site_ids, f"README names no site {name!r} this user sees"
        group_input: dict[str, Any] = {"name": rule.text}
        if rule.families:
            group_input["familyIds"] = [family_ids[n] for n in rule.families]
        if rule.sites:
            group_input["siteIds"] = [site_ids[n] for n in rule.sites]
        created = no_errors(
            await user.execute(CREATE_GROUP, {"input": group_input}), "createCustomGroup"
        )
        group_ids.append(created["customGroup"]["id"])
    return group_ids


async def count(user: GraphQLClient, **product_filter: Any) -> int:
    body = await user.execute(COUNT, {"filter": product_filter})
    assert "errors" not in body, body
    total: int = body["data"]["products"]["totalCount"]
    return total


async def dashboard(user: GraphQLClient) -> dict[str, Any]:
    body = await user.execute(section()["query"])
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_the_readme_dashboard_numbers_are_what_the_demo_data_answers(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    assert len(readme_groups()) == 3
    assert await load_demo_data(db)
    admin = await sign_in(client, section()["admin"])
    group_ids = await create_readme_groups(admin)
    answer = await dashboard(admin)

    fleet = answer["summary"]
    groups = answer["customGroups"]["nodes"]
    assert [g["name"] for g in groups] == [r.text for r in readme_groups()]
    answered = {
        "products": fleet["productCount"],
        "sites": fleet["siteCount"],
        **{f"health {k}": fleet["health"][k] for k in ("good", "warning", "critical", "unknown")},
        **{f"contracts {k}": v for k, v in fleet["contracts"].items()},
    }
    for n, group in enumerate(groups, 1):
        answered[f"group {n} products"] = group["summary"]["productCount"]
        answered[f"group {n} critical"] = group["summary"]["health"]["critical"]
    assert (
        stated(
            r"answers fleet (\d+) products at (\d+) sites, health (\d+) / (\d+) / (\d+) / (\d+), "
            r"contracts (\d+) active, (\d+) within 30 days, (\d+) within 90, (\d+) expired; "
            r"groups (\d+) \((\d+) critical\), (\d+) \((\d+)\), (\d+) \((\d+)\)\.",
            list(answered),
        )
        == answered
    )

    # The same numbers from product lists.
    listed = {
        "products": await count(admin),
        "critical": await count(admin, health=["CRITICAL"]),
        "contracts endingWithin30Days": await count(admin, contractEndsWithinDays=30),
    }
    for n, group_id in enumerate(group_ids, 1):
        listed[f"group {n} products"] = await count(admin, groupId=group_id)
        listed[f"group {n} critical"] = await count(admin, groupId=group_id, health=["CRITICAL"])
    assert (
        stated(
            r"gives the same numbers \((\d+); (\d+) CRITICAL; "
            r"(\d+) with `contractEndsWithinDays: 30`; "
            r"(\d+)/(\d+), (\d+)/(\d+), (\d+)/(\d+) with `groupId`\)",
            list(listed),
        )
        == listed
    )


async def test_the_readme_viewer_numbers_are_what_the_demo_viewer_sees(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    assert await load_demo_data(db)
    (viewer_email,) = re.findall(r"As `([^`]+)` \(two sites\)", one_line(section()["numbers"]))
    viewer = await sign_in(client, viewer_email)
    group_ids = await create_readme_groups(viewer)
    answer = await dashboard(viewer)

    fleet = answer["summary"]
    groups = answer["customGroups"]["nodes"]
    answered = {
        "products": fleet["productCount"],
        "sites": fleet["siteCount"],
        "critical": fleet["health"]["critical"],
        **{f"group {n} products": g["summary"]["productCount"] for n, g in enumerate(groups, 1)},
    }
    assert (
        stated(
            r"the same query answers (\d+) products at (\d+) sites, (\d+) critical, "
            r"and that viewer's own three groups, made the same way over the sites they see, "
            r"answer (\d+), (\d+) and (\d+) products, again equal to the lists\.",
            list(answered),
        )
        == answered
    )
    assert fleet["siteCount"] == 2  # "(two sites)"
    listed = [await count(viewer, groupId=g) for g in group_ids]
    assert listed == [answered[f"group {n} products"] for n in (1, 2, 3)]
