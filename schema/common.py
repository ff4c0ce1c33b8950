"""Types shared by every domain: Node, PageInfo, connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Generic, TypeVar

import asyncpg
import strawberry
from strawberry.types.enum import has_enum_definition

from resolvers.pagination import Page


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


def connection_from_page(
    page: Page, from_row: Callable[[asyncpg.Record], NodeT]
) -> Connection[NodeT]:
    """The connection of one page of rows, each turned into its type by `from_row`."""
    return make_connection(
        [(cursor, from_row(row)) for cursor, row in zip(page.cursors, page.rows, strict=True)],
        page.has_next_page,
        page.has_previous_page,
        page.count_total,
    )


def describe_values(enum: type[Enum], **descriptions: str) -> None:
    """Give the values of an enum already passed to `strawberry.enum` their
    GraphQL descriptions (a domain enum cannot carry `strawberry.enum_value`)."""
    if not has_enum_definition(enum):
        raise TypeError(f"{enum.__name__} is not a strawberry.enum")
    for value in enum.__strawberry_definition__.values:
        value.description = descriptions.pop(value.name, value.description)
    if descriptions:
        raise ValueError(f"{enum.__name__} has no values {', '.join(descriptions)}")
