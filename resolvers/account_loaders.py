"""Per-request loaders of users, organizations and onboarding requests, and who sees what.

Visibility: a user sees themselves and their organization; an ADMIN also
sees the members of their organization; platform staff see onboarding
requests. Anything else answers as if it did not exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from db.accounts import (
    fetch_domains_by_organization_ids,
    fetch_latest_onboarding_requests,
    fetch_onboarding_requests_by_ids,
    fetch_organizations_by_ids,
    fetch_users_by_ids,
)
from resolvers.loaders import Loader, in_key_order
from resolvers.viewer import Viewer


class UserById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        return in_key_order(keys, await fetch_users_by_ids(self.context.primary_db, keys))


class OrganizationById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        return in_key_order(keys, await fetch_organizations_by_ids(self.context.primary_db, keys))


class DomainsByOrganizationId(Loader[int, list[str]]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[str]]:
        domains: dict[int, list[str]] = defaultdict(list)
        for row in await fetch_domains_by_organization_ids(self.context.primary_db, keys):
            domains[row["organization_id"]].append(row["domain"])
        return [domains.get(key, []) for key in keys]


class OnboardingRequestById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        return in_key_order(
            keys, await fetch_onboarding_requests_by_ids(self.context.primary_db, keys)
        )


class LatestOnboardingRequestByUserId(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_latest_onboarding_requests(self.context.primary_db, keys)
        return in_key_order(keys, rows, key="user_id")


def may_see_user(viewer: Viewer | None, user: asyncpg.Record) -> bool:
    if viewer is None:
        return False
    if user["id"] == viewer.user_id:
        return True
    return viewer.is_admin and user["organization_id"] == viewer.organization_id


def may_see_organization(viewer: Viewer | None, organization_id: int) -> bool:
    return viewer is not None and viewer.organization_id == organization_id


def may_see_onboarding_request(viewer: Viewer | None, request: asyncpg.Record) -> bool:
    return viewer is not None and (viewer.is_staff or request["user_id"] == viewer.user_id)
