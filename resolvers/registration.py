"""The registration state machine (DESIGN §4) and password reset.

Each mutation runs in one transaction that first locks the user's row and
checks the step, so concurrent or aliased calls see each other's changes;
any call out of order answers WRONG_STEP. Mail goes to the outbox in the
same transaction. createAccount, resendVerificationCode and
requestPasswordReset answer alike for known and unknown addresses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from db.accounts import (
    close_pending_requests,
    count_onboarding_requests,
    fetch_default_site_scope,
    fetch_onboarding_request_domain,
    fetch_onboarding_request_page,
    fetch_organizations_for_domains,
    fetch_password_context,
    fetch_registration_json,
    insert_onboarding_request,
    insert_organization,
    insert_user,
    lock_colleagues_waiting_for,
    lock_domains,
    lock_onboarding_request,
    lock_user,
    lock_user_by_email,
    mark_email_verified,
    replace_unverified_registration,
    revoke_user_sessions,
    save_onboarding_decision,
    save_profile,
    set_password,
    spend_user_codes,
    update_user_step,
    verify_with_registration,
)
from db.throttle import (
    code_send_wait_seconds,
    forget_sign_in_failures,
    lock_address,
    record_code_send,
)
from db.types import Conn
from resolvers.account_loaders import LatestOnboardingRequestByUserId, may_see_onboarding_request
from resolvers.account_values import RegistrationStep, Role, SiteScope
from resolvers.context import Context
from resolvers.email_policy import (
    EmailAddress,
    business_email,
    domain_and_parents,
    normalize_email,
    password_problem,
)
from resolvers.errors import ErrorCode, UserError, UserErrors
from resolvers.i18n import SUPPORTED_LANGUAGES, Mail, user_error
from resolvers.one_time_codes import check_code, issue_code
from resolvers.outbox import enqueue_mail
from resolvers.pagination import Page, id_keyset_page
from resolvers.permissions import require_staff, require_viewer
from resolvers.sessions import SessionGrant, hash_password, open_session
from resolvers.text_policy import disguises, normalized_text
from resolvers.throttle import throttle

VERIFY_EMAIL = "VERIFY_EMAIL"
RESET_PASSWORD = "RESET_PASSWORD"  # noqa: S105 - a code purpose
COUNTRY = re.compile(r"^[A-Z]{2}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{3,38}[0-9]$")
WEBSITE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
MAX_EMPLOYEES = 10_000_000


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class AccountForm:
    email: str
    password: str
    first_name: str
    last_name: str
    country: str | None
    preferred_language: str | None


@dataclass(frozen=True)
class AddressForm:
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str


@dataclass(frozen=True)
class ProfileForm:
    company_name: str
    job_title: str
    business_phone: str
    address: AddressForm


@dataclass(frozen=True)
class OrganizationForm:
    legal_name: str
    website: str | None
    address: AddressForm
    employee_count: int | None


class Checker:
    """Collects every input problem of a mutation, then raises them together."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.errors: list[UserError] = []

    def add(self, error: UserError) -> None:
        self.errors.append(error)

    def error(self, code: ErrorCode, key: str, field: list[str], **values: Any) -> None:
        self.errors.append(user_error(self.language, code, key, field, **values))

    def text(
        self, value: str | None, field: list[str], max_length: int, required: bool = True
    ) -> str | None:
        cleaned = normalized_text(value) if value is not None else ""
        if not cleaned:
            if required:
                self.error(ErrorCode.REQUIRED, "required", field)
            return None
        if len(cleaned) > max_length:
            self.error(ErrorCode.TOO_LONG, "too_long", field, max=max_length)
            return None
        if disguises(cleaned):
            self.error(ErrorCode.INVALID, "invalid", field)
            return None
        return cleaned

    def country(self, value: str | None, field: list[str], required: bool = True) -> str | None:
        cleaned = (value or "").strip().upper()
        if not cleaned:
            if required:
                self.error(ErrorCode.REQUIRED, "required", field)
            return None
        if not COUNTRY.match(cleaned):
            self.error(ErrorCode.INVALID, "country_invalid", field)
            return None
        return cleaned

    def address(self, form: AddressForm, field: list[str]) -> dict[str, str | None]:
        return {
            "line1": self.text(form.line1, [*field, "line1"], 200),
            "line2": self.text(form.line2, [*field, "line2"], 200, required=False),
            "city": self.text(form.city, [*field, "city"], 100),
            "region": self.text(form.region, [*field, "region"], 100, required=False),
            "postalCode": self.text(form.postal_code, [*field, "postalCode"], 20, required=False),
            "country": self.country(form.country, [*field, "country"]),
        }

    def raise_if_any(self) -> None:
        if self.errors:
            raise UserErrors(self.errors)


def language_of(value: str | None) -> str | None:
    """`fr`, `fr-CA` → "fr"; None when not supported."""
    if value is None:
        return None
    primary = value.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in SUPPORTED_LANGUAGES else None


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[1].lower()


def organization_label(row: asyncpg.Record | Mapping[str, Any]) -> str:
    return f"{row['name']} — {row['division']}" if row["division"] else str(row["name"])


def wrong_step(context: Context, step: str) -> UserError:
    return user_error(context.language, ErrorCode.WRONG_STEP, "wrong_step", step=step)


async def locked_viewer_at(conn: Conn, context: Context, step: RegistrationStep) -> asyncpg.Record:
    """The viewer's user row, locked, when it is at `step`; WRONG_STEP otherwise."""
    viewer = require_viewer(context)
    user = await lock_user(conn, viewer.user_id)
    assert user is not None  # the session's user; deleting a user deletes its sessions
    if user["step"] != step:
        raise wrong_step(context, user["step"])
    return user


async def lock_viewer_domains(conn: Conn, context: Context) -> None:
    """Lock the domains of the viewer's address (before the viewer's row, as the
    lock order in db/accounts.py says): attaching someone by domain then
    serialises with an approval for that domain, which either has made the
    organization this path then finds or sees this user waiting for it."""
    viewer = require_viewer(context)
    await lock_domains(conn, domain_and_parents(email_domain(viewer.email)))


# ----------------------------------------------------------- createAccount


async def create_account(context: Context, form: AccountForm) -> None:
    """Create the account at VERIFY_EMAIL and mail a code.

    When the address already has an account, its owner gets a notice instead
    and the answer is the same, so nobody learns which addresses exist.
    """
    language = language_of(form.preferred_language) or context.language
    checker = Checker(language)
    email: EmailAddress | None = None
    try:
        email = business_email(form.email, language, ["input", "email"])
    except UserError as error:
        checker.add(error)
    first_name = checker.text(form.first_name, ["input", "firstName"], 100)
    last_name = checker.text(form.last_name, ["input", "lastName"], 100)
    country = checker.country(form.country, ["input", "country"], required=False)
    if form.preferred_language is not None and language_of(form.preferred_language) is None:
        checker.error(ErrorCode.INVALID, "language_invalid", ["input", "preferredLanguage"])
    personal = [email.address if email else form.email, first_name, last_name]
    problem = password_problem(form.password, language, ["input", "password"], personal)
    if problem is not None:
        checker.add(problem)
    checker.raise_if_any()
    assert email is not None and first_name is not None and last_name is not None
    await throttle(
        context, "createAccount", email.address, context.settings.throttle_sign_up_global
    )
    # Hashed for known addresses too: the same work, the same time.
    password_hash = await hash_password(context, form.password)
    # What a code carries and its verification makes the account's.
    registration: dict[str, Any] = {
        "password_hash": password_hash,
        "first_name": first_name,
        "last_name": last_name,
        "country": country,
        "preferred_language": language,
    }
    settings = context.settings
    async with context.pool.acquire() as conn, conn.transaction():
        await lock_address(conn, email.address)
        may_send = (
            await code_send_wait_seconds(
                conn, email.address, settings.code_resend_seconds, settings.code_max_per_hour
            )
            == 0
        )
        user = await insert_user(conn, email=email.address, **registration)
        if user is None:
            existing = await lock_user_by_email(conn, email.address)
            assert existing is not None
            # An unverified account belongs to whoever proves the mailbox: this
            # registration replaces the earlier one (a resend carries it), the
            # codes already sent keep carrying theirs, and this one's code goes
            # out now, within the hourly cap but not the one-a-minute spacing:
            # else the owner's own code would wait while someone else's,
            # carrying that someone's password, was the only one in the mailbox.
            user = await replace_unverified_registration(conn, existing["id"], **registration)
            if user is not None:
                may_send = (
                    await code_send_wait_seconds(conn, email.address, 0, settings.code_max_per_hour)
                    == 0
                )
            if user is None:
                if may_send:
                    await record_code_send(conn, email.address)
                    await enqueue_mail(
                        conn,
                        to=existing["email"],
                        mail=Mail.ACCOUNT_EXISTS,
                        language=existing["preferred_language"],
                    )
                return
        if may_send:
            await record_code_send(conn, email.address)
            await send_verification_code(conn, context, user, orjson.dumps(registration).decode())


async def send_verification_code(
    conn: Conn, context: Context, user: asyncpg.Record, registration_json: str
) -> None:
    """Mail a code that carries `registration` (no text written by the registrant:
    the address is anyone's to type)."""
    code = await issue_code(conn, context.settings, user["id"], VERIFY_EMAIL, registration_json)
    await enqueue_mail(
        conn,
        to=user["email"],
        mail=Mail.VERIFICATION_CODE,
        language=user["preferred_language"],
        code=code,
        minutes=context.settings.code_ttl_seconds // 60,
    )


def lookup_address(context: Context, raw: str, field: list[str]) -> EmailAddress:
    email = normalize_email(raw)
    if email is None:
        raise user_error(context.language, ErrorCode.INVALID, "email_invalid", field)
    return email


async def claim_code_send(conn: Conn, context: Context, address: str) -> None:
    """Record a code sent to `address`, or RATE_LIMITED (known or unknown alike)."""
    settings = context.settings
    await lock_address(conn, address)
    wait = await code_send_wait_seconds(
        conn, address, settings.code_resend_seconds, settings.code_max_per_hour
    )
    if wait > 0:
        raise user_error(context.language, ErrorCode.RATE_LIMITED, "rate_limited", seconds=wait)
    await record_code_send(conn, address)


async def resend_verification_code(context: Context, raw_email: str) -> None:
    email = lookup_address(context, raw_email, ["email"])
    await throttle(context, "resendVerificationCode", email.address)
    async with context.pool.acquire() as conn, conn.transaction():
        await claim_code_send(conn, context, email.address)
        user = await lock_user_by_email(conn, email.address)
        if user is not None and user["step"] == RegistrationStep.VERIFY_EMAIL:
            # The account's latest registration: a createAccount that could not
            # mail a code at once (60 s rule) is the one a resend carries.
            registration = await fetch_registration_json(conn, user["id"])
            await send_verification_code(conn, context, user, registration)


async def verify_email(
    context: Context, raw_email: str, code: str
) -> tuple[SessionGrant, asyncpg.Record]:
    """Right code: the email is verified and the user signed in (LIMITED access).

    The registration that the code carried (password, names, language) becomes
    the account's, and nothing from before survives: every other code is spent
    and every session revoked.
    """
    email = lookup_address(context, raw_email, ["email"])
    await throttle(context, "verifyEmail", email.address)
    error: UserError | None
    async with context.pool.acquire() as conn, conn.transaction():
        user = await lock_user_by_email(conn, email.address)
        # Unknown or already verified: the same answer as a wrong code.
        if user is None or user["step"] != RegistrationStep.VERIFY_EMAIL:
            error = user_error(context.language, ErrorCode.INVALID_CODE, "code_invalid", ["code"])
        else:
            checked = await check_code(
                conn, context.settings, context.language, user["id"], VERIFY_EMAIL, code, ["code"]
            )
            error = checked.error
        if error is None:
            assert user is not None
            if checked.registration_json is not None:
                verified = await verify_with_registration(
                    conn, user["id"], checked.registration_json
                )
            else:  # a code issued before codes carried their registration
                verified = await mark_email_verified(conn, user["id"])
            await spend_user_codes(conn, user["id"])
            await revoke_user_sessions(conn, user["id"])
            grant = await open_session(conn, context, user["id"])
    # Raised after the commit: a wrong try stays counted.
    if error is not None:
        raise error
    return grant, verified


# ---------------------------------------------------- the registration steps


async def choose_access_type(context: Context, access_type: str) -> asyncpg.Record:
    async with context.pool.acquire() as conn, conn.transaction():
        user = await locked_viewer_at(conn, context, RegistrationStep.CHOOSE_ACCESS_TYPE)
        step = (
            RegistrationStep.PARTNER_REFERRAL
            if access_type == "PARTNER"
            else RegistrationStep.COMPLETE_PROFILE
        )
        return await update_user_step(conn, user["id"], step, access_type=access_type)


async def submit_professional_profile(context: Context, form: ProfileForm) -> asyncpg.Record:
    checker = Checker(context.language)
    company_name = checker.text(form.company_name, ["input", "companyName"], 200)
    job_title = checker.text(form.job_title, ["input", "jobTitle"], 100)
    phone = checker.text(form.business_phone, ["input", "businessPhone"], 40)
    if phone is not None and not PHONE.match(phone):
        checker.error(ErrorCode.INVALID, "phone_invalid", ["input", "businessPhone"])
    address = checker.address(form.address, ["input", "address"])
    checker.raise_if_any()
    assert company_name and job_title and phone and address["country"]
    async with context.pool.acquire() as conn, conn.transaction():
        await lock_viewer_domains(conn, context)
        user = await locked_viewer_at(conn, context, RegistrationStep.COMPLETE_PROFILE)
        await save_profile(
            conn,
            user["id"],
            company_name=company_name,
            job_title=job_title,
            business_phone=phone,
            address_json=orjson.dumps(address).decode(),
            country=address["country"],
        )
        organizations = await fetch_organizations_for_domains(
            conn, domain_and_parents(email_domain(user["email"]))
        )
        if len(organizations) == 1:
            return await join_organization(conn, user, organizations[0])
        step = (
            RegistrationStep.SELECT_ORGANIZATION
            if organizations
            else RegistrationStep.DESCRIBE_ORGANIZATION
        )
        return await update_user_step(conn, user["id"], step)


async def join_organization(
    conn: Conn, user: asyncpg.Record, organization: asyncpg.Record | Mapping[str, Any]
) -> asyncpg.Record:
    """COMPLETE as a MEMBER with the organization's default site scope: every attach
    path (domain match, division choice, onboarding approval) comes here.

    With SELECTED_SITES the member sees no site until an administrator assigns
    some (a new member has no user_sites rows).
    """
    scope = SiteScope(await fetch_default_site_scope(conn, organization["id"]))
    joined = await update_user_step(
        conn,
        user["id"],
        RegistrationStep.COMPLETE,
        organization_id=organization["id"],
        role=Role.MEMBER,
        site_scope=scope,
    )
    await enqueue_mail(
        conn,
        to=user["email"],
        mail=Mail.ACCOUNT_READY,
        language=user["preferred_language"],
        first_name=user["first_name"],
        organization=organization_label(organization),
    )
    return joined


async def organization_choices(context: Context, email: str) -> list[asyncpg.Record]:
    """The organizations owning the most specific registered domain of `email`."""
    return await fetch_organizations_for_domains(
        context.primary_db, domain_and_parents(email_domain(email))
    )


async def select_organization(context: Context, organization_id: int | None) -> asyncpg.Record:
    async with context.pool.acquire() as conn, conn.transaction():
        await lock_viewer_domains(conn, context)
        user = await locked_viewer_at(conn, context, RegistrationStep.SELECT_ORGANIZATION)
        choices = await fetch_organizations_for_domains(
            conn, domain_and_parents(email_domain(user["email"]))
        )
        chosen = next((row for row in choices if row["id"] == organization_id), None)
        if chosen is None:
            raise user_error(
                context.language, ErrorCode.INVALID, "not_a_choice", ["organizationId"]
            )
        return await join_organization(conn, user, chosen)


async def submit_organization_details(context: Context, form: OrganizationForm) -> asyncpg.Record:
    checker = Checker(context.language)
    legal_name = checker.text(form.legal_name, ["input", "legalName"], 200)
    website = checker.text(form.website, ["input", "website"], 300, required=False)
    if website is not None and not WEBSITE.match(website):
        checker.error(ErrorCode.INVALID, "website_invalid", ["input", "website"])
    address = checker.address(form.address, ["input", "address"])
    if form.employee_count is not None and not 0 <= form.employee_count <= MAX_EMPLOYEES:
        checker.error(
            ErrorCode.INVALID,
            "number_invalid",
            ["input", "employeeCount"],
            min=0,
            max=MAX_EMPLOYEES,
        )
    checker.raise_if_any()
    assert legal_name and address["country"]
    async with context.pool.acquire() as conn, conn.transaction():
        user = await locked_viewer_at(conn, context, RegistrationStep.DESCRIBE_ORGANIZATION)
        await insert_onboarding_request(
            conn,
            user_id=user["id"],
            legal_name=legal_name,
            domain=email_domain(user["email"]),
            website=website,
            address_json=orjson.dumps(address).decode(),
            country=address["country"],
            employee_count=form.employee_count,
        )
        await enqueue_mail(
            conn,
            to=user["email"],
            mail=Mail.ONBOARDING_RECEIVED,
            language=user["preferred_language"],
            first_name=user["first_name"],
            legal_name=legal_name,
        )
        return await update_user_step(conn, user["id"], RegistrationStep.AWAITING_APPROVAL)


async def decide_onboarding_request(
    context: Context, request_id: int | None, decision: str, note: str | None
) -> asyncpg.Record:
    """APPROVE: the organization is created with the domain, the requester its ADMIN.

    REJECT (with a note): the requester goes back to DESCRIBE_ORGANIZATION.
    """
    staff = require_staff(context)
    checker = Checker(context.language)
    cleaned_note = checker.text(note, ["note"], 2000, required=False)
    if decision == "REJECT" and cleaned_note is None and not checker.errors:
        checker.error(ErrorCode.REQUIRED, "note_required", ["note"])
    checker.raise_if_any()
    not_found = user_error(context.language, ErrorCode.NOT_FOUND, "request_not_found", ["id"])
    async with context.pool.acquire() as conn, conn.transaction():
        # The domain first, then the request and its requester (the lock order
        # in db/accounts.py): an approval locks the domain's waiting colleagues,
        # so a decision that held its request and requester before the domain
        # would deadlock with a colleague's decision holding the domain.
        domain = await fetch_onboarding_request_domain(conn, request_id) if request_id else None
        if domain is None:
            raise not_found
        await lock_domains(conn, domain_and_parents(domain))
        request = await lock_onboarding_request(conn, request_id) if request_id else None
        if request is None:
            raise not_found
        if request["status"] != "PENDING":
            raise user_error(context.language, ErrorCode.WRONG_STEP, "request_decided", ["id"])
        requester = await lock_user(conn, request["user_id"])
        assert requester is not None
        values = {
            "first_name": requester["first_name"],
            "legal_name": request["legal_name"],
            "domain": request["domain"],
            "note": cleaned_note or "",
        }
        if decision == "APPROVE":
            organization_id = await approve(conn, staff.user_id, request, requester)
            mail = Mail.ONBOARDING_APPROVED
        else:
            organization_id = None
            await update_user_step(conn, requester["id"], RegistrationStep.DESCRIBE_ORGANIZATION)
            mail = Mail.ONBOARDING_REJECTED
        decided = await save_onboarding_decision(
            conn,
            request["id"],
            status="APPROVED" if decision == "APPROVE" else "REJECTED",
            decided_by=staff.user_id,
            note=cleaned_note,
            organization_id=organization_id,
        )
        await enqueue_mail(
            conn,
            to=requester["email"],
            mail=mail,
            language=requester["preferred_language"],
            **values,
        )
        return decided


async def approve(
    conn: Conn, staff_id: int, request: asyncpg.Record, requester: asyncpg.Record
) -> int | None:
    """Create the organization with the domain, its requester as ADMIN, and let
    colleagues who were waiting for it in.

    When the domain found an organization meanwhile (a colleague's request
    approved first), no second one is made: the requester joins as anyone
    of that domain would. The caller holds the domain locked.
    """
    owners = await fetch_organizations_for_domains(conn, domain_and_parents(request["domain"]))
    if len(owners) == 1:
        await join_organization(conn, requester, owners[0])
        return int(owners[0]["id"])
    if owners:
        await update_user_step(conn, requester["id"], RegistrationStep.SELECT_ORGANIZATION)
        return None
    address = orjson.loads(request["address"])
    organization_id = await insert_organization(
        conn,
        name=request["legal_name"],
        city=address.get("city"),
        country=request["country"],
        domain=request["domain"],
    )
    # An ADMIN sees every site whatever the scope; members who follow get the
    # new organization's default (join_organization).
    await update_user_step(
        conn,
        requester["id"],
        RegistrationStep.COMPLETE,
        organization_id=organization_id,
        role=Role.ADMIN,
        site_scope=SiteScope.ALL_SITES,
    )
    colleagues = [
        c
        for c in await lock_colleagues_waiting_for(conn, request["domain"])
        if c["id"] != requester["id"]
    ]
    organization = {"id": organization_id, "name": request["legal_name"], "division": None}
    for colleague in colleagues:
        await join_organization(conn, colleague, organization)
    if colleagues:
        await close_pending_requests(
            conn,
            [c["id"] for c in colleagues],
            decided_by=staff_id,
            organization_id=organization_id,
            note=f"Joined {request['legal_name']}, approved for {request['domain']}.",
        )
    return organization_id


async def latest_onboarding_request(context: Context, user_id: int) -> asyncpg.Record | None:
    """A user's latest onboarding request, for themselves and the platform staff
    only (an organization's administrator does not read members' requests or
    the staff's notes on them)."""
    row: asyncpg.Record | None = await context.loaders.get(LatestOnboardingRequestByUserId).load(
        user_id
    )
    if row is None or not may_see_onboarding_request(context.viewer, row):
        return None
    return row


# ------------------------------------------------------------ password reset


async def request_password_reset(context: Context, raw_email: str) -> None:
    """Mail a reset code when the address has an account; the same answer otherwise."""
    email = lookup_address(context, raw_email, ["email"])
    await throttle(context, "requestPasswordReset", email.address)
    async with context.pool.acquire() as conn, conn.transaction():
        await claim_code_send(conn, context, email.address)
        user = await lock_user_by_email(conn, email.address)
        if user is None:
            return
        code = await issue_code(conn, context.settings, user["id"], RESET_PASSWORD)
        await enqueue_mail(
            conn,
            to=user["email"],
            mail=Mail.PASSWORD_RESET,
            language=user["preferred_language"],
            code=code,
            minutes=context.settings.code_ttl_seconds // 60,
        )


async def reset_password(context: Context, raw_email: str, code: str, new_password: str) -> None:
    """Right code: the new password is set and every session of the user is revoked.

    Before the code is checked the password is judged only on what the caller
    sent (the address): a check against the account's names there would answer
    WEAK_PASSWORD for a known address and INVALID_CODE for an unknown one, and
    tell anyone which addresses exist and what their owners are called. The
    account's names and organization count once the code proved the mailbox.
    """
    email = lookup_address(context, raw_email, ["email"])
    await throttle(context, "resetPassword", email.address)
    problem = password_problem(new_password, context.language, ["newPassword"], [email.address])
    if problem is not None:
        raise problem
    new_hash = await hash_password(context, new_password)
    error: UserError | None
    async with context.pool.acquire() as conn, conn.transaction():
        user = await lock_user_by_email(conn, email.address)
        if user is None:
            error = user_error(context.language, ErrorCode.INVALID_CODE, "code_invalid", ["code"])
        else:
            checked = await check_code(
                conn, context.settings, context.language, user["id"], RESET_PASSWORD, code, ["code"]
            )
            error = checked.error
        if error is None:
            assert user is not None
            personal = [email.address, *await fetch_password_context(conn, email.address)]
            problem = password_problem(new_password, context.language, ["newPassword"], personal)
            if problem is not None:
                # Raised inside the transaction: it rolls back, and the code,
                # right but not used, stays live for a better password.
                raise problem
            await set_password(conn, user["id"], new_hash)
            if user["step"] == RegistrationStep.VERIFY_EMAIL:
                # The reset code proved the mailbox, with a password its owner chose.
                await mark_email_verified(conn, user["id"])
            await spend_user_codes(conn, user["id"])
            await revoke_user_sessions(conn, user["id"])
            await forget_sign_in_failures(conn, user["email"])
    if error is not None:
        raise error


# ----------------------------------------------------------- staff listing


async def onboarding_request_page(
    context: Context, first: int | None, after: str | None, status: str | None
) -> Page:
    """Staff: onboarding requests oldest first, keyset by id."""
    require_staff(context)
    pool = context.primary_db

    async def fetch(after_id: int | None, limit: int) -> list[asyncpg.Record]:
        return await fetch_onboarding_request_page(
            pool, status=status, after_id=after_id, limit=limit
        )

    async def total() -> int:
        return await count_onboarding_requests(pool, status=status)

    return await id_keyset_page(first, after, fetch, total)
