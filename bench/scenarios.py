"""The GraphQL documents the bench sends, and the load plans built from them.

1. dashboard: the whole-fleet summary plus the summaries of all 50 groups in
   one request (every field of `Summary`);
2. group: the summary of one group (cycling through the 50);
3. mobile_list: `products(first: 50, filter: {health: [CRITICAL, WARNING],
   familyIds: [..]})` and the next page by its cursor;
4. signin_storm: `signIn` at full rate beside the dashboard.
"""

from __future__ import annotations

from typing import Any

from bench.generator import BENCH_PASSWORD, Dataset
from resolvers.ids import encode_id

SUMMARY_FIELDS = """
fragment SummaryFields on Summary {
  productCount
  siteCount
  health { good warning critical unknown }
  connectivity { connected disconnected notConfigured }
  contracts { active endingWithin30Days endingWithin90Days expired }
  code { current updateAvailable unknown }
  serviceRequests { open critical high medium low }
  byFamily { family { id name } count }
  bySite(first: 10) { site { id name city country } count }
}
"""

DASHBOARD = (
    """
query Dashboard {
  summary { ...SummaryFields }
  customGroups(first: 50) {
    nodes { id name summary { ...SummaryFields } }
  }
}
"""
    + SUMMARY_FIELDS
)

GROUP_SUMMARY = (
    """
query GroupSummary($groupId: ID!) {
  summary(groupId: $groupId) { ...SummaryFields }
}
"""
    + SUMMARY_FIELDS
)

MOBILE_LIST = """
query MobileList($familyIds: [ID!], $after: String) {
  products(first: 50, after: $after, filter: {health: [CRITICAL, WARNING], familyIds: $familyIds}) {
    edges {
      cursor
      node {
        id serviceTag name model health connectivity codeStatus contractEndsOn
        family { id name }
        site { id name }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

SIGN_IN = """
mutation SignIn($email: String!, $password: String!) {
  signIn(email: $email, password: $password) {
    session { token expiresAt }
    userErrors { field message code }
  }
}
"""

MOBILE_FAMILY_COUNT = 3


def group_ids(dataset: Dataset) -> list[str]:
    return [encode_id("CustomGroup", pk) for pk in dataset.group_ids]


def mobile_family_ids(dataset: Dataset) -> list[str]:
    return [encode_id("ProductFamily", pk) for pk in dataset.family_ids[:MOBILE_FAMILY_COUNT]]


def dashboard_body() -> dict[str, Any]:
    return {"query": DASHBOARD, "operationName": "Dashboard"}


def group_body(group_id: str) -> dict[str, Any]:
    return {
        "query": GROUP_SUMMARY,
        "operationName": "GroupSummary",
        "variables": {"groupId": group_id},
    }


def mobile_body(dataset: Dataset) -> dict[str, Any]:
    return {
        "query": MOBILE_LIST,
        "operationName": "MobileList",
        "variables": {"familyIds": mobile_family_ids(dataset)},
    }


def signin_body(email: str) -> dict[str, Any]:
    return {
        "query": SIGN_IN,
        "operationName": "SignIn",
        "variables": {"email": email, "password": BENCH_PASSWORD},
    }


def workload(
    name: str, dataset: Dataset, token: str, concurrency: int, *, suffix: str = ""
) -> dict[str, Any]:
    """The driver's plan entry for one scenario (see bench/load.py)."""
    label = name + suffix
    if name == "dashboard":
        return {
            "name": label,
            "concurrency": concurrency,
            "requests": [{"body": dashboard_body(), "token": token}],
            "expect": ["data", "summary"],
        }
    if name == "group":
        return {
            "name": label,
            "concurrency": concurrency,
            "requests": [{"body": group_body(g), "token": token} for g in group_ids(dataset)],
            "expect": ["data", "summary"],
        }
    if name == "mobile_list":
        return {
            "name": label,
            "concurrency": concurrency,
            "requests": [{"body": mobile_body(dataset), "token": token}],
            "next_page": ["data", "products", "pageInfo"],
            "expect": ["data", "products"],
        }
    if name == "signin":
        return {
            "name": label,
            "concurrency": concurrency,
            "requests": [{"body": signin_body(email)} for email in dataset.signin_emails],
            "expect": ["data", "signIn", "session"],
        }
    raise ValueError(f"unknown scenario {name!r}")
