"""`node(id:)`: any object by its opaque global id, within what the viewer may see."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import strawberry

from resolvers.context import Context
from resolvers.ids import decode_id
from schema.common import Node

NodeLoader = Callable[[Context, int], Awaitable[Any]]


def build_node_query(loaders: Mapping[str, NodeLoader]) -> type:
    """A Query mixin whose `node` field dispatches on the id's type name.

    Each loader applies the viewer's visibility itself, so an id of another
    tenant (or a malformed one) answers null, as if it did not exist.
    """

    @strawberry.type
    class NodeQuery:
        @strawberry.field(description="The object with this global id, or null.")
        async def node(
            self, info: strawberry.Info[Context, None], id: strawberry.ID
        ) -> Node | None:
            decoded = decode_id(id)
            if decoded is None:
                return None
            loader = loaders.get(decoded[0])
            if loader is None:
                return None
            result: Node | None = await loader(info.context, decoded[1])
            return result

    return NodeQuery
