"""The WebSocket carries subscriptions only.

Queries and mutations go over HTTP, where the edge applies its rules: trusted
documents only (`PERSISTED_QUERIES=only`), the body size limit, credential
mutations' headers, metrics by operation. Strawberry's graphql-transport-ws
handler would run any operation type, so a signed-in client could step
around all of them on the WebSocket.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ASTValidationRule, GraphQLError, OperationDefinitionNode, OperationType
from strawberry.extensions import SchemaExtension

OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
PLURALS = {OperationType.QUERY: "Queries", OperationType.MUTATION: "Mutations"}


class OnlySubscriptions(ASTValidationRule):
    """Refuses every operation of the document that is not a subscription."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if node.operation != OperationType.SUBSCRIPTION:
            self.report_error(
                GraphQLError(
                    f"{PLURALS[node.operation]} are served over HTTP"
                    " (POST /graphql); the WebSocket carries subscriptions only.",
                    node,
                    extensions={"code": OPERATION_NOT_ALLOWED},
                )
            )


class SubscriptionsOnlyOverWebSocket(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        # A validation rule, so that the refusal is an `error` message of the
        # operation (an exception in a hook would end it without a word).
        request = getattr(self.execution_context.context, "request", None)
        if request is not None and request.scope.get("type") == "websocket":
            rules = self.execution_context.validation_rules
            self.execution_context.validation_rules = (*rules, OnlySubscriptions)
        yield
