"""Types shared by every domain: Node, PageInfo, connections, UserError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Generic, TypeVar

import strawberry

from resolvers.errors import UserError, UserErrors


@strawberry.interface(description="An object with an opaque global id; `node(id:)` returns it.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Where a page of a connection starts and ends.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


NodeT = TypeVar("NodeT")


@strawberry.type(description="One item of a connection and the cursor just after it.")
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(description="A page of a list: edges (or nodes), where it ends, and the total.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The same items as `edges`, without cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many items the whole list holds (all pages).")
    async def total_count(self) -> int:
        # Counted only when asked for: most pages of a mobile list do not.
        return await self.count_total()


def make_connection(
    items: Sequence[tuple[str, NodeT]],
    has_next_page: bool,
    has_previous_page: bool,
    count_total: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    """Build a page from (cursor, node) pairs already cut to the page size."""
    edges = [Edge(cursor=cursor, node=node) for cursor, node in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next_page,
            has_previous_page=has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count_total=count_total,
    )


@strawberry.enum(description="Why a mutation's input was refused.")
class UserErrorCode(Enum):
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


@strawberry.type(
    name="UserError", description="An expected failure of a mutation, in the request's language."
)
class UserErrorType:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "email"].'
    )
    message: str
    code: UserErrorCode


def user_errors(error: UserError | UserErrors) -> list[UserErrorType]:
    errors = error.errors if isinstance(error, UserErrors) else [error]
    return [
        UserErrorType(field=e.field, message=e.message, code=UserErrorCode(e.code)) for e in errors
    ]
