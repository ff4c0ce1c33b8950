"""Registration, sign-in, password reset and onboarding decision mutations."""

from __future__ import annotations

import strawberry

from resolvers import registration, sessions
from resolvers.ids import decode_id_of
from resolvers.permissions import IsAuthenticated, IsStaff
from schema.account_types import (
    AccessLevel,
    AccessType,
    Info,
    OnboardingDecision,
    OnboardingRequest,
    Registration,
    RegistrationStep,
    Session,
    User,
)
from schema.mutations import MutationPayload, mutation

# ------------------------------------------------------------------ inputs


@strawberry.input(description="A new account: business email, password, name.")
class CreateAccountInput:
    email: str
    password: str
    first_name: str
    last_name: str
    country: str | None = None
    preferred_language: str | None = strawberry.field(
        default=None, description='"en" or "fr"; default: the Accept-Language header.'
    )


@strawberry.input(description="A postal address.")
class AddressInput:
    line1: str
    line2: str | None = None
    city: str
    region: str | None = None
    postal_code: str | None = None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")

    def to_form(self) -> registration.AddressForm:
        return registration.AddressForm(
            line1=self.line1,
            line2=self.line2,
            city=self.city,
            region=self.region,
            postal_code=self.postal_code,
            country=self.country,
        )


@strawberry.input(description="The professional registration details of a customer employee.")
class ProfessionalProfileInput:
    company_name: str
    job_title: str
    business_phone: str
    address: AddressInput


@strawberry.input(description="A new organization, for the platform staff to review.")
class OrganizationDetailsInput:
    legal_name: str
    website: str | None = None
    address: AddressInput
    employee_count: int | None = None


# ---------------------------------------------------------------- payloads


@strawberry.type
class CreateAccountPayload(MutationPayload):
    registration: Registration | None = None


@strawberry.type
class ResendVerificationCodePayload(MutationPayload):
    """A new code was sent, or why not."""


@strawberry.type
class VerifyEmailPayload(MutationPayload):
    session: Session | None = None
    viewer: User | None = None


@strawberry.type
class SignInPayload(MutationPayload):
    session: Session | None = None
    viewer: User | None = None


@strawberry.type
class SignOutPayload(MutationPayload):
    """The session is revoked."""


@strawberry.type
class SignOutEverywherePayload(MutationPayload):
    """Every session of the user is revoked, this one included."""


@strawberry.type
class RegistrationPayload(MutationPayload):
    viewer: User | None = None


@strawberry.type
class RequestPasswordResetPayload(MutationPayload):
    """A reset code was sent (if the address has an account), or why not."""


@strawberry.type
class ResetPasswordPayload(MutationPayload):
    """The password was changed, or why not."""


@strawberry.type
class OnboardingDecisionPayload(MutationPayload):
    onboarding_request: OnboardingRequest | None = None


def new_account_registration() -> Registration:
    # The same for a new address and for one that already has an account.
    return Registration(
        step=RegistrationStep.VERIFY_EMAIL,
        access_level=AccessLevel.NONE,
        access_type=None,
        user_pk=None,
        email=None,
    )


# --------------------------------------------------------------- mutations


@strawberry.type
class AccountsMutation:
    @mutation(
        description="Create an account at VERIFY_EMAIL and email a code. Answers alike "
        "whether or not the address already has an account."
    )
    async def create_account(self, info: Info, input: CreateAccountInput) -> CreateAccountPayload:
        form = registration.AccountForm(
            email=input.email,
            password=input.password,
            first_name=input.first_name,
            last_name=input.last_name,
            country=input.country,
            preferred_language=input.preferred_language,
        )
        await registration.create_account(info.context, form)
        return CreateAccountPayload(registration=new_account_registration())

    @mutation(description="Email a new verification code (60 s apart, 5 an hour).")
    async def resend_verification_code(
        self, info: Info, email: str
    ) -> ResendVerificationCodePayload:
        await registration.resend_verification_code(info.context, email)
        return ResendVerificationCodePayload()

    @mutation(description="Check the emailed code; signs the user in (LIMITED).")
    async def verify_email(self, info: Info, email: str, code: str) -> VerifyEmailPayload:
        grant, row = await registration.verify_email(info.context, email, code)
        return VerifyEmailPayload(
            session=Session(token=grant.token, expires_at=grant.expires_at),
            viewer=User.from_row(row),
        )

    @mutation(
        description="CHOOSE_ACCESS_TYPE → COMPLETE_PROFILE or PARTNER_REFERRAL.",
        permission_classes=[IsAuthenticated],
    )
    async def choose_access_type(self, info: Info, access_type: AccessType) -> RegistrationPayload:
        row = await registration.choose_access_type(info.context, access_type.value)
        return RegistrationPayload(viewer=User.from_row(row))

    @mutation(
        description="COMPLETE_PROFILE → COMPLETE (one organization owns the email's domain), "
        "SELECT_ORGANIZATION (several) or DESCRIBE_ORGANIZATION (none).",
        permission_classes=[IsAuthenticated],
    )
    async def submit_professional_profile(
        self, info: Info, input: ProfessionalProfileInput
    ) -> RegistrationPayload:
        form = registration.ProfileForm(
            company_name=input.company_name,
            job_title=input.job_title,
            business_phone=input.business_phone,
            address=input.address.to_form(),
        )
        row = await registration.submit_professional_profile(info.context, form)
        return RegistrationPayload(viewer=User.from_row(row))

    @mutation(
        description="SELECT_ORGANIZATION → COMPLETE, with one of `organizationChoices`.",
        permission_classes=[IsAuthenticated],
    )
    async def select_organization(
        self, info: Info, organization_id: strawberry.ID
    ) -> RegistrationPayload:
        pk = decode_id_of(organization_id, "Organization")
        row = await registration.select_organization(info.context, pk)
        return RegistrationPayload(viewer=User.from_row(row))

    @mutation(
        description="DESCRIBE_ORGANIZATION → AWAITING_APPROVAL: a request for the staff.",
        permission_classes=[IsAuthenticated],
    )
    async def submit_organization_details(
        self, info: Info, input: OrganizationDetailsInput
    ) -> RegistrationPayload:
        form = registration.OrganizationForm(
            legal_name=input.legal_name,
            website=input.website,
            address=input.address.to_form(),
            employee_count=input.employee_count,
        )
        row = await registration.submit_organization_details(info.context, form)
        return RegistrationPayload(viewer=User.from_row(row))

    @mutation(description="A session for a verified account; else INVALID_CREDENTIALS.")
    async def sign_in(self, info: Info, email: str, password: str) -> SignInPayload:
        grant, row = await sessions.sign_in(info.context, email, password)
        return SignInPayload(
            session=Session(token=grant.token, expires_at=grant.expires_at),
            viewer=User.from_row(row),
        )

    @mutation(
        description="Revoke the session of this request.", permission_classes=[IsAuthenticated]
    )
    async def sign_out(self, info: Info) -> SignOutPayload:
        await sessions.sign_out(info.context)
        return SignOutPayload()

    @mutation(
        description="Revoke every session of the signed-in user, on every device, this one "
        "included.",
        permission_classes=[IsAuthenticated],
    )
    async def sign_out_everywhere(self, info: Info) -> SignOutEverywherePayload:
        await sessions.sign_out_everywhere(info.context)
        return SignOutEverywherePayload()

    @mutation(description="Email a reset code. Answers alike for unknown addresses.")
    async def request_password_reset(self, info: Info, email: str) -> RequestPasswordResetPayload:
        await registration.request_password_reset(info.context, email)
        return RequestPasswordResetPayload()

    @mutation(description="Set a new password with the emailed code; signs out everywhere.")
    async def reset_password(
        self, info: Info, email: str, code: str, new_password: str
    ) -> ResetPasswordPayload:
        await registration.reset_password(info.context, email, code, new_password)
        return ResetPasswordPayload()

    @mutation(
        description="Platform staff: approve (the organization is created, the requester its "
        "ADMIN) or reject with a note (back to DESCRIBE_ORGANIZATION).",
        permission_classes=[IsStaff],
    )
    async def decide_onboarding_request(
        self,
        info: Info,
        id: strawberry.ID,
        decision: OnboardingDecision,
        note: str | None = None,
    ) -> OnboardingDecisionPayload:
        pk = decode_id_of(id, "OnboardingRequest")
        row = await registration.decide_onboarding_request(info.context, pk, decision.value, note)
        return OnboardingDecisionPayload(onboarding_request=OnboardingRequest.from_row(row))
