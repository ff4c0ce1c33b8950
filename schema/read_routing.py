"""Route a query's fleet reads to a replica; record a mutation's WAL position."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.context import Context
from resolvers.read_routing import remember_write, report_replica_failures, route_reads


class ReadRouting(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        operation = execution.operation_type if isinstance(context, Context) else None
        if operation is OperationType.QUERY:
            route_reads(context)
        yield
        if operation is OperationType.QUERY:
            errors = getattr(execution.result, "errors", None) or ()
            report_replica_failures(context, [e.original_error for e in errors])
        elif operation is OperationType.MUTATION:
            await remember_write(context)
