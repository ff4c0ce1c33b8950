"""The two kinds of failure a client may see.

`UserError` is an expected failure of a mutation (bad input, wrong step): the
mutation wrapper turns it into a `userErrors` entry. `PublicError` is a
top-level GraphQL error with `extensions.code` (auth, limits, bad arguments);
it is the only exception class that error masking lets through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError


class UserError(Exception):
    def __init__(self, code: str, message: str, field: Sequence[str] | None = None) -> None:
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


def unauthenticated() -> PublicError:
    return PublicError("Sign in to see this.", "UNAUTHENTICATED")


def forbidden(message: str = "You are not allowed to do this.") -> PublicError:
    return PublicError(message, "FORBIDDEN")


def bad_input(message: str) -> PublicError:
    return PublicError(message, "BAD_USER_INPUT")
