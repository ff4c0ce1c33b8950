"""Schema extensions: error masking with a request id (the limits live in __init__)."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from telemetry import current_request_id

logger = logging.getLogger("service360.errors")


def is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by our code that are not meant for clients.

    Parse, validation and coercion errors (no original error, or a
    GraphQLError such as our `PublicError`) are the client's to read.
    """
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = current_request_id()
        logger.error(
            "unexpected error in resolver",
            exc_info=error.original_error,
            extra={"path": error.path},
        )
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
