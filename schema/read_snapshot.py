"""One snapshot per query operation: every read of its answer sees the same data.

Mutations are left alone: each takes its own transaction, and what a payload
reads afterwards must see what the mutation wrote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.context import Context


class OneSnapshotPerQuery(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if (
            isinstance(context, Context)
            and self.execution_context.operation_type is OperationType.QUERY
        ):
            async with context.read_snapshot():
                yield
        else:
            yield
