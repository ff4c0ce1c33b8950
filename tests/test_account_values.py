"""Registration steps, access levels, roles and site scopes are one enum each:
the GraphQL enums are the domain's, and the access-level rule is written once."""

from __future__ import annotations

from enum import StrEnum

import pytest
from strawberry.schema.schema_converter import GraphQLCoreConverter

from config import Settings
from resolvers.account_values import (
    AccessLevel,
    RegistrationStep,
    Role,
    SiteScope,
    access_level,
)
from schema import build_schema


@pytest.mark.parametrize("domain", [RegistrationStep, AccessLevel, Role, SiteScope])
def test_the_graphql_enum_is_the_domain_enum(domain: type[StrEnum]) -> None:
    graphql_enum = build_schema(Settings(env="test"))._schema.type_map[domain.__name__]
    assert list(graphql_enum.values) == [member.value for member in domain]  # type: ignore[attr-defined]
    definition = graphql_enum.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
    assert definition.wrapped_cls is domain


def test_access_levels_keep_their_descriptions() -> None:
    graphql_enum = build_schema(Settings(env="test"))._schema.type_map["AccessLevel"]
    described = {name: v.description for name, v in graphql_enum.values.items()}  # type: ignore[attr-defined]
    assert described["NONE"] == "Email not verified yet."
    assert all(described.values())


@pytest.mark.parametrize("step", list(RegistrationStep))
@pytest.mark.parametrize("organization_id", [None, 7])
def test_the_access_level_follows_the_step_and_the_organization(
    step: RegistrationStep, organization_id: int | None
) -> None:
    expected = (
        AccessLevel.NONE
        if step is RegistrationStep.VERIFY_EMAIL
        else AccessLevel.FULL
        if step is RegistrationStep.COMPLETE and organization_id is not None
        else AccessLevel.LIMITED
    )
    # Rows carry the step as text: the rule reads either.
    assert access_level(step.value, organization_id) is expected
    assert access_level(step, organization_id) is expected
