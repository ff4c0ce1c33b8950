"""How every mutation reports expected failures: `userErrors` in its payload.

A mutation's resolver returns its payload on success and raises `UserError`
(or `UserErrors`) otherwise; `UserErrorsAsPayload`, attached to every mutation
by the `mutation` decorator, turns what was raised into the same payload
carrying `userErrors` (Saleor's `BaseMutation.handle_errors`, as a Strawberry
field extension). Anything else raised is not caught here: it is either a
coded `PublicError` or an unexpected failure that error masking hides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import (
    AsyncExtensionResolver,
    SyncExtensionResolver,
)
from strawberry.permission import BasePermission
from strawberry.types.field import StrawberryField

from resolvers.errors import ErrorCode, UserError, UserErrors

logger = logging.getLogger("service360.errors")

# The GraphQL enum is the domain's enum: its values are written once.
strawberry.enum(ErrorCode, name="UserErrorCode", description="Why a mutation's input was refused.")


@strawberry.type(
    name="UserError", description="An expected failure of a mutation, in the request's language."
)
class UserErrorType:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "email"].'
    )
    message: str
    code: ErrorCode


@strawberry.type
class MutationPayload:
    """What every mutation answers: its own fields, and why it refused, if it did."""

    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


def user_errors(error: UserError | UserErrors) -> list[UserErrorType]:
    errors = error.errors if isinstance(error, UserErrors) else [error]
    return [UserErrorType(field=e.field, message=e.message, code=e.code) for e in errors]


def refused(payload: type[MutationPayload], mutation: str, error: UserError | UserErrors) -> Any:
    """The payload carrying the user errors; each is logged at INFO (a client mistake)."""
    answer = payload(user_errors=user_errors(error))
    for entry in answer.user_errors:
        logger.info(
            f"user error: {entry.message}",
            extra={"code": entry.code.value, "field": entry.field, "mutation": mutation},
        )
    return answer


class UserErrorsAsPayload(FieldExtension):
    """A raised `UserError`/`UserErrors` becomes the field's payload with `userErrors`."""

    payload: type[MutationPayload]

    def apply(self, field: StrawberryField) -> None:
        payload = field.type
        if not (isinstance(payload, type) and issubclass(payload, MutationPayload)):
            raise TypeError(f"mutation {field.python_name} must return a MutationPayload")
        self.payload = payload

    def resolve(
        self, next_: SyncExtensionResolver, source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        try:
            return next_(source, info, **kwargs)
        except (UserError, UserErrors) as error:
            return refused(self.payload, info.field_name, error)

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except (UserError, UserErrors) as error:
            return refused(self.payload, info.field_name, error)


def mutation(
    *, description: str, permission_classes: Sequence[type[BasePermission]] = ()
) -> Callable[[Callable[..., Any]], Any]:
    """`strawberry.mutation` whose raised user errors become its payload's `userErrors`."""
    return strawberry.mutation(
        description=description,
        permission_classes=list(permission_classes),
        extensions=[UserErrorsAsPayload()],
    )
