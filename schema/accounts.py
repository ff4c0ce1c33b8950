"""Accounts, registration, sessions, organizations, onboarding: queries and node loaders.

Types live in `schema.account_types`, mutations in `schema.registration`;
this module gives the Query and Mutation mixins and the node loaders.
"""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers.account_loaders import (
    OnboardingRequestById,
    OrganizationById,
    UserById,
    may_see_onboarding_request,
    may_see_organization,
    may_see_user,
)
from resolvers.context import Context
from resolvers.permissions import IsStaff
from resolvers.registration import onboarding_request_page
from schema.account_types import (
    Info,
    OnboardingRequest,
    OnboardingRequestConnection,
    OnboardingStatus,
    Organization,
    User,
    UserConnection,
)
from schema.common import connection_from_page
from schema.registration import AccountsMutation

__all__ = [
    "NODE_LOADERS",
    "AccountsMutation",
    "AccountsQuery",
    "OnboardingRequest",
    "Organization",
    "User",
    "UserConnection",
]


async def user_node(context: Context, pk: int) -> User | None:
    row = await context.loaders.get(UserById).load(pk)
    return User.from_row(row) if row is not None and may_see_user(context.viewer, row) else None


async def organization_node(context: Context, pk: int) -> Organization | None:
    if not may_see_organization(context.viewer, pk):
        return None
    row = await context.loaders.get(OrganizationById).load(pk)
    return Organization.from_row(row) if row is not None else None


async def onboarding_request_node(context: Context, pk: int) -> OnboardingRequest | None:
    row = await context.loaders.get(OnboardingRequestById).load(pk)
    if row is None or not may_see_onboarding_request(context.viewer, row):
        return None
    return OnboardingRequest.from_row(row)


NODE_LOADERS: dict[str, Any] = {
    "User": user_node,
    "Organization": organization_node,
    "OnboardingRequest": onboarding_request_node,
}


@strawberry.type
class AccountsQuery:
    @strawberry.field(description="The signed-in person, or null when not signed in.")
    async def viewer(self, info: Info) -> User | None:
        if info.context.viewer is None:
            return None
        return await user_node(info.context, info.context.viewer.user_id)

    @strawberry.field(
        description="Platform staff: organization onboarding requests, oldest first.",
        permission_classes=[IsStaff],
    )
    async def onboarding_requests(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: OnboardingStatus | None = None,
    ) -> OnboardingRequestConnection:
        status_value = status.value if status is not None else None
        page = await onboarding_request_page(info.context, first, after, status_value)
        return connection_from_page(page, OnboardingRequest.from_row)
