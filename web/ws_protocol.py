"""graphql-transport-ws messages checked before Strawberry's handler reads them.

Strawberry indexes a message as the protocol says it is shaped: a `subscribe`
whose payload is a string, an id that is a list, a query that is a number or
variables that are a string raised TypeError or AttributeError inside the
handler (an ERROR with a traceback, the socket dropped without a close code,
or an operation completed with no word). A message of the wrong shape
closes the connection with 4400, as the protocol asks. Its per-connection
subscription limit is refused here too, with a code, like the per-person one,
and a person past WS_CONNECTIONS_PER_USER is closed with 4429 at connection_init.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from resolvers.live import CLOSE_TOO_MANY, TooManyConnections

# graphql-ws sends UUIDs; an id is echoed in every message of its operation
# and kept while it runs, so a megabyte id would be held and resent.
MAX_OPERATION_ID_LENGTH = 128
TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"


def _optional(value: Any, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def message_problem(message: object) -> str | None:
    """Why `message` is not a graphql-transport-ws message (None: it is one)."""
    if not isinstance(message, dict):
        return "A message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message must have a string `type`"
    if kind in ("connection_init", "ping", "pong"):
        return None if _optional(message.get("payload"), dict) else "`payload` must be an object"
    if kind not in ("subscribe", "complete"):
        return None  # the handler answers unknown types itself
    operation_id = message.get("id")
    if not isinstance(operation_id, str) or not 0 < len(operation_id) <= MAX_OPERATION_ID_LENGTH:
        return f"`id` must be a string of 1 to {MAX_OPERATION_ID_LENGTH} characters"
    if kind == "complete":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "`payload` must be an object"
    if not isinstance(payload.get("query"), str):
        return "`payload.query` must be a string"
    if not _optional(payload.get("variables"), dict):
        return "`payload.variables` must be an object"
    if not _optional(payload.get("operationName"), str):
        return "`payload.operationName` must be a string"
    if not _optional(payload.get("extensions"), dict):
        return "`payload.extensions` must be an object"
    return None


class CheckedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManyConnections as refused:
            # Raised by the app's on_ws_connect before any connection_ack.
            await self.websocket.close(code=CLOSE_TOO_MANY, reason=refused.reason)

    async def handle_message(self, message: Any) -> None:
        problem = message_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):
            error = GraphQLError(
                f"At most {limit} subscriptions per connection.",
                extensions={"code": TOO_MANY_SUBSCRIPTIONS},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)
