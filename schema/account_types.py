"""What clients see of people, organizations, registration and onboarding."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import asyncpg
import strawberry

from resolvers.account_loaders import (
    DomainsByOrganizationId,
    OrganizationById,
    UserById,
)
from resolvers.account_values import AccessLevel, RegistrationStep, Role, SiteScope, access_level
from resolvers.context import Context
from resolvers.ids import encode_id
from resolvers.members import default_site_scope
from resolvers.registration import latest_onboarding_request, organization_choices
from schema.common import Connection, Node, describe_values

if TYPE_CHECKING:
    from schema.fleet import Site, SiteFilter

Info = strawberry.Info[Context, None]


# The GraphQL enums of the account values are the domain's enums.
strawberry.enum(RegistrationStep, description="Where a person's registration stands.")
strawberry.enum(AccessLevel, description="What a signed-in person may see.")
describe_values(
    AccessLevel,
    NONE="Email not verified yet.",
    LIMITED="Verified, registration not finished: public content only.",
    FULL="Attached to an organization: its fleet, as its administrator allows.",
)
strawberry.enum(Role, description="A person's role in their organization.")
strawberry.enum(SiteScope, description="Which of the organization's sites a member sees.")


@strawberry.enum(description="Customer employee or partner.")
class AccessType(Enum):
    CUSTOMER_EMPLOYEE = "CUSTOMER_EMPLOYEE"
    PARTNER = "PARTNER"


@strawberry.enum(description="What kind of organization it is.")
class OrganizationKind(Enum):
    COMPANY = "COMPANY"
    GOVERNMENT = "GOVERNMENT"
    PARTNER = "PARTNER"


@strawberry.enum(description="Where an organization onboarding request stands.")
class OnboardingStatus(Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.enum(description="The platform staff's decision on an onboarding request.")
class OnboardingDecision(Enum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


@strawberry.type(description="A titled web link.")
class Link:
    title: str
    url: str


@strawberry.type(description="An organization the registrant may join (at SELECT_ORGANIZATION).")
class OrganizationChoice:
    id: strawberry.ID = strawberry.field(description="Pass it to `selectOrganization`.")
    name: str
    division: str | None
    city: str | None
    country: str

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> OrganizationChoice:
        return cls(
            id=strawberry.ID(encode_id("Organization", row["id"])),
            name=row["name"],
            division=row["division"],
            city=row["city"],
            country=row["country"],
        )


@strawberry.type(description='A sign-in: send the token as "Authorization: Bearer <token>".')
class Session:
    token: str
    expires_at: datetime


@strawberry.type(description="A person's registration: the step, what they may see, what is next.")
class Registration:
    step: RegistrationStep
    access_level: AccessLevel
    access_type: AccessType | None
    user_pk: strawberry.Private[int | None]
    email: strawberry.Private[str | None]

    @strawberry.field(description="The organizations to choose from, at SELECT_ORGANIZATION.")
    async def organization_choices(self, info: Info) -> list[OrganizationChoice]:
        if self.step is not RegistrationStep.SELECT_ORGANIZATION or self.email is None:
            return []
        rows = await organization_choices(info.context, self.email)
        return [OrganizationChoice.from_row(row) for row in rows]

    @strawberry.field(description="The latest organization onboarding request, once submitted.")
    async def onboarding_request(self, info: Info) -> OnboardingRequest | None:
        if self.user_pk is None:
            return None
        row = await latest_onboarding_request(info.context, self.user_pk)
        return OnboardingRequest.from_row(row) if row is not None else None

    @strawberry.field(description="The partner program references, at PARTNER_REFERRAL.")
    def partner_references(self, info: Info) -> list[Link]:
        if self.step is not RegistrationStep.PARTNER_REFERRAL:
            return []
        return [
            Link(title=title, url=url) for title, url in info.context.settings.partner_program_links
        ]


@strawberry.type(description="A person with an account.")
class User(Node):
    email: str
    first_name: str
    last_name: str
    job_title: str | None
    business_phone: str | None
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2.")
    preferred_language: str = strawberry.field(description='BCP 47, e.g. "fr" or "en".')
    role: Role | None
    site_scope: SiteScope | None
    created_at: datetime
    pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int | None]
    step: strawberry.Private[str]
    access_type: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        organization_id = row["organization_id"]
        return cls(
            id=strawberry.ID(encode_id("User", row["id"])),
            email=row["email"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            job_title=row["job_title"],
            business_phone=row["business_phone"],
            country=row["country"],
            preferred_language=row["preferred_language"],
            role=Role(row["role"]) if row["role"] else None,
            site_scope=SiteScope(row["site_scope"]) if organization_id is not None else None,
            created_at=row["created_at"],
            pk=row["id"],
            organization_pk=organization_id,
            step=row["step"],
            access_type=row["access_type"],
        )

    @strawberry.field(description="Where this person's registration stands.")
    def registration(self) -> Registration:
        return Registration(
            step=RegistrationStep(self.step),
            access_level=access_level(self.step, self.organization_pk),
            access_type=AccessType(self.access_type) if self.access_type else None,
            user_pk=self.pk,
            email=self.email,
        )

    @strawberry.field(description="The organization this person belongs to, once COMPLETE.")
    async def organization(self, info: Info) -> Organization | None:
        if self.organization_pk is None:
            return None
        row = await info.context.loaders.get(OrganizationById).load(self.organization_pk)
        return Organization.from_row(row) if row is not None else None

    @strawberry.field(description="The sites this person sees, as their administrator allows.")
    async def visible_sites(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Site, strawberry.lazy("schema.fleet")]]:
        # Imported here: schema.fleet imports this module.
        from schema.fleet import user_visible_sites

        return await user_visible_sites(info, self.pk, first, after)


@strawberry.type(description="A customer organization (a company, a division, an agency).")
class Organization(Node):
    name: str
    division: str | None
    kind: OrganizationKind
    country: str
    pk: strawberry.Private[int]
    stored_default_site_scope: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Organization:
        return cls(
            id=strawberry.ID(encode_id("Organization", row["id"])),
            name=row["name"],
            division=row["division"],
            kind=OrganizationKind(row["kind"]),
            country=row["country"],
            pk=row["id"],
            stored_default_site_scope=row["default_site_scope"],
        )

    @strawberry.field(
        description=(
            "Which sites a member attached from now on sees at first: ALL_SITES, or "
            "SELECTED_SITES with none until an administrator assigns some "
            "(`setMemberSiteAccess`). A change applies only to members attached after it; "
            "current members keep their access. Its administrators (and the platform "
            "staff) only: FORBIDDEN otherwise. Set with `setDefaultSiteScope`."
        )
    )
    def default_site_scope(self, info: Info) -> SiteScope | None:
        return default_site_scope(info.context, self.pk, self.stored_default_site_scope)

    @strawberry.field(description="The email domains that belong to this organization.")
    async def domains(self, info: Info) -> list[str]:
        domains: list[str] = await info.context.loaders.get(DomainsByOrganizationId).load(self.pk)
        return domains

    @strawberry.field(description="Its people (its administrators only).")
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> UserConnection:
        from schema.fleet import organization_members

        return await organization_members(info, self.pk, first, after)

    @strawberry.field(description="Its sites that the viewer sees.")
    async def sites(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: Annotated[SiteFilter, strawberry.lazy("schema.fleet")] | None = None,
    ) -> Connection[Annotated[Site, strawberry.lazy("schema.fleet")]]:
        from schema.fleet import organization_sites

        return await organization_sites(info, self.pk, first, after, filter)


@strawberry.type(description="A request to onboard a new organization, decided by the staff.")
class OnboardingRequest(Node):
    status: OnboardingStatus
    legal_name: str
    domain: str
    country: str
    submitted_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    pk: strawberry.Private[int]
    requester_pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> OnboardingRequest:
        return cls(
            id=strawberry.ID(encode_id("OnboardingRequest", row["id"])),
            status=OnboardingStatus(row["status"]),
            legal_name=row["legal_name"],
            domain=row["domain"],
            country=row["country"],
            submitted_at=row["submitted_at"],
            decided_at=row["decided_at"],
            decision_note=row["decision_note"],
            pk=row["id"],
            requester_pk=row["user_id"],
            organization_pk=row["organization_id"],
        )

    @strawberry.field(description="Who asked.")
    async def requester(self, info: Info) -> User:
        row = await info.context.loaders.get(UserById).load(self.requester_pk)
        assert row is not None  # a request is deleted with its user
        return User.from_row(row)

    @strawberry.field(description="The organization created, once approved.")
    async def organization(self, info: Info) -> Organization | None:
        if self.organization_pk is None:
            return None
        row = await info.context.loaders.get(OrganizationById).load(self.organization_pk)
        return Organization.from_row(row) if row is not None else None


UserConnection = Connection[User]
OnboardingRequestConnection = Connection[OnboardingRequest]
