"""The values an account takes: registration step, access level, role, site scope.

One `StrEnum` each, used by the resolvers and the database rows (they compare
equal to the stored text); the schema's GraphQL enums are derived from them
(`strawberry.enum` in schema/account_types.py), so each value is written once.
"""

from __future__ import annotations

from enum import StrEnum


class RegistrationStep(StrEnum):
    VERIFY_EMAIL = "VERIFY_EMAIL"
    CHOOSE_ACCESS_TYPE = "CHOOSE_ACCESS_TYPE"
    COMPLETE_PROFILE = "COMPLETE_PROFILE"
    SELECT_ORGANIZATION = "SELECT_ORGANIZATION"
    DESCRIBE_ORGANIZATION = "DESCRIBE_ORGANIZATION"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    PARTNER_REFERRAL = "PARTNER_REFERRAL"
    COMPLETE = "COMPLETE"


class AccessLevel(StrEnum):
    NONE = "NONE"
    LIMITED = "LIMITED"
    FULL = "FULL"


class Role(StrEnum):
    MEMBER = "MEMBER"
    ADMIN = "ADMIN"


class SiteScope(StrEnum):
    ALL_SITES = "ALL_SITES"
    SELECTED_SITES = "SELECTED_SITES"


def access_level(step: str, organization_id: int | None) -> AccessLevel:
    """What a person may see: nothing before verifying their email, their
    organization's fleet once attached to one, public content in between."""
    if step == RegistrationStep.VERIFY_EMAIL:
        return AccessLevel.NONE
    if step == RegistrationStep.COMPLETE and organization_id is not None:
        return AccessLevel.FULL
    return AccessLevel.LIMITED
