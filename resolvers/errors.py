"""The two kinds of failure a client may see, and the codes of the first.

`UserError` (or several at once, `UserErrors`) is an expected failure of a
mutation: bad input, wrong step, not found. Resolvers raise it; the schema's
`UserErrorsAsPayload` field extension (schema/mutations.py) turns it into the
mutation's payload with `userErrors`. Its `code` is an `ErrorCode`, the one
list of those codes; the GraphQL enum `UserErrorCode` is derived from it.

`PublicError` is a top-level GraphQL error with `extensions.code` (auth,
limits, bad arguments); it is the only exception class that error masking
lets through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from graphql import GraphQLError


class ErrorCode(StrEnum):
    """Why a mutation refused its input (the `code` of a userErrors entry)."""

    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    REQUIRED = "REQUIRED"
    PERSONAL_EMAIL_DOMAIN = "PERSONAL_EMAIL_DOMAIN"
    DISPOSABLE_EMAIL_DOMAIN = "DISPOSABLE_EMAIL_DOMAIN"
    WEAK_PASSWORD = "WEAK_PASSWORD"  # noqa: S105 - an error code
    INVALID_CODE = "INVALID_CODE"
    CODE_EXPIRED = "CODE_EXPIRED"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    WRONG_STEP = "WRONG_STEP"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    ALREADY_EXISTS = "ALREADY_EXISTS"


class UserError(Exception):
    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None


class UserErrors(Exception):
    """Several userErrors found at once (e.g. every invalid input field)."""

    def __init__(self, errors: Sequence[UserError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)


class PublicError(GraphQLError):
    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


def bad_input(message: str) -> PublicError:
    return PublicError(message, "BAD_USER_INPUT")
