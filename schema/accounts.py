"""Accounts, registration, sessions, organizations, onboarding (to be built)."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type
class AccountsQuery:
    pass


@strawberry.type
class AccountsMutation:
    pass


NODE_LOADERS: dict[str, Any] = {}
